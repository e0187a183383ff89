using VeilTun.Tests.Fakes;
using VeilTun.Udp;
using Xunit;
using static VeilTun.Tests.Udp.LinuxUdpSocketTests;

namespace VeilTun.Tests.Udp;

/// <summary>
/// Sticky-source behaviour that needs addresses we may not add to the host: run in a namespace of this class's
/// own whose lo carries documentation addresses (RFC 5737 192.0.2.0/24, RFC 3849 2001:db8::/32).
/// </summary>
public sealed class LinuxUdpSocketNamespaceTests : IClassFixture<NetnsFixture>
{
    private readonly NetnsFixture _fixture;

    public LinuxUdpSocketNamespaceTests(NetnsFixture fixture) => _fixture = fixture;

    private NetnsThread Ns => _fixture.Namespace;

    [RootFact]
    public void StickySourceRoundTripOverIPv4() => AssertStickyRoundTrip("192.0.2.1", "192.0.2.2");

    [RootFact]
    public void StickySourceRoundTripOverIPv6() => AssertStickyRoundTrip("2001:db8::1", "2001:db8::2");

    [RootFact]
    public void ASourceAddressRemovedAfterCachingIsReportedAsSourceInvalid()
    {
        SetUpLoopback();
        Ns.Ip("addr replace 192.0.2.9/32 dev lo");
        Ns.Ip("addr replace 2001:db8::9/128 dev lo nodad");
        Ns.WaitForLocalAddress("192.0.2.9");
        Ns.WaitForLocalAddress("2001:db8::9");
        using LinuxUdpSocket client = Ns.Invoke(() => LinuxUdpSocket.Bind(0));
        using LinuxUdpSocket server = Ns.Invoke(() => LinuxUdpSocket.Bind(0));

        foreach (string address in new[] { "192.0.2.9", "2001:db8::9" })
        {
            // The client pins a stable source, so only the server's side of the path loses its address below.
            var clientSource = new PacketInfo(Endpoint(address.Contains(':') ? "2001:db8::1" : "192.0.2.1", 0), 0);
            Assert.Equal(SendResult.Ok, client.Send("hi"u8, Endpoint(address, server.Port), clientSource));
            ReceiveOne(server, out NetEndpoint peer, out PacketInfo sticky);
            Assert.Equal(Endpoint(address, 0), sticky.LocalAddress);

            Ns.Ip($"addr del {address}/{(address.Contains(':') ? 128 : 32)} dev lo"); // the peer roams away

            Assert.Equal(SendResult.SourceInvalid, server.Send("re"u8, peer, sticky));
            Assert.Equal(SendResult.Ok, server.Send("re"u8, peer, default)); // cache cleared: routed afresh
            Assert.Equal("re"u8.ToArray(), ReceiveOne(client, out _, out _));
        }
    }

    [RootFact]
    public void ADestinationWithoutARouteIsUnreachable()
    {
        SetUpLoopback(); // only lo's routes exist in this namespace, so nothing can leave it
        using LinuxUdpSocket socket = Ns.Invoke(() => LinuxUdpSocket.Bind(0));

        Assert.Equal(SendResult.Unreachable, socket.Send("x"u8, Endpoint("198.51.100.1", 51820), default));
        Assert.Equal(SendResult.Unreachable, socket.Send("x"u8, Endpoint("2001:db8:ffff::1", 51820), default));
    }

    private void AssertStickyRoundTrip(string serverAddress, string clientAddress)
    {
        SetUpLoopback();
        using LinuxUdpSocket client = Ns.Invoke(() => LinuxUdpSocket.Bind(0));
        using LinuxUdpSocket server = Ns.Invoke(() => LinuxUdpSocket.Bind(0));

        // The client pins its own source address too, so both directions exercise the pktinfo control message.
        var clientSource = new PacketInfo(Endpoint(clientAddress, 0), 0);
        Assert.Equal(SendResult.Ok, client.Send("ping"u8, Endpoint(serverAddress, server.Port), clientSource));

        ReceiveOne(server, out NetEndpoint peer, out PacketInfo sticky);
        Assert.Equal(Endpoint(clientAddress, client.Port), peer);
        Assert.Equal(Endpoint(serverAddress, 0), sticky.LocalAddress);
        Assert.Equal(1, sticky.InterfaceIndex); // lo is ifindex 1 in every namespace

        Assert.Equal(SendResult.Ok, server.Send("pong"u8, peer, sticky));
        byte[] reply = ReceiveOne(client, out NetEndpoint from, out PacketInfo clientLocal);
        Assert.Equal("pong"u8.ToArray(), reply);
        Assert.Equal(Endpoint(serverAddress, server.Port), from);
        Assert.Equal(Endpoint(clientAddress, 0), clientLocal.LocalAddress);
    }

    private void SetUpLoopback()
    {
        Ns.Ip("link set dev lo up");
        Ns.Ip("addr replace 192.0.2.1/32 dev lo");
        Ns.Ip("addr replace 192.0.2.2/32 dev lo");
        Ns.Ip("addr replace 2001:db8::1/128 dev lo nodad");
        Ns.Ip("addr replace 2001:db8::2/128 dev lo nodad");
        foreach (string address in new[] { "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2" })
        {
            Ns.WaitForLocalAddress(address);
        }
    }
}
