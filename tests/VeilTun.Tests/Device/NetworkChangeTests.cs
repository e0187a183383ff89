using System.Net;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>
/// A phone's life through the library API (issue #16): the network changes under a running tunnel (a new address,
/// told through <see cref="Tunnel.NetworkChanged"/>), and the device sleeps through every timer (a clock jump with no
/// tick in between). Two tunnels on in-memory TUNs and an in-memory UDP network, real threads and crypto.
/// </summary>
public sealed class NetworkChangeTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly InMemoryNetwork _network = new();
    private readonly InMemoryTun _tunA = new("memA"), _tunB = new("memB");
    private readonly SecretKey _keyA = SecretKey.Generate(), _keyB = SecretKey.Generate();
    private readonly ManualClock _clock = new();
    private readonly Tunnel _a, _b;
    private readonly List<TunnelEvent> _eventsA = new(), _eventsB = new();
    private readonly List<int> _protectedPorts = new();
    private volatile string _addressA = "198.51.100.1"; // where A's next socket binds: its "network"

    public NetworkChangeTests()
    {
        _a = new Tunnel(new TunnelOptions
        {
            Tun = _tunA,
            BindUdp = port => _network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(_addressA), port))),
            ProtectSocket = udp => { lock (_protectedPorts) _protectedPorts.Add(udp.Port); },
            MonotonicClock = () => _clock.Now,
            WallClock = _clock,
        });
        _b = new Tunnel(new TunnelOptions
        {
            Tun = _tunB,
            BindUdp = port => _network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("198.51.100.2"), port))),
            MonotonicClock = () => _clock.Now,
            WallClock = _clock,
        });
        _a.EventRaised += e => { lock (_eventsA) _eventsA.Add(e); };
        _b.EventRaised += e => { lock (_eventsB) _eventsB.Add(e); };
        TunnelPeers.ConfigureAndStart(_a, _b, _keyA, _keyB);
    }

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
        Assert.Equal(0, _a.OutstandingBuffers);
        Assert.Equal(0, _b.OutstandingBuffers);
    }

    private int Count(List<TunnelEvent> events, TunnelEventKind kind)
    {
        lock (events) return events.Count(e => e.Kind == kind);
    }

    private void PingAToB(ushort sequence)
    {
        var ping = Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 7, sequence);
        Assert.True(_tunA.Inject(ping));
        Assert.True(_tunB.TryTake(out var received, Wait), $"ping {sequence} did not reach B");
        Assert.Equal(ping, received);
    }

    private void PingBToA(ushort sequence)
    {
        var ping = Icmp.EchoRequest("192.0.2.2", "192.0.2.1", 8, sequence);
        Assert.True(_tunB.Inject(ping));
        Assert.True(_tunA.TryTake(out var received, Wait), $"ping {sequence} did not reach A");
        Assert.Equal(ping, received);
    }

    [Fact]
    public void NetworkChangedRebindsProtectsAndThePeerLearnsTheNewAddressAtOnce()
    {
        PingAToB(1);
        Assert.Equal("198.51.100.1:51820", Assert.Single(_b.GetPeerStats()).Endpoint);
        Assert.True(SpinWait.SpinUntil(() => Count(_eventsA, TunnelEventKind.HandshakeCompleted) == 1, Wait));
        lock (_protectedPorts) Assert.Equal(new[] { 51820 }, _protectedPorts);

        // The phone moves to another network: its socket must be bound again, and B must hear from the new address
        // without any inner packet to carry it (no traffic, no persistent keepalive: before, B would keep sending to
        // the old address until A next sent data).
        _addressA = "198.51.100.9";
        _clock.Advance(TimeSpan.FromSeconds(1)); // a later TAI64N timestamp, as a real clock gives: B replays no initiation
        Assert.Equal(1, _a.NetworkChanged());
        Assert.Equal(51820, _a.ListenPort); // the same port, on the new socket
        lock (_protectedPorts) Assert.Equal(new[] { 51820, 51820 }, _protectedPorts);
        Assert.True(SpinWait.SpinUntil(() => _b.GetPeerStats()[0].Endpoint == "198.51.100.9:51820", Wait),
            "B did not learn A's new address: " + _b.GetPeerStats()[0].Endpoint);
        // The initiation sent at once completes a new handshake, and traffic flows both ways from the new address.
        Assert.True(SpinWait.SpinUntil(() => Count(_eventsA, TunnelEventKind.HandshakeCompleted) == 2, Wait));
        PingBToA(2);
        PingAToB(3);
        Assert.Equal("198.51.100.9:51820", _b.GetPeerStats()[0].Endpoint);
        Assert.Equal(0, Count(_eventsA, TunnelEventKind.Error));
    }

    [Fact]
    public void NetworkChangedKeepsTheSessionSoDataFlowsBeforeTheNewHandshake()
    {
        PingAToB(1);
        Assert.True(SpinWait.SpinUntil(() => Count(_eventsA, TunnelEventKind.HandshakeCompleted) == 1, Wait));
        // B answers nothing for a while: only the keepalive under the kept session can tell it where A is now.
        var initiations = 0;
        _network.Filter = (from, to, bytes) =>
        {
            if (bytes.Span[0] == 1) Interlocked.Increment(ref initiations); // handshake initiation
            return bytes.Span[0] != 1; // drop initiations: B can learn the address only from the keepalive
        };
        _addressA = "198.51.100.9";
        Assert.Equal(1, _a.NetworkChanged());
        Assert.True(SpinWait.SpinUntil(() => _b.GetPeerStats()[0].Endpoint == "198.51.100.9:51820", Wait),
            "B did not learn A's new address from the keepalive: " + _b.GetPeerStats()[0].Endpoint);
        PingBToA(2); // under the session made before the change
        Assert.Equal(1, Count(_eventsA, TunnelEventKind.HandshakeCompleted));
        Assert.True(Volatile.Read(ref initiations) >= 1);
    }

    [Fact]
    public void NetworkChangedWhileDownDoesNothingAndAfterDisposeThrows()
    {
        _a.SetUp(false);
        Assert.Equal(0, _a.NetworkChanged());
        lock (_protectedPorts) Assert.Equal(new[] { 51820 }, _protectedPorts); // no socket was bound
        _a.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _a.NetworkChanged());
    }

    [Fact]
    public void AfterASuspendLongerThanRejectAfterTimeTheFirstPacketStartsANewHandshake()
    {
        PingAToB(1);
        Assert.True(SpinWait.SpinUntil(() => Count(_eventsA, TunnelEventKind.HandshakeCompleted) == 1, Wait));
        // Let the timers settle under the valid session: B's keepalive (10 s after data it did not answer) reaches A,
        // which disarms A's new-handshake timer. Then no timer is due for minutes.
        var rxBefore = _a.GetPeerStats()[0].RxBytes;
        _clock.Advance(TimeSpan.FromSeconds(11));
        Assert.True(SpinWait.SpinUntil(() => _a.GetPeerStats()[0].RxBytes > rxBefore, Wait), "B's keepalive did not arrive");
        var before = _a.GetPeerStats()[0].LastHandshake;

        // Asleep for 200 s: the clock jumps with no tick in between. REJECT_AFTER_TIME (180 s) has passed, so the
        // session must not carry the next packet (B would drop it as KeypairExpired: its copy expired too).
        _clock.Advance(TimeSpan.FromSeconds(200));
        PingAToB(2); // reaches B only through a new session
        Assert.True(SpinWait.SpinUntil(() => Count(_eventsA, TunnelEventKind.HandshakeCompleted) == 2, Wait));
        Assert.True(_a.GetPeerStats()[0].LastHandshake > before);
        Assert.False(_b.GetDropCounts().ContainsKey(VeilTun.Noise.DropReason.KeypairExpired), "A sent under the expired session");
        Assert.False(_a.GetDropCounts().ContainsKey(VeilTun.Noise.DropReason.KeypairExpired));
    }
}
