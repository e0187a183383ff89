using System.Buffers.Binary;
using System.Net;
using VeilTun.Buffers;
using VeilTun.Daita;
using VeilTun.Noise;
using VeilTun.Udp;

namespace VeilTun.Fuzz;

/// <summary>
/// Datagrams into a configured <see cref="ProtocolEngine"/>. Two engines, A and B, with fixed keys, seeded
/// randomness and a fake clock, are peers of each other; the input is a script that makes real traffic (so
/// sessions, cookies and DAITA states exist) and feeds B (and A) real, mutated and made-up datagrams, optionally
/// with mac1/mac2 recomputed over the fuzzed bytes so they get past the mac check. Byte 0 configures: bit 0 DAITA
/// on A's peer, bit 1 DAITA on B's peer, bit 2 a preshared key, bit 3 B has no endpoint for A (learns it by
/// roaming), bit 4 B starts under load (cookies). Then up to 64 steps, each an opcode byte and its operands (see
/// <see cref="Step"/>). Bad input may only be counted drops: any exception, an internal-error drop, or a buffer
/// neither delivered, returned nor legitimately held fails.
/// </summary>
internal static class EngineTarget
{
    private static readonly byte[] s_keyA = Convert.FromHexString("a8d2b4aeb7b0bd2d2d4d3c85b6d7ff1e9bb9d84f2c1c8c8e6f37d6a2b4f2e145");
    private static readonly byte[] s_keyB = Convert.FromHexString("f0a6e6b1a3bb4b3b7e0c0b8e6d9a3a53e4c8b2e1f7c2a4f39c1d0e6b7a8d5c51");
    private static readonly byte[] s_psk = Convert.FromHexString("188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52");
    private static readonly NetEndpoint s_addressA = NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.1:51820"));
    private static readonly NetEndpoint s_addressB = NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.2:51821"));
    private static readonly NetEndpoint s_roamed = NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("[2001:db8::7]:4444"));
    private static readonly DaitaSettings s_daita = MakeDaita();

    private const int MaxSteps = 64;

    /// <summary>When set, <see cref="Run"/> reports what each script reached (deliveries, handshakes, drops).</summary>
    public static TextWriter? Trace { get; set; }

    public static void Run(byte[] input)
    {
        var r = new FuzzReader(input);
        byte config = r.Byte();
        var world = new World(config);
        int steps = 0;
        while (!r.IsEmpty && steps++ < MaxSteps) Step(world, ref r);
        world.Finish();
    }

    /// <summary>
    /// One step. Opcodes (mod 12): 0 A sends an IP packet to B (length byte); 1 B sends one to A; 2 deliver A's
    /// oldest datagram to B; 3 deliver B's oldest to A; 4 mutate A's oldest and deliver it to B; 5 the same from B to
    /// A; 6 a made-up datagram to B (type byte, length byte, bytes); 7 advance the clock (byte: below 128 tenths of a
    /// second, else tens of seconds) and tick both; 8 toggle B's load; 9 replay a datagram seen earlier to B; 10
    /// deliver everything both ways (bounded); 11 B sends a keepalive. Deliveries to B come from A's address, or
    /// from another one when the flags byte of a mutation says so (roaming).
    /// </summary>
    private static void Step(World w, ref FuzzReader r)
    {
        switch (r.Byte() % 12)
        {
            case 0:
                w.A.SendPacket(w.Packet(fromA: true, "192.0.2.1", "192.0.2.2", 20 + r.Byte() * 4), w.Now);
                break;
            case 1:
                w.B.SendPacket(w.Packet(fromA: false, "192.0.2.2", "192.0.2.1", 20 + r.Byte() * 4), w.Now);
                break;
            case 2:
                if (w.OutA.TryDequeue(out var a)) w.DeliverToB(a, s_addressA);
                break;
            case 3:
                if (w.OutB.TryDequeue(out var b)) w.DeliverToA(b);
                break;
            case 4:
                if (w.OutA.TryDequeue(out var ma)) MutateAndDeliver(w, ma, ref r, toB: true);
                break;
            case 5:
                if (w.OutB.TryDequeue(out var mb)) MutateAndDeliver(w, mb, ref r, toB: false);
                break;
            case 6:
                {
                    byte type = (byte)(1 + r.Byte() % 4);
                    int length = type switch
                    {
                        1 => Messages.InitiationSize,
                        2 => Messages.ResponseSize,
                        3 => Messages.CookieReplySize,
                        _ => Messages.TransportOverhead + r.Byte() * 4,
                    };
                    var datagram = new byte[length];
                    r.Bytes(length).CopyTo(datagram);
                    datagram[0] = type;
                    datagram[1] = datagram[2] = datagram[3] = 0;
                    MutateAndDeliver(w, datagram, ref r, toB: true);
                    break;
                }
            case 7:
                {
                    byte t = r.Byte();
                    w.Now += t < 128 ? TimeSpan.FromMilliseconds(100 * t) : TimeSpan.FromSeconds(10 * (t - 127));
                    w.A.Tick(w.Now);
                    w.B.Tick(w.Now);
                    break;
                }
            case 8:
                w.B.UnderLoad = !w.B.UnderLoad;
                break;
            case 9:
                if (w.Seen.Count > 0) w.DeliverToB(w.Seen[r.Byte() % w.Seen.Count], s_addressA);
                break;
            case 10:
                for (int i = 0; i < 64 && (w.OutA.Count > 0 || w.OutB.Count > 0); i++)
                {
                    if (w.OutA.TryDequeue(out var x)) w.DeliverToB(x, s_addressA);
                    if (w.OutB.TryDequeue(out var y)) w.DeliverToA(y);
                }
                break;
            default:
                if (w.B.TryGetPeer(w.A.PublicKey!.Value, out var peerOfB)) w.B.SendKeepalive(peerOfB, w.Now);
                break;
        }
    }

    /// <summary>
    /// Operands: a flags byte (bit 0 recompute the macs after mutating, bit 1 truncate to a length byte's worth,
    /// bit 2 deliver from another address), a count byte (mod 8) of (2-byte position, byte to XOR) mutations, and
    /// for bit 1 the length byte.
    /// </summary>
    private static void MutateAndDeliver(World w, byte[] datagram, ref FuzzReader r, bool toB)
    {
        byte flags = r.Byte();
        int count = r.Byte() % 8;
        var bytes = (byte[])datagram.Clone();
        for (int i = 0; i < count; i++)
        {
            int position = r.UInt16();
            byte value = r.Byte();
            if (bytes.Length > 0) bytes[position % bytes.Length] ^= value;
        }
        if ((flags & 2) != 0) bytes = bytes.AsSpan(0, Math.Min(bytes.Length, r.Byte())).ToArray();
        if ((flags & 1) != 0 && bytes.Length is Messages.InitiationSize or Messages.ResponseSize)
        {
            // mac1 (and mac2, while the sender holds a cookie) as the sending engine would write them.
            var sender = toB ? w.A : w.B;
            var receiver = toB ? w.B : w.A;
            if (sender.TryGetPeer(receiver.PublicKey!.Value, out var peer)) peer.Cookies.AddMacs(bytes, w.Now);
        }
        if (toB) w.DeliverToB(bytes, (flags & 4) != 0 ? s_roamed : s_addressA);
        else w.DeliverToA(bytes);
    }

    private static DaitaSettings MakeDaita()
    {
        // A real Mullvad machine (tests/VeilTun.Tests/Daita/MachineCodecTests.cs) and one that pads every 20 ms.
        const string mullvad = "02eNptjLsNwCAQQ++yQRZImTJlRIfYBDEJA7ERJQtQ0iC+dxSIJ1mWLcv5TsLH9wMmF4KLqwkRAawk2yPR00CHX3V3j1GziWvE09NBBWg9Fjk=";
        var on = new Transition[]?[Constants.EventNum];
        on[(int)Event.NormalSent] = [new Transition(1, 1.0f)];
        var loop = new Transition[]?[Constants.EventNum];
        loop[(int)Event.NormalSent] = [new Transition(1, 0.5f)];
        loop[(int)Event.PaddingSent] = [new Transition(1, 0.5f)];
        var pad = new Machine(1000, 0, 0, 0,
        [
            new State(null, null, null, on),
            new State(new MachineAction.SendPadding(false, false, Dist.Uniform(20_000, 20_000), null), null, null, loop),
        ]);
        string padString = MachineCodec.Encode(pad);
        if (!DaitaSettings.TryFromStrings([mullvad, padString], out var settings, out var error))
            throw new InvalidOperationException("DAITA machines: " + error);
        return settings with { MaxDecoyFrac = 0.5, MaxDelayFrac = 0.5, MaxDelayedPackets = 32, MinDelayCapacity = 4 };
    }

    /// <summary>The two engines, their wire queues, the clock, and what was seen on the wire.</summary>
    private sealed class World
    {
        private readonly Node _nodeA, _nodeB;

        public World(byte config)
        {
            Clock = new ManualClock();
            _nodeA = new Node(this, s_addressA);
            _nodeB = new Node(this, s_addressB);
            A = new ProtocolEngine(_nodeA, _nodeA.Pool, new SeededRandom(1), Clock);
            B = new ProtocolEngine(_nodeB, _nodeB.Pool, new SeededRandom(2), Clock);
            A.SetPrivateKey(s_keyA);
            B.SetPrivateKey(s_keyB);
            var peerOfA = A.AddPeer(B.PublicKey!.Value)!;
            var peerOfB = B.AddPeer(A.PublicKey!.Value)!;
            A.SetEndpoint(peerOfA, s_addressB);
            if ((config & 8) == 0) B.SetEndpoint(peerOfB, s_addressA);
            if ((config & 4) != 0)
            {
                A.SetPresharedKey(peerOfA, s_psk);
                B.SetPresharedKey(peerOfB, s_psk);
            }
            Insert(A, peerOfA, "192.0.2.2", 32);
            Insert(A, peerOfA, "2001:db8:2::2", 128);
            Insert(B, peerOfB, "192.0.2.1", 32);
            Insert(B, peerOfB, "2001:db8:2::1", 128);
            A.DaitaRandom = new SeededDaitaRandom(3);
            B.DaitaRandom = new SeededDaitaRandom(4);
            if ((config & 1) != 0) Check(A.SetDaita(peerOfA, s_daita, Now, out var e1), e1);
            if ((config & 2) != 0) Check(B.SetDaita(peerOfB, s_daita, Now, out var e2), e2);
            A.Up(Now);
            B.Up(Now);
            B.UnderLoad = (config & 16) != 0;
        }

        public ManualClock Clock { get; }
        public TimeSpan Now { get => Clock.Now; set => Clock.Now = value; }
        public ProtocolEngine A { get; }
        public ProtocolEngine B { get; }
        public Queue<byte[]> OutA => _nodeA.Outbox;
        public Queue<byte[]> OutB => _nodeB.Outbox;
        public List<byte[]> Seen { get; } = new();

        private static void Check(bool ok, string? error) => FuzzTargets.Check(ok, "DAITA: " + error);

        private static void Insert(ProtocolEngine engine, Peer peer, string address, int prefix) =>
            engine.AllowedIps.Insert(IPAddress.Parse(address).GetAddressBytes(), prefix, peer);

        public PacketBuffer Packet(bool fromA, string source, string destination, int length)
        {
            var pool = fromA ? _nodeA.Pool : _nodeB.Pool;
            if (!pool.TryRent(out var buffer)) throw new FuzzCheckException($"pool exhausted ({pool.Outstanding} outstanding)");
            length = Math.Min(length, 1420);
            buffer.SetLength(length);
            var p = buffer.Data;
            p.Clear();
            p[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(p[2..], (ushort)length);
            p[8] = 64;
            p[9] = 17;
            IPAddress.Parse(source).TryWriteBytes(p.Slice(12, 4), out _);
            IPAddress.Parse(destination).TryWriteBytes(p.Slice(16, 4), out _);
            return buffer;
        }

        public void DeliverToB(byte[] datagram, NetEndpoint from)
        {
            if (Seen.Count < 32) Seen.Add(datagram);
            B.ReceiveDatagram(Rent(_nodeB.Pool, datagram), from, default, Now);
        }

        public void DeliverToA(byte[] datagram) => A.ReceiveDatagram(Rent(_nodeA.Pool, datagram), s_addressB, default, Now);

        private static PacketBuffer Rent(PacketPool pool, byte[] bytes)
        {
            if (!pool.TryRent(out var buffer)) throw new FuzzCheckException($"pool exhausted ({pool.Outstanding} outstanding)");
            buffer.SetLength(bytes.Length);
            bytes.CopyTo(buffer.Data);
            return buffer;
        }

        /// <summary>Checks what must hold after any script.</summary>
        public void Finish()
        {
            if (Trace is { } trace)
            {
                foreach (var (name, engine, node) in new[] { ("A", A, _nodeA), ("B", B, _nodeB) })
                {
                    var drops = Enum.GetValues<DropReason>().Where(d => engine.GetDropCount(d) > 0).Select(d => $"{d}={engine.GetDropCount(d)}");
                    var handshake = engine.Peers.FirstOrDefault()?.LastHandshake is null ? "no handshake" : "handshake";
                    trace.WriteLine($"  {name}: delivered {node.Delivered}, {handshake}, drops: {string.Join(" ", drops)}");
                }
            }
            foreach (var (name, engine, pool) in new[] { ("A", A, _nodeA.Pool), ("B", B, _nodeB.Pool) })
            {
                FuzzTargets.Check(engine.LastInternalError is null, $"{name}: internal error: {engine.LastInternalError}");
                FuzzTargets.Check(engine.GetDropCount(DropReason.Internal) == 0, $"{name}: internal-error drops");
                int held = engine.Peers.Sum(p => p.StagedCount + (p.Daita?.DelayedCount ?? 0));
                FuzzTargets.Check(pool.Outstanding == held, $"{name}: {pool.Outstanding} buffers outstanding, {held} held");
            }
            A.Down();
            B.Down();
            A.RemoveAllPeers();
            B.RemoveAllPeers();
        }
    }

    /// <summary>One engine's host: sends go to a queue, deliveries are checked and returned.</summary>
    private sealed class Node(World world, NetEndpoint address) : IProtocolOutput
    {
        public PacketPool Pool { get; } = new(2048, 256);
        public Queue<byte[]> Outbox { get; } = new();

        public int Delivered { get; private set; }

        public bool SendDatagram(PacketBuffer datagram, NetEndpoint destination, in PacketInfo source, Peer? peer)
        {
            if (Outbox.Count < 256) Outbox.Enqueue(datagram.Data.ToArray());
            datagram.Return();
            return true;
        }

        public void DeliverPacket(PacketBuffer packet, Peer peer)
        {
            // Only what the peer's allowed IPs permit may come out of the tunnel.
            FuzzTargets.Check(packet.Length >= 20, $"delivered {packet.Length} bytes");
            Delivered++;
            packet.Return();
        }

        public void OnEvent(in ProtocolEvent e)
        {
        }

        public override string ToString() => $"{address} {world.Now}";
    }

    private sealed class ManualClock : TimeProvider
    {
        public TimeSpan Now { get; set; } = TimeSpan.FromSeconds(1000);

        public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero) + Now;
    }

    private sealed class SeededRandom(int seed) : IRandomSource
    {
        private readonly Random _random = new(seed);

        public void Fill(Span<byte> destination) => _random.NextBytes(destination);
    }
}
