using CsCheck;
using VeilTun.Daita;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using Xunit;

namespace VeilTun.Tests.Daita;

/// <summary>
/// DAITA inside the protocol engine, on two engines and a fake clock: constant-size padding, decoys in
/// GotaTun's format, delays with their queue, budgets, and a plain peer that still works with a DAITA peer.
/// </summary>
public class DaitaEngineTests
{
    private const int Mtu = 1420; // ProtocolEngine's default

    private static Transition[]?[] On(params (Event Event, ulong Target)[] edges)
    {
        var t = new Transition[]?[Constants.EventNum];
        foreach (var group in edges.GroupBy(e => e.Event))
            t[(int)group.Key] = group.Select(e => new Transition(e.Target, 1.0f / group.Count())).ToArray();
        return t;
    }

    private static Dist Fixed(double microseconds) => Dist.Uniform(microseconds, microseconds);

    /// <summary>s0 —NormalSent→ s1: a decoy every <paramref name="everyMicroseconds"/> from then on.</summary>
    internal static Machine PadLoop(double everyMicroseconds, ulong allowed = 100_000) => new(allowed, 0, 0, 0,
    [
        new State(null, null, null, On((Event.NormalSent, 1))),
        new State(new MachineAction.SendPadding(false, false, Fixed(everyMicroseconds), null), null, null, On((Event.PaddingSent, 1), (Event.NormalSent, 1))),
    ]);

    /// <summary>s0 —NormalSent→ s1: one delay of <paramref name="durationMicroseconds"/> starting at once.</summary>
    private static Machine DelayOnce(double durationMicroseconds, bool bypass = false) => new(0, 0, ulong.MaxValue, 0,
    [
        new State(null, null, null, On((Event.NormalSent, 1))),
        new State(new MachineAction.BlockOutgoing(bypass, false, Fixed(0), Fixed(durationMicroseconds), null), null, null, On()),
    ]);

    private static DaitaPeer Enable(TestNode node, Peer peer, DaitaSettings settings)
    {
        Assert.True(node.Engine.SetDaita(peer, settings, node.Clock.Now, out var error), error);
        return peer.Daita!;
    }

    private static IEnumerable<WireDatagram> Data(TestNode node) =>
        node.AllSent.Where(d => d.Type == MessageType.TransportData && d.Bytes.Length > Messages.KeepaliveSize);

    private static void AssertNoLeaks(TestPair pair)
    {
        Assert.Null(pair.A.Engine.LastInternalError);
        Assert.Null(pair.B.Engine.LastInternalError);
        int held(TestNode n) => n.Engine.Peers.Sum(p => p.StagedCount + (p.Daita?.DelayedCount ?? 0));
        Assert.Equal(held(pair.A), pair.A.Pool.Outstanding);
        Assert.Equal(held(pair.B), pair.B.Pool.Outstanding);
    }

    [Fact]
    public void EveryDataMessageIsPaddedToTheMtuAndArrivesUnchanged()
    {
        var pair = new TestPair();
        var daita = Enable(pair.A, pair.PeerOfA, new DaitaSettings { Machines = [PadLoop(1e9)] });
        int[] sizes = [28, 84, 500, 1000, 1419, 1420];
        var sent = sizes.Select(n => pair.PacketAtoB(n)).ToArray();
        foreach (var p in sent)
        {
            pair.A.Send(p);
            pair.Pump();
        }

        Assert.Equal(sent, pair.B.Delivered);
        Assert.All(Data(pair.A), d => Assert.Equal(Mtu + 32, d.Bytes.Length));
        Assert.Equal(sizes.Length, Data(pair.A).Count());
        Assert.Equal(sizes.Sum(n => (long)(Mtu - n)), daita.TxPaddingBytes);
        // B has no DAITA: its messages keep the ordinary padding to 16.
        pair.B.Send(pair.PacketBtoA(100));
        pair.Pump();
        Assert.Equal(112 + 32, Data(pair.B).Single().Bytes.Length);
        AssertNoLeaks(pair);
    }

