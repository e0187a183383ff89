using System.Net;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Udp;

namespace VeilTun.Tests.Fakes;

/// <summary>A datagram on the fake wire, as an eavesdropper sees it.</summary>
internal sealed record WireDatagram(TestNode From, NetEndpoint Destination, byte[] Bytes)
{
    public MessageType Type => (MessageType)Bytes[0];
}

/// <summary>
/// One side of an in-memory tunnel: a <see cref="ProtocolEngine"/> with its own pool, recording everything it
/// sends, delivers and reports.
/// </summary>
internal sealed class TestNode : IProtocolOutput
{
    public TestNode(string name, NetEndpoint address, ManualClock clock, int seed, SecretKey? key = null)
    {
        Name = name;
        Address = address;
        Clock = clock;
        Pool = new PacketPool(2048, 1024);
        Key = key ?? SecretKeyFromSeed(seed);
        Engine = new ProtocolEngine(this, Pool, new SeededRandom(seed), clock);
        Engine.SetPrivateKey(Key.Bytes);
    }

    public static SecretKey SecretKeyFromSeed(int seed)
    {
        var b = new byte[32];
        new Random(seed).NextBytes(b);
        return new SecretKey(b);
    }

    public string Name { get; }
    public NetEndpoint Address { get; }
    public ManualClock Clock { get; }
    public PacketPool Pool { get; }
    public SecretKey Key { get; }
    public PublicKey PublicKey => Engine.PublicKey!.Value;
    public ProtocolEngine Engine { get; private set; }

    public List<WireDatagram> Outbox { get; } = new();
    public List<WireDatagram> AllSent { get; } = new();
    public List<byte[]> Delivered { get; } = new();
    public List<ProtocolEvent> Events { get; } = new();

    public int Count(MessageType type) => AllSent.Count(d => d.Type == type);

    public int CountEvents(ProtocolEventKind kind) => Events.Count(e => e.Kind == kind);

    public bool SendDatagram(PacketBuffer datagram, NetEndpoint destination, in PacketInfo source, Peer? peer)
    {
        var d = new WireDatagram(this, destination, datagram.Data.ToArray());
        datagram.Return();
        Outbox.Add(d);
        AllSent.Add(d);
        return true;
    }

    public void DeliverPacket(PacketBuffer packet, Peer peer)
    {
        Delivered.Add(packet.Data.ToArray());
        packet.Return();
    }

    public void OnEvent(in ProtocolEvent e) => Events.Add(e);

    /// <summary>Replaces the engine with a fresh one using the same key (a daemon restart).</summary>
    public void Restart(int seed)
    {
        Engine.Down(); // the old process's packets die with it
        Engine.RemoveAllPeers();
        Engine = new ProtocolEngine(this, Pool, new SeededRandom(seed), Clock);
        Engine.SetPrivateKey(Key.Bytes);
    }

    public void Send(byte[] ipPacket) => Engine.SendPacket(TestPackets.Rent(Pool, ipPacket), Clock.Now);

    public void Receive(byte[] datagram, NetEndpoint from) =>
        Engine.ReceiveDatagram(TestPackets.Rent(Pool, datagram), from, default, Clock.Now);

    public Peer Peer(PublicKey key) => Engine.TryGetPeer(key, out var p) ? p : throw new InvalidOperationException("no such peer");
}

/// <summary>
/// Two engines joined by a fake wire that can drop, duplicate, reorder and record. A is
/// 192.0.2.1 / 2001:db8:2::1 inside, B is .2 / ::2; outside they are 198.51.100.1:51820 and .2:51821.
/// </summary>
internal sealed class TestPair
{
    public static readonly NetEndpoint AddressA = NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.1:51820"));
    public static readonly NetEndpoint AddressB = NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.2:51821"));

    public TestPair(int seed = 1, bool bothEndpoints = true, byte[]? psk = null)
    {
        A = new TestNode("A", AddressA, Clock, seed * 2 + 1);
        B = new TestNode("B", AddressB, Clock, seed * 2 + 2);
        Configure(A, B, bothEndpoints ? AddressB : default, "192.0.2.2", "2001:db8:2::2", psk);
        Configure(B, A, bothEndpoints ? AddressA : default, "192.0.2.1", "2001:db8:2::1", psk);
        A.Engine.Up(Clock.Now);
        B.Engine.Up(Clock.Now);
    }

    public ManualClock Clock { get; } = new();
    public TestNode A { get; }
    public TestNode B { get; }

    /// <summary>Return false to drop a datagram on the wire.</summary>
    public Func<WireDatagram, bool> Filter { get; set; } = _ => true;

    public Peer PeerOfA => A.Peer(B.PublicKey);
    public Peer PeerOfB => B.Peer(A.PublicKey);

    public static void Configure(TestNode node, TestNode other, NetEndpoint endpoint, string v4, string v6, byte[]? psk)
    {
        var peer = node.Engine.AddPeer(other.PublicKey)!;
        if (!endpoint.IsNone) node.Engine.SetEndpoint(peer, endpoint);
        if (psk is not null) node.Engine.SetPresharedKey(peer, psk);
        node.Engine.AllowedIps.Insert(IPAddress.Parse(v4).GetAddressBytes(), 32, peer);
        node.Engine.AllowedIps.Insert(IPAddress.Parse(v6).GetAddressBytes(), 128, peer);
    }

    /// <summary>Moves datagrams across the wire until both outboxes are empty (bounded).</summary>
    public int Pump(int maxRounds = 100)
    {
        int moved = 0;
        for (int round = 0; round < maxRounds && (A.Outbox.Count > 0 || B.Outbox.Count > 0); round++)
        {
            foreach (var (from, to) in new[] { (A, B), (B, A) })
            {
                var batch = from.Outbox.ToArray();
                from.Outbox.Clear();
                foreach (var d in batch)
                {
                    if (!Filter(d)) continue;
                    moved++;
                    if (d.Destination == to.Address) to.Receive(d.Bytes, from.Address);
                }
            }
        }
        return moved;
    }

    /// <summary>
    /// Advances time by <paramref name="duration"/>, stopping at every timer deadline of either engine (and at
    /// least every <paramref name="step"/>), ticking both and pumping the wire each time. Stopping exactly at
    /// deadlines keeps the timers' jitter meaningful: two sides never fire "at once" unless their deadlines match.
    /// </summary>
    public void Run(TimeSpan duration, TimeSpan? step = null)
    {
        var end = Clock.Now + duration;
        while (true)
        {
            var next = A.Engine.NextDeadline < B.Engine.NextDeadline ? A.Engine.NextDeadline : B.Engine.NextDeadline;
            if (step is { } s && Clock.Now + s < next) next = Clock.Now + s;
            if (next > end) break;
            if (next <= Clock.Now) next = Clock.Now + TimeSpan.FromTicks(1);
            Clock.AdvanceTo(next);
            A.Engine.Tick(Clock.Now);
            B.Engine.Tick(Clock.Now);
            Pump();
        }
        Clock.AdvanceTo(end);
        A.Engine.Tick(Clock.Now);
        B.Engine.Tick(Clock.Now);
        Pump();
    }

    public byte[] PacketAtoB(int length = 84) => TestPackets.Ipv4("192.0.2.1", "192.0.2.2", length);
    public byte[] PacketBtoA(int length = 84) => TestPackets.Ipv4("192.0.2.2", "192.0.2.1", length);
}
