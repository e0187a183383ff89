using System.Net;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>
/// Two tunnels built with the library API on in-memory TUNs and an in-memory UDP network: no root, real threads,
/// real crypto, configured with wg(8) config text as an app would.
/// </summary>
public sealed class InMemoryTunnelTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly InMemoryNetwork _network = new();
    private readonly InMemoryTun _tunA = new("memA"), _tunB = new("memB");
    private readonly SecretKey _keyA = SecretKey.Generate(), _keyB = SecretKey.Generate();
    private readonly Tunnel _a, _b;
    private readonly List<TunnelEvent> _eventsA = new();

    public InMemoryTunnelTests()
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
        _a.EventRaised += e => { lock (_eventsA) _eventsA.Add(e); };
        _a.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_keyA.Bytes)}
            ListenPort = 51820

            [Peer]
            PublicKey = {_keyB.DerivePublicKey()}
            AllowedIPs = 192.0.2.2/32, 2001:db8:2::2/128
            Endpoint = 198.51.100.2:51821
            """);
        _b.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_keyB.Bytes)}
            ListenPort = 51821

            [Peer]
            PublicKey = {_keyA.DerivePublicKey()}
            AllowedIPs = 192.0.2.1/32, 2001:db8:2::1/128
            """);
        _a.Start();
        _b.Start();
    }

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
        Assert.Equal(0, _a.OutstandingBuffers);
        Assert.Equal(0, _b.OutstandingBuffers);
    }

    [Fact]
    public void PacketsFlowBothWaysAndStatsAndEventsReportIt()
    {
        var ping = Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 7, 1);
        Assert.True(_tunA.Inject(ping));
        Assert.True(_tunB.TryTake(out var received, Wait));
        Assert.Equal(ping, received);

        var reply = Icmp.ReplyTo(received);
        Assert.True(_tunB.Inject(reply));
        Assert.True(_tunA.TryTake(out var back, Wait));
        Assert.Equal(reply, back);

        var statsA = Assert.Single(_a.GetPeerStats());
        Assert.Equal(_keyB.DerivePublicKey(), statsA.PublicKey);
        Assert.NotNull(statsA.LastHandshake);
        Assert.True(statsA.TxBytes >= 148 + 128);
        Assert.Equal("198.51.100.1:51820", Assert.Single(_b.GetPeerStats()).Endpoint); // learned by roaming
        SpinWait.SpinUntil(() => { lock (_eventsA) return _eventsA.Any(e => e.Kind == TunnelEventKind.HandshakeCompleted); }, Wait);
        lock (_eventsA) Assert.Contains(_eventsA, e => e.Kind == TunnelEventKind.HandshakeCompleted && e.Peer == _keyB.DerivePublicKey());
    }

    [Fact]
    public void SnapshotShowsConfigurationAsWgWould()
    {
        var snapshot = _a.GetSnapshot();
        Assert.Equal(51820, snapshot.ListenPort);
        var peer = Assert.Single(snapshot.Peers);
        Assert.Equal("198.51.100.2:51821", peer.Endpoint.ToString());
        Assert.Equal(new[] { "192.0.2.2/32", "2001:db8:2::2/128" }, peer.AllowedIps.Select(a => $"{a.Address}/{a.PrefixLength}"));
        var text = VeilTun.Uapi.WgConfigFile.Write(snapshot);
        Assert.Contains("ListenPort = 51820", text);
        var clamped = _keyA.Bytes.ToArray();
        X25519.ClampPrivateKey(clamped); // wg-go stores (and shows) the clamped key
        Assert.Contains($"PrivateKey = {Convert.ToBase64String(clamped)}", text);
    }

    [Fact]
    public void BadConfigurationSaysWhatAndWhereAndChangesNothing()
    {
        var before = VeilTun.Uapi.WgConfigFile.Write(_a.GetSnapshot());
        var ex = Assert.Throws<FormatException>(() => _a.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_keyA.Bytes)}
            ListenPort = 4000

            [Peer]
            PublicKey = {_keyB.DerivePublicKey()}
            AllowedIPs = 10.0.0.300/32
            """));
        Assert.Contains("line 7", ex.Message);
        Assert.Contains("10.0.0.300", ex.Message);
        Assert.Equal(before, VeilTun.Uapi.WgConfigFile.Write(_a.GetSnapshot()));
    }

    [Fact]
    public void ReconfiguringWhileRunningMovesTrafficToANewPort()
    {
        Assert.True(_tunA.Inject(Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 7, 1)));
        Assert.True(_tunB.TryTake(out _, Wait));
        // B moves to another port; A is told, as a network-change hook would.
        Assert.Null(_b.Configure(new VeilTun.Uapi.SetRequest { ListenPort = 52000 }));
        Assert.Equal(52000, _b.ListenPort);
        var setA = new VeilTun.Uapi.SetRequest();
        setA.Peers.Add(new VeilTun.Uapi.PeerChange
        {
            PublicKey = _keyB.DerivePublicKey().Bytes.ToArray(),
            Endpoint = NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.2:52000")),
        });
        Assert.Null(_a.Configure(setA));
        Assert.True(_tunA.Inject(Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 7, 2)));
        Assert.True(_tunB.TryTake(out var p, Wait));
        Assert.Equal(2, p[27]);
    }

    [Fact]
    public void ARejectedSetLeavesTheDeviceExactlyAsItWas()
    {
        // The listen port is taken: the whole request fails, including the peer removal before it.
        using var squatter = _network.Bind(NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.1:6000")));
        var request = new VeilTun.Uapi.SetRequest { ListenPort = 6000, ReplacePeers = true };
        var error = _a.Configure(request);
        Assert.NotNull(error);
        Assert.Equal(VeilTun.Uapi.UapiError.ErrnoPortInUse, error!.Value.Errno);
        Assert.Single(_a.GetPeerStats());
        Assert.Equal(51820, _a.ListenPort);
    }

    [Fact]
    public void GarbageDatagramsAreCountedNotFatal()
    {
        using var attacker = _network.Bind(NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.66:0")));
        var target = NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.1:51820"));
        var rnd = new Random(5);
        for (int i = 0; i < 500; i++)
        {
            var junk = new byte[rnd.Next(0, 300)];
            rnd.NextBytes(junk);
            if (junk.Length >= 4 && i % 2 == 0) { junk[0] = (byte)rnd.Next(1, 5); junk[1] = junk[2] = junk[3] = 0; }
            attacker.SendBytes(junk, target);
        }
        // Still works afterwards.
        Assert.True(_tunA.Inject(Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 7, 3)));
        Assert.True(_tunB.TryTake(out _, Wait));
        SpinWait.SpinUntil(() => _a.GetDropCounts().Values.Sum() >= 500, Wait);
        var drops = _a.GetDropCounts();
        Assert.True(drops.Values.Sum() >= 500, string.Join(", ", drops));
        Assert.False(drops.ContainsKey(DropReason.Internal));
    }
}
