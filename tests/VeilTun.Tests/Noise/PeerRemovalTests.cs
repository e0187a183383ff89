using System.Net;
using System.Runtime.CompilerServices;
using VeilTun.Daita;
using VeilTun.Noise;
using VeilTun.Tests.Daita;
using VeilTun.Tests.Fakes;
using Xunit;

namespace VeilTun.Tests.Noise;

/// <summary>
/// Peer churn (issue #14): a removed peer must leave nothing behind in any table — the peer table, the index
/// table, the allowed-IPs trie, the handshake rate limiter, its cookie and DAITA state, the packet pool — and a
/// table must not keep the size of its largest moment forever.
/// </summary>
public sealed class PeerRemovalTests
{
    // s0 —NormalSent→ s1: a delay of `microseconds` at once (as DaitaEngineTests' DelayOnce).
    private static Machine DelayFor(double microseconds)
    {
        var toS1 = new Transition[]?[Constants.EventNum];
        toS1[(int)Event.NormalSent] = [new Transition(1, 1.0f)];
        return new(0, 0, ulong.MaxValue, 0,
        [
            new State(null, null, null, toS1),
            new State(new MachineAction.BlockOutgoing(false, false, Dist.Uniform(0, 0), Dist.Uniform(microseconds, microseconds), null),
                null, null, new Transition[]?[Constants.EventNum]),
        ]);
    }

