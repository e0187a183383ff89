using BenchmarkDotNet.Attributes;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Udp;

namespace VeilTun.Benchmarks;

/// <summary>
/// The whole per-packet protocol path, both ends, in one thread: a 1420-byte IP packet from A's "TUN" is
/// routed, padded, sealed in place and handed to the network; B opens it in place, checks replay and source and
/// delivers it. 1,000 packets per operation, so [MemoryDiagnoser]'s "Allocated" over the run shows whether
/// steady state allocates per packet (it should be 0 B).
/// </summary>
[MemoryDiagnoser]
public class DataPathBenchmarks
{
    private const int PacketsPerOp = 1000;

    private sealed class Wire : IProtocolOutput
    {
        public PacketBuffer? Sent;
        public int Delivered;

        public bool SendDatagram(PacketBuffer datagram, NetEndpoint destination, in PacketInfo source, Peer? peer)
        {
            Sent?.Return();
            Sent = datagram;
            return true;
        }

        public void DeliverPacket(PacketBuffer packet, Peer peer)
        {
            Delivered++;
            packet.Return();
        }

        public void OnEvent(in ProtocolEvent e) { }
    }

    private readonly Wire _outA = new(), _outB = new();
    private readonly PacketPool _pool = new(2048, 64);
    private ProtocolEngine _a = null!, _b = null!;
    private readonly TimeSpan _now = TimeSpan.FromSeconds(10);
    private readonly NetEndpoint _addrA = NetEndpoint.FromIPEndPoint(System.Net.IPEndPoint.Parse("198.51.100.1:1"));
    private readonly NetEndpoint _addrB = NetEndpoint.FromIPEndPoint(System.Net.IPEndPoint.Parse("198.51.100.2:2"));
    private readonly byte[] _packet = new byte[1420];

    [GlobalSetup]
    public void Setup()
    {
        _a = new ProtocolEngine(_outA, _pool);
        _b = new ProtocolEngine(_outB, _pool);
        using var ka = SecretKey.Generate();
        using var kb = SecretKey.Generate();
        _a.SetPrivateKey(ka.Bytes);
        _b.SetPrivateKey(kb.Bytes);
        var peerB = _a.AddPeer(_b.PublicKey!.Value)!;
        _a.SetEndpoint(peerB, _addrB);
        _a.AllowedIps.Insert(new byte[] { 192, 0, 2, 2 }, 32, peerB);
        var peerA = _b.AddPeer(_a.PublicKey!.Value)!;
        _b.AllowedIps.Insert(new byte[] { 192, 0, 2, 1 }, 32, peerA);
        _a.Up(_now);
        _b.Up(_now);
        _packet[0] = 0x45;
        _packet[2] = 1420 >> 8;
        _packet[3] = 1420 & 0xff;
        _packet[12] = 192; _packet[13] = 0; _packet[14] = 2; _packet[15] = 1;
        _packet[16] = 192; _packet[17] = 0; _packet[18] = 2; _packet[19] = 2;
        // Handshake: A's first packet triggers it; pump until data flows.
        for (int i = 0; i < 4; i++) OnePacket();
    }

    private void Pump(Wire from, ProtocolEngine to, NetEndpoint source)
    {
        var d = from.Sent;
        if (d is null) return;
        from.Sent = null;
        to.ReceiveDatagram(d, source, default, _now);
    }

    private void OnePacket()
    {
        _pool.TryRent(out var p);
        p.SetLength(_packet.Length);
        _packet.CopyTo(p.Data); // stands in for the TUN read into the buffer
        _a.SendPacket(p, _now);
        for (int i = 0; i < 3; i++)
        {
            Pump(_outA, _b, _addrA);
            Pump(_outB, _a, _addrB);
        }
    }

    [Benchmark(OperationsPerInvoke = PacketsPerOp)]
    public void SealRouteOpenDeliver1420()
    {
        for (int i = 0; i < PacketsPerOp; i++) OnePacket();
    }
}
