using System.Runtime.InteropServices;
using System.Security.Cryptography;
using VeilTun.Tests.Fakes;
using VeilTun.Udp;
using Xunit;
using static VeilTun.Tests.Udp.LinuxUdpSocketTests;
using NativeSocket = VeilTun.Interop.Socket;

namespace VeilTun.Tests.Udp;

/// <summary>
/// UDP_SEGMENT (GSO) sends and UDP_GRO receives of LinuxUdpSocket on the host's loopback (no root needed; one
/// namespace test needs root). Loopback never runs GRO itself and hands a GSO super-datagram to a GRO-enabled
/// socket whole, so a GRO receiver shows exactly how the sender grouped its datagrams into messages.
/// </summary>
public sealed class LinuxUdpSocketGsoTests
{
    // include/uapi/asm-generic/errno-base.h, errno.h
    private const int EIO = 5;
    private const int EAGAIN = 11;
    private const int EINVAL = 22;
    private const int EMSGSIZE = 90;

    [Fact]
    public void BindProbesGsoAndTurnsGroOnOnlyWhenAsked()
    {
        // This host's kernel (6.18) has both options; UDP_SEGMENT since 4.18, UDP_GRO since 5.0.
        using LinuxUdpSocket plain = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket gro = LinuxUdpSocket.Bind(0, enableGro: true);
        using LinuxUdpSocket v4 = LinuxUdpSocket.Bind(0, dualStack: false, enableGro: true);

        Assert.True(plain.GsoSupported);
        Assert.False(plain.GroEnabled);
        Assert.True(gro.GsoSupported);
        Assert.True(gro.GroEnabled);
        Assert.True(v4.GsoSupported);
        Assert.True(v4.GroEnabled);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("127.0.0.1", false)]
    public void SegmentedDatagramsArriveSeparatelyAtAPlainReceiver(string destination, bool dualStack)
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0, dualStack);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, dualStack);
        byte[][] datagrams = Datagrams([.. Enumerable.Repeat(1200, 40), 700]);

        SendResult result = sender.SendSegmented(AsMemory(datagrams), Endpoint(destination, receiver.Port), default, out int sent);

        Assert.Equal(SendResult.Ok, result);
        Assert.Equal(41, sent);
        Assert.True(sender.GsoSupported); // no fallback happened on loopback
        for (int i = 0; i < datagrams.Length; i++)
        {
            byte[] received = ReceiveOne(receiver, out NetEndpoint from, out _);
            Assert.True(datagrams[i].AsSpan().SequenceEqual(received), $"datagram {i} differs"); // split at 1200, in order
            Assert.Equal(Endpoint(destination, sender.Port), from);
        }

        Assert.Equal(-1, receiver.TryReceiveCoalesced(new byte[2048], out _, out _, out _)); // and nothing else
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("127.0.0.1", false)]
    public void WithGroTheReceiverGetsOneCoalescedRunThatSplitsBackIntoTheDatagrams(string destination, bool dualStack)
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0, dualStack);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, dualStack, enableGro: true);
        byte[][] datagrams = Datagrams([.. Enumerable.Repeat(1200, 40), 700]);

        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(datagrams), Endpoint(destination, receiver.Port), default, out _));

        var runs = ReceiveRuns(receiver, datagrams.Length);
        var run = Assert.Single(runs); // all 41 in one receive call
        Assert.Equal(1200, run.SegmentSize);
        Assert.Equal((40 * 1200) + 700, run.Data.Length);
        Assert.Equal(Endpoint(destination, sender.Port), run.From);
        Assert.Equal(Endpoint(destination, 0), run.Local.LocalAddress);
        AssertSameDatagrams(datagrams, Split(runs));
    }

    [Fact]
    public void ALongerDatagramStartsANewMessageAndAShorterOneEndsIt()
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, enableGro: true);
        byte[][] datagrams = Datagrams([1000, 1000, 1000, 1200, 1200, 500, 500, 800, 1200, 700, 1200]);

        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(datagrams), Endpoint("::1", receiver.Port), default, out int sent));

        Assert.Equal(datagrams.Length, sent);
        var runs = ReceiveRuns(receiver, datagrams.Length);
        // [1000 x3] | 1200 is longer: [1200, 1200, 500] (the short one ends it) | [500] (800 is longer) | [800] |
        // [1200, 700] | [1200]. Lone datagrams carry no UDP_SEGMENT, so no GRO cmsg: segment size = length.
        (int Length, int SegmentSize)[] expected = [(3000, 1000), (2900, 1200), (500, 500), (800, 800), (1900, 1200), (1200, 1200)];
        Assert.Equal(expected, runs.Select(r => (r.Data.Length, r.SegmentSize)));
        AssertSameDatagrams(datagrams, Split(runs));
    }

    [Fact]
    public void MoreThan64DatagramsAreSplitIntoMessagesOf64()
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, enableGro: true);
        byte[][] datagrams = Datagrams([.. Enumerable.Repeat(100, 150)]);

        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(datagrams), Endpoint("127.0.0.1", receiver.Port), default, out int sent));

        Assert.Equal(150, sent);
        var runs = ReceiveRuns(receiver, datagrams.Length);
        (int Length, int SegmentSize)[] expected = [(6400, 100), (6400, 100), (2200, 100)];
        Assert.Equal(expected, runs.Select(r => (r.Data.Length, r.SegmentSize)));
        AssertSameDatagrams(datagrams, Split(runs));
    }

    [Fact]
    public void MoreThan65507BytesAreSplitAtTheByteLimit()
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, enableGro: true);
        // 46 x 1420 = 65320 <= 65507 < 47 x 1420 = 66740 (one more and the kernel says EMSGSIZE).
        byte[][] datagrams = Datagrams([.. Enumerable.Repeat(1420, 60)]);

        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(datagrams), Endpoint("::1", receiver.Port), default, out int sent));

        Assert.Equal(60, sent);
        var runs = ReceiveRuns(receiver, datagrams.Length);
        (int Length, int SegmentSize)[] expected = [(46 * 1420, 1420), (14 * 1420, 1420)];
        Assert.Equal(expected, runs.Select(r => (r.Data.Length, r.SegmentSize)));
        AssertSameDatagrams(datagrams, Split(runs));
        Assert.True(sender.GsoSupported);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void APinnedSourceAppliesToEverySegment(bool receiverGro)
    {
        // All of 127.0.0.0/8 is local on lo, so 127.0.0.3 is a second local address without any setup.
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, enableGro: receiverGro);
        byte[][] datagrams = Datagrams([.. Enumerable.Repeat(1200, 40), 700]);
        var source = new PacketInfo(Endpoint("127.0.0.3", 0), 0);

        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(datagrams), Endpoint("127.0.0.1", receiver.Port), source, out _));

        var runs = ReceiveRuns(receiver, datagrams.Length);
        AssertSameDatagrams(datagrams, Split(runs));
        Assert.All(runs, r => Assert.Equal(Endpoint("127.0.0.3", sender.Port), r.From)); // 127.0.0.1 without the pin
        Assert.Equal(receiverGro ? 1 : 41, runs.Count);
    }

    [Theory]
    [InlineData("192.0.2.99", "127.0.0.1")]
    [InlineData("2001:db8::99", "::1")]
    public void ANonLocalSourceSendsNothingAndIsReportedAsSourceInvalid(string source, string destination)
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, enableGro: true);
        byte[][] datagrams = Datagrams([.. Enumerable.Repeat(1200, 10)]);
        var stale = new PacketInfo(Endpoint(source, 0), 0);

        SendResult result = sender.SendSegmented(AsMemory(datagrams), Endpoint(destination, receiver.Port), stale, out int sent);

        Assert.Equal(SendResult.SourceInvalid, result);
        Assert.Equal(0, sent);
        Assert.True(sender.GsoSupported); // a routing verdict on the source is no reason to give up GSO

        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(datagrams), Endpoint(destination, receiver.Port), default, out sent));
        Assert.Equal(10, sent);
        AssertSameDatagrams(datagrams, Split(ReceiveRuns(receiver, datagrams.Length)));
    }

    [Fact]
    public void WithoutGsoEveryDatagramGoesOutAlone()
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, enableGro: true);
        sender.GsoSupported = false; // as after an EIO
        byte[][] datagrams = Datagrams([.. Enumerable.Repeat(1200, 40), 700]);

        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(datagrams), Endpoint("127.0.0.1", receiver.Port), default, out int sent));

        Assert.Equal(41, sent);
        var runs = ReceiveRuns(receiver, datagrams.Length);
        Assert.Equal(41, runs.Count); // nothing to coalesce: each arrived as a plain datagram
        Assert.All(runs, r => Assert.Equal(r.Data.Length, r.SegmentSize));
        AssertSameDatagrams(datagrams, Split(runs));
    }

    [Theory]
    [InlineData(EIO, 2, nameof(LinuxUdpSocket.SegmentedSendFailure.DisableGso))]
    [InlineData(EIO, 64, nameof(LinuxUdpSocket.SegmentedSendFailure.DisableGso))]
    [InlineData(EIO, 1, nameof(LinuxUdpSocket.SegmentedSendFailure.None))] // no UDP_SEGMENT in a lone datagram's message
    [InlineData(EMSGSIZE, 2, nameof(LinuxUdpSocket.SegmentedSendFailure.SendUnsegmented))]
    [InlineData(EINVAL, 40, nameof(LinuxUdpSocket.SegmentedSendFailure.SendUnsegmented))]
    [InlineData(EMSGSIZE, 1, nameof(LinuxUdpSocket.SegmentedSendFailure.None))]
    [InlineData(EAGAIN, 40, nameof(LinuxUdpSocket.SegmentedSendFailure.None))]
    public void SegmentedSendErrorsAreClassifiedAsWireGuardGoDoes(int errno, int datagrams, string expected)
    {
        // conn/errors_linux.go: EIO means the egress device cannot do UDP GSO; EINVAL / EMSGSIZE (segment above the
        // path MTU) only concern the message that failed.
        Assert.Equal(expected, LinuxUdpSocket.ClassifySegmentedSendError(errno, datagrams).ToString());
    }

    [Theory]
    [InlineData(new[] { 100, 100, 100 }, 3)]
    [InlineData(new[] { 100, 100, 50, 100 }, 3)] // a shorter datagram joins and ends the message
    [InlineData(new[] { 100, 101 }, 1)] // a longer one starts the next
    [InlineData(new[] { 100, 0, 100 }, 1)] // an empty datagram is no segment
    [InlineData(new[] { 0, 0 }, 1)]
    [InlineData(new[] { 65507, 1 }, 1)] // the byte limit
    [InlineData(new[] { 65508, 65508 }, 1)] // too long for any message: it fails alone
    [InlineData(new int[0], 0)]
    public void SegmentGroupsFollowTheKernelsRules(int[] lengths, int expected)
    {
        ReadOnlyMemory<byte>[] datagrams = lengths.Select(n => (ReadOnlyMemory<byte>)new byte[n]).ToArray();

        Assert.Equal(expected, LinuxUdpSocket.SegmentGroupLength(datagrams));
    }

    [Fact]
    public void ACoalescedRunLongerThanTheBufferKeepsItsWholeSegments()
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, enableGro: true);
        byte[][] datagrams = Datagrams([.. Enumerable.Repeat(1200, 40), 700]);
        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(datagrams), Endpoint("127.0.0.1", receiver.Port), default, out _));

        byte[] buffer = new byte[10_000];
        int n = ReceiveCoalescedGuarded(receiver, buffer, out _, out _, out int segmentSize);

        Assert.Equal(1200, segmentSize);
        Assert.Equal(8 * 1200, n); // 8 whole segments fit in 10000 bytes; the partial ninth is not handed out
        AssertSameDatagrams(datagrams[..8], Split([new Run(buffer[..n], 1200, default, default)]));
        Assert.Equal(-1, receiver.TryReceiveCoalesced(new byte[65535], out _, out _, out _)); // the kernel dropped the tail
    }

    [Fact]
    public void TryReceiveCoalescedReturnsMinusOneWhenNothingIsQueued()
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0, enableGro: true);
        byte[] buffer = new byte[LinuxUdpSocket.MaxCoalescedLength];

        Assert.Equal(-1, receiver.TryReceiveCoalesced(buffer, out _, out _, out _));

        Assert.Equal(SendResult.Ok, sender.Send(new byte[300], Endpoint("::1", receiver.Port), default));
        Assert.Equal(300, receiver.TryReceiveCoalesced(buffer, out NetEndpoint from, out _, out int segmentSize));
        Assert.Equal(300, segmentSize);
        Assert.Equal(Endpoint("::1", sender.Port), from);
        Assert.Equal(-1, receiver.TryReceiveCoalesced(buffer, out _, out _, out _));
    }

    [Fact]
    public async Task CloseWakesABlockedCoalescedReceiverWhichReturnsZero()
    {
        LinuxUdpSocket socket = LinuxUdpSocket.Bind(0, enableGro: true);
        Task<int> receiver = BlockingCall.StartAndWaitUntilBlocked(
            () => socket.ReceiveCoalesced(new byte[LinuxUdpSocket.MaxCoalescedLength], out _, out _, out _));

        socket.Close();

        Assert.Equal(0, await receiver.WaitAsync(BlockingCall.HangGuard)); // TimeoutException if never woken
        Assert.Equal(-1, socket.TryReceiveCoalesced(new byte[100], out _, out _, out _));
        Assert.Equal(SendResult.Error, socket.SendSegmented(AsMemory(Datagrams([10, 10])), Endpoint("127.0.0.1", 9), default, out int sent));
        Assert.Equal(0, sent);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SendSegmentedAllocatesNothing(bool prePinned)
    {
        using LinuxUdpSocket sender = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket receiver = LinuxUdpSocket.Bind(0); // never read: loopback drops what overflows it
        // Plain arrays are pinned with a GC handle per call, arrays made pinned (as PacketBuffer's) not at all;
        // neither allocates on the GC heap.
        ReadOnlyMemory<byte>[] datagrams = Enumerable.Range(0, 41)
            .Select(i => prePinned
                ? MemoryMarshal.CreateFromPinnedArray(GC.AllocateArray<byte>(i < 40 ? 1200 : 700, pinned: true), 0, i < 40 ? 1200 : 700)
                : (ReadOnlyMemory<byte>)new byte[i < 40 ? 1200 : 700])
            .ToArray();
        NetEndpoint to = Endpoint("127.0.0.1", receiver.Port);
        Assert.Equal(SendResult.Ok, sender.SendSegmented(datagrams, to, default, out _)); // warm up (JIT, stubs)

        long allocated = Allocations.InSteadyState(() =>
        {
            for (int i = 0; i < 100; i++) sender.SendSegmented(datagrams, to, default, out _);
        });
        Assert.Equal(0, allocated);
    }

    [RootFact]
    public void ASegmentAboveTheRouteMtuIsResentUnsegmentedAndGsoStaysOn()
    {
        // A namespace whose lo has MTU 1300: a 1400-byte segment plus headers exceeds it, the kernel refuses the
        // UDP_SEGMENT message (EMSGSIZE; it never fragments GSO segments), and the datagrams go out unsegmented,
        // IP-fragmented as a plain send would be.
        using NetnsThread ns = NetnsThread.Create();
        ns.Ip("link set dev lo up");
        ns.Ip("link set dev lo mtu 1300");
        ns.WaitForLocalAddress("127.0.0.1");
        using LinuxUdpSocket sender = ns.Invoke(() => LinuxUdpSocket.Bind(0));
        using LinuxUdpSocket receiver = ns.Invoke(() => LinuxUdpSocket.Bind(0, enableGro: true));
        byte[][] large = Datagrams([1400, 1400, 1400]);
        byte[][] small = Datagrams([1000, 1000, 1000]);

        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(large), Endpoint("127.0.0.1", receiver.Port), default, out int sent));
        Assert.Equal(3, sent);
        Assert.True(sender.GsoSupported);
        var runs = ReceiveRuns(receiver, large.Length);
        Assert.Equal(3, runs.Count); // reassembled one by one
        AssertSameDatagrams(large, Split(runs));

        Assert.Equal(SendResult.Ok, sender.SendSegmented(AsMemory(small), Endpoint("127.0.0.1", receiver.Port), default, out sent));
        Assert.Equal(3, sent);
        var run = Assert.Single(ReceiveRuns(receiver, small.Length)); // below the MTU GSO is used again
        Assert.Equal(1000, run.SegmentSize);
        AssertSameDatagrams(small, Split([run]));
    }

    private readonly record struct Run(byte[] Data, int SegmentSize, NetEndpoint From, PacketInfo Local);

    private static byte[][] Datagrams(int[] lengths) => lengths.Select(RandomNumberGenerator.GetBytes).ToArray();

    private static ReadOnlyMemory<byte>[] AsMemory(byte[][] datagrams) =>
        datagrams.Select(d => (ReadOnlyMemory<byte>)d).ToArray();

    /// <summary>Receives with ReceiveCoalesced until <paramref name="datagrams"/> datagrams have arrived.</summary>
    private static List<Run> ReceiveRuns(LinuxUdpSocket socket, int datagrams)
    {
        var runs = new List<Run>();
        int count = 0;
        byte[] buffer = new byte[LinuxUdpSocket.MaxCoalescedLength];
        while (count < datagrams)
        {
            int n = ReceiveCoalescedGuarded(socket, buffer, out NetEndpoint from, out PacketInfo local, out int segmentSize);
            runs.Add(new Run(buffer[..n], segmentSize, from, local));
            count += (n + segmentSize - 1) / segmentSize;
        }

        return runs;
    }

    /// <summary>Same count, same bytes, same order (SequenceEqual: xunit's nested-collection comparison is slow).</summary>
    private static void AssertSameDatagrams(byte[][] expected, byte[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(expected[i].AsSpan().SequenceEqual(actual[i]), $"datagram {i} differs: {expected[i].Length} bytes sent, {actual[i].Length} received");
        }
    }

    /// <summary>Cuts each run at its segment size, as a GRO receiver must.</summary>
    private static byte[][] Split(IEnumerable<Run> runs) =>
        runs.SelectMany(r => r.Data.Chunk(r.SegmentSize)).ToArray();

    /// <summary>ReceiveCoalesced with a hang guard: if nothing arrives the socket is closed and the test fails.</summary>
    private static int ReceiveCoalescedGuarded(LinuxUdpSocket socket, byte[] buffer, out NetEndpoint from, out PacketInfo local, out int segmentSize)
    {
        using var watchdog = new Timer(_ => socket.Close(), null, BlockingCall.HangGuard, Timeout.InfiniteTimeSpan);
        int n = socket.ReceiveCoalesced(buffer, out from, out local, out segmentSize);
        Assert.True(n > 0, "no datagram arrived");
        Assert.InRange(segmentSize, 1, n);
        return n;
    }
}