    [Fact]
    public void RemovingAPeerFreesEveryIndexItHeld()
    {
        var pair = new TestPair();
        pair.A.Send(pair.PacketAtoB());
        pair.Pump();
        // Rekey twice (REKEY_AFTER_TIME, traffic both ways) so previous, current and next keypairs all exist.
        for (int i = 0; i < 2; i++)
        {
            pair.Run(Protocol.RekeyAfterTime + TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
            pair.A.Send(pair.PacketAtoB());
            pair.B.Send(pair.PacketBtoA());
            pair.Pump();
        }
        // And a handshake in flight on A's side that B never answers.
        pair.Filter = _ => false;
        pair.Run(Protocol.RekeyAfterTime + TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        pair.A.Send(pair.PacketAtoB());
        pair.Pump();
        Assert.True(pair.A.Engine.Indices.Count >= 3, $"A holds {pair.A.Engine.Indices.Count} indices");
        Assert.True(pair.B.Engine.Indices.Count >= 2, $"B holds {pair.B.Engine.Indices.Count} indices");

        pair.A.Engine.RemovePeer(pair.PeerOfA);
        pair.B.Engine.RemovePeer(pair.PeerOfB);

        Assert.Equal(0, pair.A.Engine.Indices.Count);
        Assert.Equal(0, pair.B.Engine.Indices.Count);
        Assert.Equal(0, pair.A.Pool.Outstanding);
        Assert.Equal(0, pair.B.Pool.Outstanding);
    }

    [Fact]
    public void RemovingPeersEmptiesTheAllowedIpsTrieAndShrinksThePeerTable()
    {
        var node = new TestNode("hub", TestPair.AddressA, new ManualClock(), 7);
        var peers = new List<Peer>();
        for (int i = 0; i < 10_000; i++)
        {
            var peer = node.Engine.AddPeer(new VeilTun.Crypto.PublicKey(TestNode.SecretKeyFromSeed(1000 + i).DerivePublicKey().Bytes))!;
            node.Engine.AllowedIps.Insert([10, (byte)(i >> 16), (byte)(i >> 8), (byte)i], 32, peer);
            node.Engine.AllowedIps.Insert(IPAddress.Parse($"2001:db8:{i:x}::").GetAddressBytes(), 48, peer);
            peers.Add(peer);
        }
        int full = node.Engine.PeerCapacity;
        Assert.True(node.Engine.AllowedIps.NodeCount >= 20_000);

        foreach (var peer in peers) node.Engine.RemovePeer(peer);

        Assert.Equal(0, node.Engine.PeerCount);
        Assert.Equal(0, node.Engine.AllowedIps.Count);
        Assert.Equal(0, node.Engine.AllowedIps.NodeCount);
        Assert.Null(node.Engine.AllowedIps.CheckInvariants());
        Assert.True(node.Engine.PeerCapacity <= 64, $"the peer table kept capacity {node.Engine.PeerCapacity} of {full}");
        // The trie's own peer-to-prefixes table too (bench/churn.sh: a 420 KB entry array kept in the LOH).
        Assert.True(node.Engine.AllowedIps.PeerTableCapacity <= 64,
            $"the allowed-IPs peer table kept capacity {node.Engine.AllowedIps.PeerTableCapacity}");
    }

    [Fact]
    public void TheRateLimiterForgetsIdleSourcesWithoutFurtherHandshakes()
    {
        var pair = new TestPair();
        pair.B.Engine.UnderLoad = true;
        pair.A.Send(pair.PacketAtoB());
        pair.Pump(); // a cookie reply: the rate limiter sees only initiations with a valid mac2
        Assert.Equal(0, pair.B.Engine.RateLimiterCount);
        pair.Clock.Advance(Protocol.RekeyTimeout + TimeSpan.FromMilliseconds(400)); // past the retry's jitter
        pair.A.Engine.Tick(pair.Clock.Now);
        pair.Pump();
        Assert.Single(pair.B.Delivered);
        Assert.Equal(1, pair.B.Engine.RateLimiterCount);

        pair.Clock.Advance(TimeSpan.FromMilliseconds(900));
        pair.B.Engine.Tick(pair.Clock.Now);
        Assert.Equal(1, pair.B.Engine.RateLimiterCount); // not idle for a second yet
        pair.Clock.Advance(TimeSpan.FromMilliseconds(200));
        pair.B.Engine.Tick(pair.Clock.Now); // no handshake since: the timer tick alone forgets it
        Assert.Equal(0, pair.B.Engine.RateLimiterCount);
    }

    [Fact]
    public void TheRateLimiterTableShrinksOnceEmpty()
    {
        var limiter = new RateLimiter();
        for (int i = 0; i < 5000; i++) limiter.Allow([10, 0, (byte)(i >> 8), (byte)i], 0);
        Assert.Equal(5000, limiter.Count);
        Assert.True(limiter.Capacity >= 5000);

        limiter.Collect(RateLimiter.IdleTimeoutNanoseconds);
        Assert.Equal(5000, limiter.Count); // exactly one second idle is not idle yet
        limiter.Collect(RateLimiter.IdleTimeoutNanoseconds + 1);
        Assert.Equal(0, limiter.Count);
        Assert.Equal(64, limiter.Capacity);
        Assert.True(limiter.Allow([10, 0, 0, 1], RateLimiter.IdleTimeoutNanoseconds + 2));
        Assert.Equal(1, limiter.Count);
    }

    [Fact]
    public void ARemovedPeerWithSessionsCookieAndDaitaStateIsUnreachable()
    {
        var pair = new TestPair();
        var weak = BuildUpAndRemove(pair);
        for (int i = 0; i < 3 && IsAlive(weak); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.False(IsAlive(weak), "something still references the removed peer");
        Assert.Equal(0, pair.A.Engine.Indices.Count);
        Assert.Equal(0, pair.A.Pool.Outstanding);
        Assert.Equal(TimeSpan.MaxValue, pair.A.Engine.NextDeadline);
    }

    // Not inlined: `TryGetTarget(out _)` in the test itself leaves the target in a stack temporary that unoptimised
    // (tier-0) code reports live to the GC for the whole method, which kept the peer reachable (a heap dump's gcroot
    // showed the test frame as the only root).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool IsAlive(WeakReference<Peer> weak) => weak.TryGetTarget(out _);

    // Gives A's peer sessions, a cookie from a B under load and running DAITA machines, then removes it. Not inlined, so no local of the caller keeps it alive.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference<Peer> BuildUpAndRemove(TestPair pair)
    {
        var peer = pair.PeerOfA;
        pair.B.Engine.UnderLoad = true;
        pair.A.Send(pair.PacketAtoB());
        pair.Pump();
        Assert.True(peer.Cookies.HasFreshCookie(pair.Clock.Now));
        pair.B.Engine.UnderLoad = false;
        pair.Run(TimeSpan.FromSeconds(6), TimeSpan.FromMilliseconds(500));
        Assert.Single(pair.B.Delivered);

        Assert.True(pair.A.Engine.SetDaita(peer, new DaitaSettings { Machines = [DaitaEngineTests.PadLoop(100_000)] },
            pair.Clock.Now, out var error), error);
        for (int i = 0; i < 4; i++) pair.A.Send(pair.PacketAtoB(100 + i));
        pair.A.Engine.Tick(pair.Clock.Now);
        for (int i = 0; i < 4; i++) pair.A.Send(pair.PacketAtoB(200 + i));
        pair.Pump();
        Assert.NotNull(peer.Daita);

        pair.A.Engine.RemovePeer(peer);
        pair.A.Events.Clear(); // the test node's own record of events names the peer
        return new WeakReference<Peer>(peer);
    }

}
