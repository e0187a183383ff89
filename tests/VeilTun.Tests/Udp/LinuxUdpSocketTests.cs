using System.Net;
using System.Net.NetworkInformation;
using System.Security.Cryptography;
using VeilTun.Tests.Fakes;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Udp;

/// <summary>LinuxUdpSocket on the host's loopback interface; no root needed except for SO_MARK.</summary>
public sealed class LinuxUdpSocketTests
{
    private const int EADDRINUSE = 98; // include/uapi/asm-generic/errno.h

    /// <summary>lo's interface index as .NET's own NetworkInterface (if_nametoindex) reports it.</summary>
    private static readonly int s_loopbackIndex = NetworkInterface.GetAllNetworkInterfaces()
        .Single(i => i.NetworkInterfaceType == NetworkInterfaceType.Loopback)
        .GetIPProperties().GetIPv4Properties().Index;

    [Fact]
    public void BindingPortZeroPicksAFreePortWhichIsThenTaken()
    {
        using LinuxUdpSocket socket = LinuxUdpSocket.Bind(0);

        Assert.InRange(socket.Port, 1, 65535);
        IOException e = Assert.Throws<IOException>(() => LinuxUdpSocket.Bind(socket.Port));
        Assert.Equal(EADDRINUSE, e.HResult);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the GRO receive the Tunnel uses
    public void EmptyAndOversizedDatagramsAreSkippedAndCounted(bool coalesced)
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0, enableGro: coalesced);
        byte[] good = RandomNumberGenerator.GetBytes(32);
        var to = Endpoint("127.0.0.1", b.Port);
        Assert.Equal(SendResult.Ok, a.Send(ReadOnlySpan<byte>.Empty, to, default));
        Assert.Equal(SendResult.Ok, a.Send(new byte[300], to, default));
        Assert.Equal(SendResult.Ok, a.Send(good, to, default));

        var buffer = new byte[200];
        int n = coalesced ? b.ReceiveCoalesced(buffer, out _, out _, out _) : b.Receive(buffer, out _, out _);