    [Fact]
    public void DecoysGoOutOnScheduleAndTheDaitaReceiverDropsThem()
    {
        var pair = new TestPair();
        var a = Enable(pair.A, pair.PeerOfA, new DaitaSettings { Machines = [PadLoop(20_000)] });
        var b = Enable(pair.B, pair.PeerOfB, new DaitaSettings { Machines = [] });
        pair.A.Send(pair.PacketAtoB());
        pair.Pump();
        pair.Run(TimeSpan.FromSeconds(1));

        // 20 ms period over 1 s: about 50 decoys (the first is scheduled at the first packet).
        Assert.InRange(a.DecoysSent, 45, 51);
        Assert.Equal(a.DecoysSent, b.DecoysReceived);
        Assert.Equal(a.DecoysSent * Mtu, a.TxDecoyBytes);
        Assert.Equal(a.TxDecoyBytes, b.RxDecoyBytes);
        Assert.Single(pair.B.Delivered); // decoys never reach the TUN
        Assert.All(Data(pair.A), d => Assert.Equal(Mtu + 32, d.Bytes.Length));
        Assert.Equal(1 + a.DecoysSent, Data(pair.A).Count());
        Assert.Equal(0, pair.B.Engine.GetDropCount(DropReason.InvalidInnerPacket));
        AssertNoLeaks(pair);
    }

    [Fact]
    public void APlainPeerDropsDecoysAsInvalidPacketsAndTrafficStillFlows()
    {
        var pair = new TestPair();
        var a = Enable(pair.A, pair.PeerOfA, new DaitaSettings { Machines = [PadLoop(50_000)] });
        for (int i = 0; i < 10; i++)
        {
            pair.A.Send(pair.PacketAtoB(100 + i));
            pair.Pump(); // first A's handshake: initiations crossing in the same instant only separate by jitter
            pair.B.Send(pair.PacketBtoA(200 + i));
            pair.Run(TimeSpan.FromMilliseconds(100));
        }
        Assert.Equal(10, pair.B.Delivered.Count);
        Assert.Equal(10, pair.A.Delivered.Count);
        Assert.True(a.DecoysSent > 10);
        Assert.Equal(a.DecoysSent, pair.B.Engine.GetDropCount(DropReason.InvalidInnerPacket));
        AssertNoLeaks(pair);
    }

    [Fact]
    public void ADelayHoldsPacketsBackAndReleasesThemInOrder()
    {
        var pair = new TestPair();
        var a = Enable(pair.A, pair.PeerOfA, new DaitaSettings { Machines = [DelayOnce(100_000)] });
        pair.A.Send(pair.PacketAtoB(60)); // NormalSent: the machine asks for a 100 ms delay at once
        pair.Pump();
        Assert.Single(pair.B.Delivered);
        pair.A.Engine.Tick(pair.Clock.Now);
        Assert.True(a.IsDelaying);

        var held = Enumerable.Range(0, 5).Select(i => pair.PacketAtoB(100 + i)).ToArray();
        foreach (var p in held) pair.A.Send(p);
        pair.Pump();
        Assert.Single(pair.B.Delivered);
        Assert.Equal(5, a.DelayedCount);

        pair.Run(TimeSpan.FromMilliseconds(99));
        Assert.Single(pair.B.Delivered);
        pair.Run(TimeSpan.FromMilliseconds(2));
        Assert.False(a.IsDelaying);
        Assert.Equal(held, pair.B.Delivered.Skip(1));
        Assert.Equal(5, a.DelayedPackets);
        AssertNoLeaks(pair);
    }

    [Fact]
    public void AFullDelayQueueEndsTheDelayEarly()
    {
        var pair = new TestPair();
        var a = Enable(pair.A, pair.PeerOfA, new DaitaSettings
        {
            Machines = [DelayOnce(10_000_000)],
            MaxDelayedPackets = 8,
            MinDelayCapacity = 3,
        });
        pair.A.Send(pair.PacketAtoB());
        pair.Pump();
        pair.A.Engine.Tick(pair.Clock.Now);
        Assert.True(a.IsDelaying);
        for (int i = 0; i < 6; i++) pair.A.Send(pair.PacketAtoB(100 + i));
        pair.Pump();
        // 8 - 6 = 2 free slots < 3: the delay was aborted and everything went out, long before 10 s.
        Assert.False(a.IsDelaying);
        Assert.Equal(7, pair.B.Delivered.Count);
        AssertNoLeaks(pair);
    }

