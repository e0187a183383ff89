using System.Buffers.Binary;
using System.Net;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Udp;

namespace VeilTun.Cli;

/// <summary>
/// `veiltun demo --in-process`: two protocol engines in one process, joined by an in-memory wire, handshake and
/// exchange packets while every step is printed. No root, no TUN, no sockets.
/// </summary>
internal static class InProcessDemo
{
    private sealed class Side(string name, NetEndpoint address) : IProtocolOutput
    {
        public readonly string Name = name;
        public readonly NetEndpoint Address = address;
        public readonly PacketPool Pool = new(2048, 256);
        public readonly Queue<(byte[] Bytes, NetEndpoint To)> Wire = new();
        public ProtocolEngine Engine = null!;
        public int Delivered;

        public bool SendDatagram(PacketBuffer datagram, NetEndpoint destination, in PacketInfo source, Peer? peer)
        {
            var bytes = datagram.Data.ToArray();
            datagram.Return();
            Console.WriteLine($"  {Name} → wire  {Describe(bytes),-34} {bytes.Length,5} bytes to {destination}");
            Wire.Enqueue((bytes, destination));
            return true;
        }

        public void DeliverPacket(PacketBuffer packet, Peer peer)
        {
            var d = packet.Data;
            var src = new IPAddress(d.Slice(12, 4));
            var dst = new IPAddress(d.Slice(16, 4));
            Console.WriteLine($"  {Name} ← tun   IPv4 {src} → {dst}, {d.Length} bytes, decrypted from {peer}");
            Delivered++;
            packet.Return();
        }

        public void OnEvent(in ProtocolEvent e)
        {
            if (e.Kind is ProtocolEventKind.HandshakeCompleted or ProtocolEventKind.EndpointChanged
                or ProtocolEventKind.Dropped or ProtocolEventKind.CookieReplyReceived)
            {
                Console.WriteLine($"  {Name} event {e.Kind}{(e.Reason != DropReason.None ? " (" + e.Reason + ")" : "")} {e.Peer}");
            }
        }
    }

    private static string Describe(byte[] m) => (MessageType)m[0] switch
    {
        MessageType.HandshakeInitiation => "handshake initiation",
        MessageType.HandshakeResponse => "handshake response",
        MessageType.CookieReply => "cookie reply",
        MessageType.TransportData when m.Length == Messages.KeepaliveSize => "keepalive",
        MessageType.TransportData => $"transport data (counter {BinaryPrimitives.ReadUInt64LittleEndian(m.AsSpan(8))})",
        _ => "?",
    };

    public static int Run()
    {
        var now = TimeSpan.Zero;
        var a = new Side("alice", NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.1:51820")));
        var b = new Side("bob  ", NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.2:51821")));
        a.Engine = new ProtocolEngine(a, a.Pool);
        b.Engine = new ProtocolEngine(b, b.Pool);
        using var keyA = SecretKey.Generate();
        using var keyB = SecretKey.Generate();
        a.Engine.SetPrivateKey(keyA.Bytes);
        b.Engine.SetPrivateKey(keyB.Bytes);
        Console.WriteLine($"alice public key {a.Engine.PublicKey}, tunnel address 192.0.2.1");
        Console.WriteLine($"bob   public key {b.Engine.PublicKey}, tunnel address 192.0.2.2");

        var peerB = a.Engine.AddPeer(b.Engine.PublicKey!.Value)!;
        a.Engine.SetEndpoint(peerB, b.Address);
        a.Engine.AllowedIps.Insert(new byte[] { 192, 0, 2, 2 }, 32, peerB);
        var peerA = b.Engine.AddPeer(a.Engine.PublicKey!.Value)!;
        b.Engine.AllowedIps.Insert(new byte[] { 192, 0, 2, 1 }, 32, peerA);
        a.Engine.Up(now);
        b.Engine.Up(now);

        void Pump()
        {
            while (a.Wire.Count > 0 || b.Wire.Count > 0)
            {
                foreach (var (from, to) in new[] { (a, b), (b, a) })
                {
                    while (from.Wire.TryDequeue(out var d))
                    {
                        if (!from.Pool.TryRent(out var buf)) continue;
                        d.Bytes.CopyTo(buf.ReadArea());
                        buf.SetData(PacketBuffer.DefaultHeadroom, d.Bytes.Length);
                        to.Engine.ReceiveDatagram(buf, from.Address, default, now);
                    }
                }
            }
        }

        void Send(Side s, string src, string dst, int len)
        {
            if (!s.Pool.TryRent(out var p)) return;
            p.SetLength(len);
            var d = p.Data;
            d.Clear();
            d[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(d[2..], (ushort)len);
            d[9] = 1;
            IPAddress.Parse(src).TryWriteBytes(d.Slice(12, 4), out _);
            IPAddress.Parse(dst).TryWriteBytes(d.Slice(16, 4), out _);
            Console.WriteLine($"  {s.Name} ← app   IPv4 {src} → {dst}, {len} bytes");
            s.Engine.SendPacket(p, now);
        }

        Console.WriteLine("\n1. alice sends a packet to bob: it waits while the handshake runs");
        Send(a, "192.0.2.1", "192.0.2.2", 84);
        Pump();
        Console.WriteLine("\n2. bob answers");
        Send(b, "192.0.2.2", "192.0.2.1", 84);
        Pump();
        Console.WriteLine("\n3. alice got data and had nothing to say: after 10 s she sends a passive keepalive");
        now += TimeSpan.FromSeconds(11);
        a.Engine.Tick(now);
        b.Engine.Tick(now);
        Send(a, "192.0.2.1", "192.0.2.2", 1000);
        Pump();
        now += TimeSpan.FromSeconds(11);
        a.Engine.Tick(now);
        b.Engine.Tick(now);
        Pump();
        Console.WriteLine("\n4. two minutes later alice (the initiator) rekeys when she next sends");
        now += TimeSpan.FromSeconds(121);
        Send(a, "192.0.2.1", "192.0.2.2", 84);
        Pump();

        bool ok = a.Delivered == 1 && b.Delivered == 3;
        Console.WriteLine($"\nalice: tx {peerB.TxBytes} rx {peerB.RxBytes} bytes; bob: tx {peerA.TxBytes} rx {peerA.RxBytes} bytes");
        Console.WriteLine(ok ? "demo: OK" : "demo: FAILED");
        return ok ? 0 : 1;
    }
}