        Assert.Equal(good, buffer.AsSpan(0, n).ToArray());
        Assert.Equal(2, b.DiscardedDatagrams);
    }

    [Fact]
    public void FileDescriptorIsTheSocketUntilClosed()
    {
        var socket = LinuxUdpSocket.Bind(0);
        int fd = socket.FileDescriptor;

        Assert.True(fd >= 0);
        Assert.StartsWith("socket:[", new FileInfo($"/proc/self/fd/{fd}").LinkTarget);
        socket.Close();
        Assert.Equal(-1, socket.FileDescriptor);
    }

    [Fact]
    public void DualStackIsTheDefaultAndCanBeTurnedOff()
    {
        using LinuxUdpSocket dual = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket v4 = LinuxUdpSocket.Bind(0, dualStack: false);

        Assert.True(dual.IsDualStack);
        Assert.Equal(System.Net.Sockets.AddressFamily.InterNetworkV6, dual.AddressFamily);
        Assert.False(v4.IsDualStack);
        Assert.Equal(System.Net.Sockets.AddressFamily.InterNetwork, v4.AddressFamily);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AnIpv4DatagramArrivesWithItsSenderAndTheLocalAddressAndInterface(bool dualStack)
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0, dualStack);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0, dualStack);
        byte[] payload = RandomNumberGenerator.GetBytes(148);

        Assert.Equal(SendResult.Ok, a.Send(payload, Endpoint("127.0.0.1", b.Port), default));

        byte[] received = ReceiveOne(b, out NetEndpoint from, out PacketInfo local);
        Assert.Equal(payload, received);
        Assert.Equal(Endpoint("127.0.0.1", a.Port), from); // unmapped even on the AF_INET6 socket
        Assert.True(from.IsIPv4);
        Assert.Equal(new PacketInfo(Endpoint("127.0.0.1", 0), s_loopbackIndex), local);
    }

    [Fact]
    public void AnIpv6DatagramArrivesWithItsSenderAndTheLocalAddressAndInterface()
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0);
        byte[] payload = RandomNumberGenerator.GetBytes(92);

        Assert.Equal(SendResult.Ok, a.Send(payload, Endpoint("::1", b.Port), default));

        byte[] received = ReceiveOne(b, out NetEndpoint from, out PacketInfo local);
        Assert.Equal(payload, received);
        Assert.Equal(Endpoint("::1", a.Port), from);
        Assert.Equal(new PacketInfo(Endpoint("::1", 0), s_loopbackIndex), local);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ReplyingWithTheReceivedPacketInfoSendsFromTheAddressTheRequestWentTo(bool dualStack)
    {
        // All of 127.0.0.0/8 is local on lo, so 127.0.0.3 is a second local address without any setup.
        using LinuxUdpSocket client = LinuxUdpSocket.Bind(0, dualStack);
        using LinuxUdpSocket server = LinuxUdpSocket.Bind(0, dualStack);
        Assert.Equal(SendResult.Ok, client.Send("ping"u8, Endpoint("127.0.0.3", server.Port), default));
        ReceiveOne(server, out NetEndpoint peer, out PacketInfo sticky);
        Assert.Equal(Endpoint("127.0.0.3", 0), sticky.LocalAddress);

        Assert.Equal(SendResult.Ok, server.Send("pong"u8, peer, sticky));

        byte[] reply = ReceiveOne(client, out NetEndpoint from, out _);
        Assert.Equal("pong"u8.ToArray(), reply);
        Assert.Equal(Endpoint("127.0.0.3", server.Port), from); // without the pinned source it would be 127.0.0.1
    }

    [Fact]
    public void WithoutAPinnedSourceTheKernelChoosesIt()
    {
        using LinuxUdpSocket client = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket server = LinuxUdpSocket.Bind(0);
        Assert.Equal(SendResult.Ok, client.Send("ping"u8, Endpoint("127.0.0.3", server.Port), default));
        ReceiveOne(server, out NetEndpoint peer, out _);

        Assert.Equal(SendResult.Ok, server.Send("pong"u8, peer, default));

        ReceiveOne(client, out NetEndpoint from, out _);
        Assert.Equal(Endpoint("127.0.0.1", server.Port), from);
    }

    [Theory]
    [InlineData("192.0.2.99", "127.0.0.1", true)]
    [InlineData("192.0.2.99", "127.0.0.1", false)]
    [InlineData("2001:db8::99", "::1", true)]
    public void ANonLocalSourceIsReportedAsSourceInvalidAndSendingWithoutItWorks(string source, string destination, bool dualStack)
    {
        // Routing rejects the source before anything leaves the host (IPv4: ip_route_output_key_hash_rcu,
        // ENETUNREACH; IPv6: ip6_datagram_send_ctl, EINVAL).
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0, dualStack);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0, dualStack);
        var stale = new PacketInfo(Endpoint(source, 0), 0);

        Assert.Equal(SendResult.SourceInvalid, a.Send("x"u8, Endpoint(destination, b.Port), stale));

        Assert.Equal(SendResult.Ok, a.Send("y"u8, Endpoint(destination, b.Port), default));
        Assert.Equal("y"u8.ToArray(), ReceiveOne(b, out _, out _));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void ASourceOnAVanishedInterfaceIsReportedAsSourceInvalid(string address)
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0);
        var stale = new PacketInfo(Endpoint(address, 0), int.MaxValue - 7); // no such ifindex: ENODEV

        Assert.Equal(SendResult.SourceInvalid, a.Send("x"u8, Endpoint(address, b.Port), stale));
    }

    [Fact]
    public void ASourceOfTheOtherFamilyIsReportedAsSourceInvalid()
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);

        Assert.Equal(SendResult.SourceInvalid, a.Send("x"u8, Endpoint("127.0.0.1", 9), new PacketInfo(Endpoint("::1", 0), 0)));
        Assert.Equal(SendResult.SourceInvalid, a.Send("x"u8, Endpoint("::1", 9), new PacketInfo(Endpoint("127.0.0.1", 0), 0)));
    }

    [Fact]
    public void AnIpv4OnlySocketReportsIpv6DestinationsUnreachable()
    {
        using LinuxUdpSocket v4 = LinuxUdpSocket.Bind(0, dualStack: false);

        Assert.Equal(SendResult.Unreachable, v4.Send("x"u8, Endpoint("::1", 9), default));
    }

    [Fact]
    public void ADatagramLongerThanTheBufferIsDiscardedAndTheNextOneDelivered()
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0);
        byte[] small = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(SendResult.Ok, a.Send(new byte[200], Endpoint("127.0.0.1", b.Port), default));
        Assert.Equal(SendResult.Ok, a.Send(small, Endpoint("127.0.0.1", b.Port), default));

        byte[] buffer = new byte[100];
        int n = ReceiveGuarded(b, buffer, out _, out _);

        Assert.Equal(small, buffer[..n]);
    }

    [Fact]
    public void AnEmptyDatagramIsDiscardedSoZeroAlwaysMeansClosed()
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0);
        Assert.Equal(SendResult.Ok, a.Send(ReadOnlySpan<byte>.Empty, Endpoint("::1", b.Port), default));
        Assert.Equal(SendResult.Ok, a.Send("z"u8, Endpoint("::1", b.Port), default));

        Assert.Equal("z"u8.ToArray(), ReceiveOne(b, out _, out _));
    }

    [Fact]
    public async Task CloseWakesABlockedReceiverWhichReturnsZero()
    {
        LinuxUdpSocket socket = LinuxUdpSocket.Bind(0);
        Task<int> receiver = BlockingCall.StartAndWaitUntilBlocked(() => socket.Receive(new byte[1500], out _, out _));

        socket.Close();

        Assert.Equal(0, await receiver.WaitAsync(BlockingCall.HangGuard)); // TimeoutException if never woken
        Assert.Equal(0, socket.Receive(new byte[1500], out NetEndpoint from, out PacketInfo local));
        Assert.True(from.IsNone);
        Assert.True(local.IsNone);
        Assert.Equal(SendResult.Error, socket.Send("x"u8, Endpoint("127.0.0.1", 9), default));
        socket.Dispose(); // idempotent
    }

    [Fact]
    public async Task ManyThreadsMaySendAndReceiveAtOnce()
    {
        const int Senders = 4, PerSender = 200;
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0);
        // At most 64 datagrams in flight: far below any receive buffer, so none can be dropped however the
        // host's rmem limits are set, while the 4 senders still race each other on one socket.
        using var inFlight = new SemaphoreSlim(64);
        var counts = new int[Senders];
        var receiver = Task.Factory.StartNew(
            () =>
            {
                byte[] buffer = new byte[64];
                for (int i = 0; i < Senders * PerSender; i++)
                {
                    int n = ReceiveGuarded(b, buffer, out _, out _);
                    inFlight.Release();
                    counts[buffer[0]]++;
                    Assert.Equal(8, n);
                }
            },
            TaskCreationOptions.LongRunning);

        Parallel.For(0, Senders, new ParallelOptions { MaxDegreeOfParallelism = Senders }, s =>
        {
            byte[] datagram = new byte[8];
            datagram[0] = (byte)s;
            for (int i = 0; i < PerSender; i++)
            {
                Assert.True(inFlight.Wait(BlockingCall.HangGuard), "the receiver stopped draining");
                Assert.Equal(SendResult.Ok, a.Send(datagram, Endpoint(s % 2 == 0 ? "127.0.0.1" : "::1", b.Port), default));
            }
        });

        await receiver;
        Assert.All(counts, c => Assert.Equal(PerSender, c));
    }

    [RootFact]
    public void FwmarkIsSetAndCleared()
    {
        using LinuxUdpSocket socket = LinuxUdpSocket.Bind(0);

        socket.SetFwmark(0x51820);
        Assert.Equal(0x51820u, socket.ReadFwmark());
        socket.SetFwmark(0);
        Assert.Equal(0u, socket.ReadFwmark());
    }

    internal static NetEndpoint Endpoint(string address, int port) =>
        NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(address), port));

    internal static byte[] ReceiveOne(LinuxUdpSocket socket, out NetEndpoint from, out PacketInfo local)
    {
        byte[] buffer = new byte[65535];
        int n = ReceiveGuarded(socket, buffer, out from, out local);
        return buffer[..n];
    }

    /// <summary>Receive with a hang guard: if nothing arrives the socket is closed, Receive returns 0 and we fail.</summary>
    internal static int ReceiveGuarded(LinuxUdpSocket socket, byte[] buffer, out NetEndpoint from, out PacketInfo local)
    {
        using var watchdog = new Timer(_ => socket.Close(), null, BlockingCall.HangGuard, Timeout.InfiniteTimeSpan);
        int n = socket.Receive(buffer, out from, out local);
        Assert.True(n > 0, "no datagram arrived");
        return n;
    }
}