    [Fact]
    public void TheFrameworkDecoyBudgetHolds()
    {
        var pair = new TestPair();
        // A machine that would pad every millisecond, capped by the framework-wide fraction.
        var a = Enable(pair.A, pair.PeerOfA, new DaitaSettings { Machines = [PadLoop(1_000, allowed: 0)], MaxDecoyFrac = 0.25 });
        int normal = 0;
        for (int i = 0; i < 100; i++)
        {
            pair.A.Send(pair.PacketAtoB());
            normal++;
            pair.Run(TimeSpan.FromMilliseconds(10));
        }
        Assert.True(a.DecoysSent > 0);
        // padding / (normal + padding) reaches 0.25 at most (the check is made before each decoy).
        Assert.True(a.DecoysSent <= normal / 3 + 1, $"{a.DecoysSent} decoys for {normal} packets");
        AssertNoLeaks(pair);
    }

    [Fact]
    public void DisablingDaitaStopsDecoysAndPadding()
    {
        var pair = new TestPair();
        var a = Enable(pair.A, pair.PeerOfA, new DaitaSettings { Machines = [PadLoop(10_000)] });
        pair.A.Send(pair.PacketAtoB());
        pair.Run(TimeSpan.FromMilliseconds(100));
        Assert.True(a.DecoysSent > 0);
        Assert.True(pair.A.Engine.SetDaita(pair.PeerOfA, null, pair.Clock.Now, out _));
        int before = Data(pair.A).Count();
        pair.Run(TimeSpan.FromMilliseconds(500));
        Assert.Equal(before, Data(pair.A).Count());
        pair.A.Send(pair.PacketAtoB(100));
        pair.Pump();
        Assert.Equal(112 + 32, Data(pair.A).Last().Bytes.Length);
        AssertNoLeaks(pair);
    }

    [Fact]
    public void InvalidSettingsAreRejectedAndChangeNothing()
    {
        var pair = new TestPair();
        Assert.False(pair.A.Engine.SetDaita(pair.PeerOfA, new DaitaSettings { MaxDecoyFrac = 1.5 }, pair.Clock.Now, out var error));
        Assert.Contains("decoy", error);
        Assert.False(pair.A.Engine.SetDaita(pair.PeerOfA, new DaitaSettings { MaxDelayedPackets = 0 }, pair.Clock.Now, out _));
        Assert.Null(pair.PeerOfA.Daita);
    }

    [Fact]
    public void RandomMachinesOnBothPeersNeverBreakTheTunnel()
    {
        // Random valid machines (any action, counter, timer, delay) on both sides, random traffic, 3 s of fake
        // time: no exception, no leak, every data message at MTU + 32, every real packet delivered once, in order.
        Gen.Select(MachineGen.Machine(4).Array[1, 3], MachineGen.Machine(4).Array[0, 2], MachineGen.Frac, Gen.Int[1, 40], Gen.ULong)
            .Sample((machinesA, machinesB, frac, packets, seed) =>
            {
                var pair = new TestPair(seed: (int)(seed % 1000));
                pair.A.Engine.DaitaRandom = new SeededDaitaRandom(seed);
                pair.B.Engine.DaitaRandom = new SeededDaitaRandom(seed + 1);
                var a = Enable(pair.A, pair.PeerOfA, new DaitaSettings { Machines = machinesA, MaxDecoyFrac = frac, MaxDelayFrac = frac });
                Enable(pair.B, pair.PeerOfB, new DaitaSettings { Machines = machinesB });
                var sent = new List<byte[]>();
                for (int i = 0; i < packets; i++)
                {
                    var p = pair.PacketAtoB(60 + i * 31 % 1300);
                    p[^1] = (byte)i;
                    sent.Add(p);
                    pair.A.Send(p);
                    pair.Run(TimeSpan.FromMilliseconds(3000.0 / packets));
                }
                pair.Run(TimeSpan.FromSeconds(1)); // long enough for short delays to end; long ones may still hold packets
                var delivered = pair.B.Delivered;
                Assert.Equal(sent.Take(delivered.Count), delivered);
                // What has not arrived is still held (the delay queue may also hold decoys, so <=).
                Assert.True(sent.Count - delivered.Count <= a.DelayedCount + pair.PeerOfA.StagedCount);
                Assert.All(Data(pair.A), d => Assert.Equal(Mtu + 32, d.Bytes.Length));
                AssertNoLeaks(pair);
            }, iter: 60);
    }
}
