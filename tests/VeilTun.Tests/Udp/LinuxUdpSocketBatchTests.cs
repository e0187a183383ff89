using System.Security.Cryptography;
using VeilTun.Buffers;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Udp;
using Xunit;
using static VeilTun.Tests.Udp.LinuxUdpSocketTests;

namespace VeilTun.Tests.Udp;

/// <summary>Batch receive and sendmmsg paths of LinuxUdpSocket, on the host's loopback.</summary>
public sealed class LinuxUdpSocketBatchTests
{
    [Fact]
    public void ReceiveBatchReturnsQueuedDatagramsFromBothFamiliesWithTheirAddresses()
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0);
        byte[][] sent = Enumerable.Range(1, 5).Select(i => RandomNumberGenerator.GetBytes(20 * i)).ToArray();
        string[] destinations = ["127.0.0.1", "::1", "127.0.0.1", "::1", "127.0.0.1"];
        for (int i = 0; i < sent.Length; i++)
        {
            Assert.Equal(SendResult.Ok, a.Send(sent[i], Endpoint(destinations[i], b.Port), default));
        }

        var (received, calls) = ReceiveAll(b, sent.Length, slots: 8);

        Assert.Equal(sent, received.Select(r => r.Data));
        for (int i = 0; i < sent.Length; i++)
        {
            Assert.Equal(Endpoint(destinations[i], a.Port), received[i].From);
            Assert.Equal(Endpoint(destinations[i], 0), received[i].Local.LocalAddress);
        }

        // Everything was queued before the first call (loopback delivers inside sendmsg), so recvmmsg took
        // more than one datagram per call.
        Assert.True(calls < sent.Length, $"{calls} calls for {sent.Length} datagrams");
    }

    [Fact]
    public void AnEmptyDatagramIsSkippedAndCountedAsInvalidLength()
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0, enableGro: true);
        byte[] small = RandomNumberGenerator.GetBytes(32);
        var pools = new BufferPools(16, 16, 1420);
        Assert.Equal(SendResult.Ok, a.Send([], Endpoint("127.0.0.1", b.Port), default));
        Assert.Equal(SendResult.Ok, a.Send(small, Endpoint("127.0.0.1", b.Port), default));

        var (received, _) = ReceiveAll(b, 1, slots: 4, pools);

        Assert.Equal(small, Assert.Single(received).Data);
        Assert.Equal(1, pools.Drops[DropReason.InvalidLength]);
        Assert.Equal(0, pools.Outstanding);
    }

    [Theory]
    [InlineData("127.0.0.1", 10)]
    [InlineData("::1", 10)]
    [InlineData("127.0.0.1", LinuxUdpSocket.MaxBatchSize * 2 + 5)] // several sendmmsg calls
    public void SendBatchDeliversEveryDatagramInOrder(string destination, int count)
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0);
        byte[][] datagrams = Enumerable.Range(0, count).Select(i => RandomNumberGenerator.GetBytes(16 + i)).ToArray();
        ReadOnlyMemory<byte>[] batch = datagrams.Select(d => (ReadOnlyMemory<byte>)d).ToArray();

        Assert.Equal(SendResult.Ok, a.SendBatch(batch, Endpoint(destination, b.Port), default, out int sent));

        Assert.Equal(count, sent);
        var (received, _) = ReceiveAll(b, count, slots: LinuxUdpSocket.MaxBatchSize);
        Assert.Equal(datagrams, received.Select(r => r.Data));
        Assert.All(received, r => Assert.Equal(Endpoint(destination, a.Port), r.From));
    }

    [Fact]
    public void SendBatchWithAPinnedSourceSendsFromIt()
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0);
        ReadOnlyMemory<byte>[] batch = [new byte[] { 1 }, new byte[] { 2 }, new byte[] { 3 }];

        Assert.Equal(SendResult.Ok, a.SendBatch(batch, Endpoint("127.0.0.1", b.Port), new PacketInfo(Endpoint("127.0.0.4", 0), 0), out _));

        var (received, _) = ReceiveAll(b, 3, slots: 8);
        Assert.All(received, r => Assert.Equal(Endpoint("127.0.0.4", a.Port), r.From));
    }

    [Fact]
    public void SendBatchWithANonLocalSourceSendsNothingAndReportsSourceInvalid()
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        ReadOnlyMemory<byte>[] batch = [new byte[] { 1 }, new byte[] { 2 }];

        SendResult result = a.SendBatch(batch, Endpoint("127.0.0.1", 9), new PacketInfo(Endpoint("192.0.2.99", 0), 0), out int sent);

        Assert.Equal(SendResult.SourceInvalid, result);
        Assert.Equal(0, sent);
    }

    [Fact]
    public async Task CloseWakesABlockedBatchReceiverWhichReturnsZero()
    {
        LinuxUdpSocket socket = LinuxUdpSocket.Bind(0, enableGro: true);
        var pools = new BufferPools(16, 16, 1420);
        Task<int> receiver = BlockingCall.StartAndWaitUntilBlocked(() => socket.Receive(new DatagramBatch(4), 4, pools));

        socket.Close();

        Assert.Equal(0, await receiver.WaitAsync(BlockingCall.HangGuard)); // TimeoutException if never woken
        Assert.Equal(0, pools.Outstanding);
        SendResult afterClose = socket.SendBatch([new byte[1]], Endpoint("127.0.0.1", 9), default, out int sent);
        Assert.Equal(SendResult.Error, afterClose);
        Assert.Equal(0, sent);
    }

    // The production path: batches of pooled buffers, as the tunnel receives them.
    private static (List<(byte[] Data, NetEndpoint From, PacketInfo Local)> Received, int Calls) ReceiveAll(
        LinuxUdpSocket socket, int count, int slots, BufferPools? pools = null)
    {
        pools ??= new BufferPools(256, 256, 1420);
        var batch = new DatagramBatch(slots);
        var received = new List<(byte[], NetEndpoint, PacketInfo)>();
        int calls = 0;
        // Hang guard only: if datagrams are missing, Close() makes Receive return 0 and the test fails.
        using var watchdog = new Timer(_ => socket.Close(), null, BlockingCall.HangGuard, Timeout.InfiniteTimeSpan);
        while (received.Count < count)
        {
            int n = socket.Receive(batch, slots, pools);
            Assert.True(n > 0, $"only {received.Count} of {count} datagrams arrived");
            calls++;
            for (int i = 0; i < batch.Count; i++)
            {
                received.Add((batch.Buffers[i].Data.ToArray(), batch.Endpoints[i], batch.Locals[i]));
            }

            batch.ReturnAll();
        }

        return (received, calls);
    }
}
