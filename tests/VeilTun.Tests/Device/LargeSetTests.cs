using System.Net;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Uapi;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>
/// A large <c>set</c> computes its new peers' static-static DH before it takes the tunnel lock (bench/churn.sh: 10,000
/// peers held the lock ~1.2 s, a data-path stall that grew the packet pools for good). The peers it adds must work
/// exactly as peers added one by one, also when the set installs the private key itself.
/// </summary>
public sealed class LargeSetTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static SetRequest WithFillers(byte[]? privateKey, int port, PublicKey peer, string allowed, NetEndpoint? endpoint, int fillers)
    {
        var request = new SetRequest { PrivateKey = privateKey, ListenPort = port };
        for (int i = 0; i < fillers; i++)
        {
            using var k = SecretKey.Generate();
            var filler = new PeerChange { PublicKey = k.DerivePublicKey().Bytes.ToArray() };
            filler.AllowedIps.Add(new AllowedIpChange(new IPAddress([10, 9, (byte)(i >> 8), (byte)i]), 32, false));
            request.Peers.Add(filler);
        }
        var real = new PeerChange { PublicKey = peer.Bytes.ToArray(), Endpoint = endpoint };
        real.AllowedIps.Add(new AllowedIpChange(IPAddress.Parse(allowed), 32, false));
        request.Peers.Insert(fillers / 2, real);
        return request;
    }

    [Theory]
    [InlineData(true)]  // the set installs the private key
    [InlineData(false)] // the key was set before
    public void PeersOfALargeSetHandshakeAndCarryTraffic(bool keyInTheSet)
    {
        var network = new InMemoryNetwork();
        var tunA = new InMemoryTun("lA");
        var tunB = new InMemoryTun("lB");
        using var ka = SecretKey.Generate();
        using var kb = SecretKey.Generate();
        Tunnel Make(InMemoryTun tun, string address) => new(new TunnelOptions
        {
            Tun = tun,
            BindUdp = port => network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(address), port))),
        });
        using var a = Make(tunA, "198.51.100.1");
        using var b = Make(tunB, "198.51.100.2");
        if (!keyInTheSet)
        {
            Assert.Null(a.Configure(new SetRequest { PrivateKey = ka.Bytes.ToArray() }));
            Assert.Null(b.Configure(new SetRequest { PrivateKey = kb.Bytes.ToArray() }));
        }
        var endpointB = NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("198.51.100.2"), 2));
        Assert.Null(a.Configure(WithFillers(keyInTheSet ? ka.Bytes.ToArray() : null, 1, kb.DerivePublicKey(), "192.0.2.2", endpointB, 300)));
        Assert.Null(b.Configure(WithFillers(keyInTheSet ? kb.Bytes.ToArray() : null, 2, ka.DerivePublicKey(), "192.0.2.1", null, 300)));
        Assert.Equal(301, a.TableCounts.Peers);
        a.Start();
        b.Start();

        Assert.True(tunA.Inject(TestPackets.Ipv4("192.0.2.1", "192.0.2.2", 100)));
        Assert.True(tunB.TryTake(out _, Wait), "no packet through the tunnel: the handshake failed");
        Assert.True(tunB.Inject(TestPackets.Ipv4("192.0.2.2", "192.0.2.1", 100)));
        Assert.True(tunA.TryTake(out _, Wait));
    }
}
