using System.Net;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>
/// Sticky sources follow route changes (kernel selftest netns.sh "a new, better route is picked up"): after a
/// route change the tunnel asks where each peer's datagrams would leave, and forgets a cached source whose
/// interface is no longer that one. Two in-memory tunnels; the route answers come from a fake.
/// </summary>
public sealed class StickySourceRouteTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly InMemoryNetwork _network = new();
    private readonly InMemoryTun _tunA = new("memA"), _tunB = new("memB");
    private readonly SecretKey _keyA = SecretKey.Generate(), _keyB = SecretKey.Generate();
    private readonly Tunnel _a, _b;

    public StickySourceRouteTests()
    {
        _a = new Tunnel(new TunnelOptions
        {
            Tun = _tunA,
            BindUdp = port => _network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("198.51.100.1"), port))),
        });
        _b = new Tunnel(new TunnelOptions
        {
            Tun = _tunB,
            BindUdp = port => _network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("198.51.100.2"), port))),
        });
        TunnelPeers.ConfigureAndStart(_a, _b, _keyA, _keyB);
    }

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
    }

    [Fact]
    public void ABetterRouteOutOfAnotherInterfaceDropsTheCachedSource()
    {
        Handshake();
        var routes = new FakeRoutes(2); // the in-memory network delivers on interface 1
        Assert.Equal(1, _a.RecheckSources(routes));
        Assert.Equal(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("198.51.100.2"), 51821)), routes.LastDestination);
        Assert.Equal("198.51.100.1", routes.LastSource.ToIPEndPoint().Address.ToString());
        Assert.Equal(0, _a.RecheckSources(routes)); // nothing cached any more: nothing asked, nothing dropped
    }

    [Fact]
    public void TheSameInterfaceOrAnUnreachableDestinationKeepsTheCachedSource()
    {
        Handshake();
        Assert.Equal(0, _a.RecheckSources(new FakeRoutes(1)));
        Assert.Equal(0, _a.RecheckSources(new FakeRoutes(-101))); // ENETUNREACH: sending will tell
        Assert.Equal(1, _a.RecheckSources(new FakeRoutes(-22))); // EINVAL: the source is not local any more
    }

    private void Handshake()
    {
        // A ping from A: A initiates, B answers, A learns the local address B's response came to.
        byte[] ping = VeilTun.Tests.Fakes.TestPackets.Ipv4("192.0.2.1", "192.0.2.2");
        DateTime deadline = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < deadline)
        {
            _tunA.Inject(ping);
            if (_tunB.TryTake(out _, TimeSpan.FromMilliseconds(200))) return;
        }

        Assert.Fail("no handshake");
    }

    private sealed class FakeRoutes(int answer) : IRouteOracle
    {
        public NetEndpoint LastDestination { get; private set; }

        public NetEndpoint LastSource { get; private set; }

        public int OutputInterface(NetEndpoint destination, NetEndpoint source, uint mark)
        {
            LastDestination = destination;
            LastSource = source;
            return answer;
        }
    }
}
