using System.Security.Cryptography;
using VeilTun.Tests.Fakes;
using VeilTun.Udp;
using Xunit;
using static VeilTun.Tests.Udp.LinuxUdpSocketTests;

namespace VeilTun.Tests.Udp;

/// <summary>recvmmsg/sendmmsg paths of LinuxUdpSocket, on the host's loopback.</summary>
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

        var (received, calls) = ReceiveAll(b, sent.Length, slots: 8, slotSize: 1500);

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
    public void ADatagramThatDoesNotFitItsSlotGetsLengthZero()
    {
        using LinuxUdpSocket a = LinuxUdpSocket.Bind(0);
        using LinuxUdpSocket b = LinuxUdpSocket.Bind(0);
        byte[] small = RandomNumberGenerator.GetBytes(32);
        Assert.Equal(SendResult.Ok, a.Send(new byte[200], Endpoint("127.0.0.1", b.Port), default));
        Assert.Equal(SendResult.Ok, a.Send(small, Endpoint("127.0.0.1", b.Port), default));

        var (received, _) = ReceiveAll(b, 2, slots: 4, slotSize: 100);

        Assert.Empty(received[0].Data);
        Assert.Equal(small, received[1].Data);
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
        var (received, _) = ReceiveAll(b, count, slots: LinuxUdpSocket.MaxBatchSize, slotSize: 512);
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

        var (received, _) = ReceiveAll(b, 3, slots: 8, slotSize: 64);
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
        LinuxUdpSocket socket = LinuxUdpSocket.Bind(0);
        Memory<byte>[] buffers = [new byte[1500], new byte[1500]];
        Task<int> receiver = BlockingCall.StartAndWaitUntilBlocked(
            () => socket.ReceiveBatch(buffers, new int[2], new NetEndpoint[2], new PacketInfo[2]));

        socket.Close();

        Assert.Equal(0, await receiver.WaitAsync(BlockingCall.HangGuard)); // TimeoutException if never woken
        SendResult afterClose = socket.SendBatch([new byte[1]], Endpoint("127.0.0.1", 9), default, out int sent);
        Assert.Equal(SendResult.Error, afterClose);
        Assert.Equal(0, sent);
    }

    private static (List<(byte[] Data, NetEndpoint From, PacketInfo Local)> Received, int Calls) ReceiveAll(
        LinuxUdpSocket socket, int count, int slots, int slotSize)
    {
        Memory<byte>[] buffers = Enumerable.Range(0, slots).Select(_ => (Memory<byte>)new byte[slotSize]).ToArray();
        int[] lengths = new int[slots];
        var from = new NetEndpoint[slots];
        var local = new PacketInfo[slots];
        var received = new List<(byte[], NetEndpoint, PacketInfo)>();
        int calls = 0;
        // Hang guard only: if datagrams are missing, Close() makes ReceiveBatch return 0 and the test fails.
        using var watchdog = new Timer(_ => socket.Close(), null, BlockingCall.HangGuard, Timeout.InfiniteTimeSpan);
        while (received.Count < count)
        {
            int n = socket.ReceiveBatch(buffers, lengths, from, local);
            Assert.True(n > 0, $"only {received.Count} of {count} datagrams arrived");
            calls++;
            for (int i = 0; i < n; i++)
            {
                received.Add((buffers[i][..lengths[i]].ToArray(), from[i], local[i]));
            }
        }

        return (received, calls);
    }
}
