using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Timers;
using Xunit;

namespace VeilTun.Tests.Timers;

/// <summary>
/// The engine's timer queue (issue #16): due peers come out in deadline order, a tick touches only the due ones
/// however many peers there are, an earlier deadline moves a peer up, and removed peers leave it.
/// </summary>
public sealed class TimerQueueTests
{
    [Fact]
    public void PeersComeOutInDeadlineOrderAndOnlyWhenDue()
    {
        var queue = new TimerQueue();
        var random = new Random(16);
        var timers = Enumerable.Range(0, 1000).Select(_ => new PeerTimers { Queue = queue }).ToList();
        var keys = new Dictionary<PeerTimers, TimeSpan>();
        foreach (var t in timers)
        {
            var due = TimeSpan.FromMilliseconds(random.Next(1, 100_000));
            Assert.True(queue.Schedule(t, due));
            keys[t] = due;
        }
        // A later deadline leaves the key alone; an earlier one moves the peer up.
        Assert.False(queue.Schedule(timers[0], keys[timers[0]] + TimeSpan.FromSeconds(1)));
        Assert.True(queue.Schedule(timers[1], TimeSpan.FromTicks(5)));
        keys[timers[1]] = TimeSpan.FromTicks(5);
        // Removed ones never come out.
        for (int i = 2; i < 102; i++)
        {
            queue.Remove(timers[i]);
            keys.Remove(timers[i]);
            Assert.Equal(-1, timers[i].QueueIndex);
        }
        Assert.Equal(900, queue.Count);

        Assert.False(queue.TryTakeDue(TimeSpan.FromTicks(4), out _));
        var last = TimeSpan.Zero;
        int taken = 0;
        var half = TimeSpan.FromMilliseconds(50_000);
        while (queue.TryTakeDue(half, out var t))
        {
            Assert.True(keys.Remove(t, out var due), "taken twice, or removed");
            Assert.True(due >= last, $"{due} after {last}");
            Assert.True(due <= half);
            last = due;
            taken++;
        }
        Assert.All(keys.Values, due => Assert.True(due > half));
        Assert.Equal(keys.Count, queue.Count);
        Assert.Equal(900, taken + queue.Count);
        queue.Clear();
        Assert.Equal(0, queue.Count);
        Assert.Equal(TimeSpan.MaxValue, queue.NextDue);
    }

    [Fact]
    public void ATickAmongTenThousandPeersTouchesOnlyTheDueOnes()
    {
        var clock = new ManualClock();
        var node = new TestNode("hub", TestPair.AddressA, clock, 16);
        var peers = new List<Peer>();
        for (int i = 0; i < 10_000; i++)
            peers.Add(node.Engine.AddPeer(new PublicKey(TestNode.SecretKeyFromSeed(5000 + i).DerivePublicKey().Bytes))!);
        var t0 = clock.Now;
        node.Engine.Up(t0);
        node.Engine.Tick(t0); // nothing armed: nothing to visit
        Assert.Equal(0, node.Engine.TimerPeersVisited);
        Assert.Equal(0, node.Engine.TimerQueueCount);
        Assert.Equal(TimeSpan.MaxValue, node.Engine.NextDeadline);

        // Ten peers owe a passive keepalive, 10 s after data came in at t0 + i ms.
        for (int i = 0; i < 10; i++) peers[i * 1000].Timers.DataReceived(t0 + TimeSpan.FromMilliseconds(i));
        Assert.Equal(10, node.Engine.TimerQueueCount);
        Assert.Equal(t0 + Protocol.KeepaliveTimeout, node.Engine.NextDeadline);

        node.Engine.Tick(t0 + Protocol.KeepaliveTimeout + TimeSpan.FromMilliseconds(5.5));
        Assert.Equal(6, node.Engine.TimerPeersVisited); // 0..5 ms were due; 9,994 peers never looked at
        Assert.All(Enumerable.Range(0, 6), i => Assert.False(peers[i * 1000].Timers.IsSendKeepalivePending));
        Assert.All(Enumerable.Range(6, 4), i => Assert.True(peers[i * 1000].Timers.IsSendKeepalivePending));
        node.Engine.Tick(t0 + Protocol.KeepaliveTimeout + TimeSpan.FromMilliseconds(5.5));
        Assert.Equal(6, node.Engine.TimerPeersVisited); // nothing new was due

        node.Engine.Tick(t0 + Protocol.KeepaliveTimeout + TimeSpan.FromMilliseconds(10));
        Assert.Equal(10, node.Engine.TimerPeersVisited);
        Assert.Null(node.Engine.LastInternalError);
    }

    [Fact]
    public void RemovedPeersAndADownDeviceLeaveTheQueue()
    {
        var clock = new ManualClock();
        var node = new TestNode("hub", TestPair.AddressA, clock, 17);
        node.Engine.Up(clock.Now);
        for (int round = 0; round < 3; round++)
        {
            var peers = new List<Peer>();
            for (int i = 0; i < 2000; i++)
            {
                var peer = node.Engine.AddPeer(new PublicKey(TestNode.SecretKeyFromSeed(9000 + round * 2000 + i).DerivePublicKey().Bytes))!;
                peer.Timers.DataReceived(clock.Now);
                peer.Timers.SessionDerived(clock.Now);
                peers.Add(peer);
            }
            Assert.Equal(2000, node.Engine.TimerQueueCount);
            foreach (var peer in peers) node.Engine.RemovePeer(peer);
            Assert.Equal(0, node.Engine.TimerQueueCount);
            Assert.Equal(TimeSpan.MaxValue, node.Engine.NextDeadline);
            // A removed peer's late hooks do not put it back.
            peers[0].Timers.Enabled = true;
            peers[0].Timers.DataReceived(clock.Now);
            Assert.Equal(0, node.Engine.TimerQueueCount);
        }

        var kept = node.Engine.AddPeer(new PublicKey(TestNode.SecretKeyFromSeed(1).DerivePublicKey().Bytes))!;
        kept.Timers.DataReceived(clock.Now);
        Assert.Equal(1, node.Engine.TimerQueueCount);
        node.Engine.Down();
        Assert.Equal(0, node.Engine.TimerQueueCount);
        Assert.Equal(-1, kept.Timers.QueueIndex);
    }
}
