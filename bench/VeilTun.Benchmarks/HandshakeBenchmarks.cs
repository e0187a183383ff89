using BenchmarkDotNet.Attributes;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Udp;

namespace VeilTun.Benchmarks;

/// <summary>
/// Whole handshakes through two <see cref="ProtocolEngine"/>s: initiation created (A), consumed and answered (B),
/// response consumed (A). One operation = one complete handshake = 8 X25519 operations plus BLAKE2s/AEAD work.
/// Handshakes per second per side ≈ 2 / mean time (each side does about half the work).
/// </summary>
[MemoryDiagnoser]
public class HandshakeBenchmarks
{
    private sealed class Loopback : IProtocolOutput
    {
        public PacketBuffer? Last;

        public bool SendDatagram(PacketBuffer datagram, NetEndpoint destination, in PacketInfo source, Peer? peer)
        {
            Last?.Return();
            Last = datagram;
            return true;
        }

        public void DeliverPacket(PacketBuffer packet, Peer peer) => packet.Return();

        public void OnEvent(in ProtocolEvent e) { }
    }

    private readonly Loopback _outA = new(), _outB = new();
    private ProtocolEngine _a = null!, _b = null!;
    private Peer _peerOfA = null!;
    private TimeSpan _now = TimeSpan.FromSeconds(1);
    private readonly NetEndpoint _addrA = NetEndpoint.FromIPEndPoint(System.Net.IPEndPoint.Parse("198.51.100.1:1"));
    private readonly NetEndpoint _addrB = NetEndpoint.FromIPEndPoint(System.Net.IPEndPoint.Parse("198.51.100.2:2"));
    private readonly PacketPool _pool = new(2048, 64);

    [GlobalSetup]
    public void Setup()
    {
        _a = new ProtocolEngine(_outA, _pool);
        _b = new ProtocolEngine(_outB, _pool);
        using var ka = SecretKey.Generate();
        using var kb = SecretKey.Generate();
        _a.SetPrivateKey(ka.Bytes);
        _b.SetPrivateKey(kb.Bytes);
        _peerOfA = _a.AddPeer(_b.PublicKey!.Value)!;
        _a.SetEndpoint(_peerOfA, _addrB);
        _b.AddPeer(_a.PublicKey!.Value);
        _a.Up(_now);
        _b.Up(_now);
    }

    [Benchmark]
    public void FullHandshake()
    {
        // Past REKEY_TIMEOUT so the per-peer rate limit lets a new initiation out; past the 20 ms flood guard.
        _now += TimeSpan.FromSeconds(6);
        _a.SendHandshakeInitiation(_peerOfA, isRetry: false, _now);
        var init = _outA.Last!;
        _outA.Last = null;
        _b.ReceiveDatagram(init, _addrA, default, _now);
        var response = _outB.Last!;
        _outB.Last = null;
        _a.ReceiveDatagram(response, _addrB, default, _now);
        _outA.Last?.Return(); // the confirming keepalive
        _outA.Last = null;
    }
}
