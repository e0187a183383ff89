using VeilTun.Daita;
using VeilTun.Tests.Fakes;
using Xunit;

namespace VeilTun.Tests.Daita;

/// <summary>
/// Known-answer tests ported from the 17 tests of maybenot 2.2.2 crates/maybenot/src/framework.rs (tests module),
/// named after them below. They use only p = 1 transitions and Uniform{x, x} dists, so they are
/// independent of the random source. Rust's <c>f.actions[i]</c> is the per-machine slot, <see cref="Slots"/> here.
/// </summary>
public class FrameworkTests
{
    internal static readonly TimeSpan T0 = TimeSpan.FromSeconds(12345);

    internal static TimeSpan Us(long micros) => new(micros * TimeSpan.TicksPerMicrosecond);
    internal static Dist U(double x) => Dist.Uniform(x, x);

    internal static MachineAction.SendPadding Pad(double timeout, bool bypass = false, bool replace = false, Dist? limit = null) =>
        new(bypass, replace, U(timeout), limit);

    internal static MachineAction.BlockOutgoing Blk(double timeout, double duration, bool replace = false) =>
        new(false, replace, U(timeout), U(duration), null);

    internal static Counter Ctr(CounterOperation op, double? value = null) =>
        new(op, value is { } v ? U(v) : null, false);

    internal static Counter CopyCtr(CounterOperation op) => new(op, null, true);

    /// <summary>A state whose listed events go to the given target with probability 1.</summary>
    internal static State S(MachineAction? action, Counter? a, Counter? b, params (Event Event, ulong Target)[] transitions)
    {
        var t = new Transition[]?[Constants.EventNum];
        foreach ((Event e, ulong target) in transitions) t[(int)e] = [.. t[(int)e] ?? [], new Transition(target, 1.0f)];
        return new State(action, a, b, t);
    }

    internal static State S(params (Event Event, ulong Target)[] transitions) => S(null, null, null, transitions);

    internal static Framework Create(IReadOnlyList<Machine> machines, double pf = 0, double bf = 0, TimeSpan? now = null)
    {
        Assert.True(Framework.TryCreate(machines, pf, bf, now ?? T0, new SeededDaitaRandom(7), out Framework? f, out string? e), e);
        return f;
    }

    /// <summary>Runs one call and returns the per-machine action slots (null = no action), like Rust's f.actions.</summary>
    internal static TriggerAction?[] Slots(Framework f, TimeSpan now, params TriggerEvent[] events)
    {
        ReadOnlySpan<TriggerAction> actions = f.TriggerEvents(events, now);
        var slots = new TriggerAction?[f.MachineCount];
        int previous = -1;
        foreach (TriggerAction a in actions)
        {
            Assert.True(a.Machine > previous, "actions must be in machine order, one per machine");
            previous = a.Machine;
            slots[a.Machine] = a;
        }
        return slots;
    }

    internal static void AssertNone(TriggerAction?[] slots) => Assert.All(slots, a => Assert.Null(a));

    internal static TriggerEvent NR => new(TriggerEventKind.NormalRecv);
    internal static TriggerEvent PR => new(TriggerEventKind.PaddingRecv);
    internal static TriggerEvent NS => new(TriggerEventKind.NormalSent);
    internal static TriggerEvent TS => new(TriggerEventKind.TunnelSent);
    internal static TriggerEvent BE => new(TriggerEventKind.BlockingEnd);
    internal static TriggerEvent PS(int m = 0) => new(TriggerEventKind.PaddingSent, m);
    internal static TriggerEvent BB(int m = 0) => new(TriggerEventKind.BlockingBegin, m);
    internal static TriggerEvent TB(int m = 0) => new(TriggerEventKind.TimerBegin, m);
    internal static TriggerEvent TE(int m = 0) => new(TriggerEventKind.TimerEnd, m);

    internal static TriggerAction SendPadding(int m, long timeoutUs, bool bypass = false, bool replace = false) =>
        TriggerAction.SendPadding(m, Us(timeoutUs), bypass, replace);

    internal static TriggerAction Block(int m, long timeoutUs, long durationUs, bool replace = false) =>
        TriggerAction.BlockOutgoing(m, Us(timeoutUs), Us(durationUs), false, replace);

    // ---- framework.rs: no_machines, reuse_machines ----

    [Fact]
    public void FrameworkWithoutMachinesIsCreatedAndNeverActs()
    {
        Framework f = Create([]);
        Assert.Equal(0, f.MachineCount);
        Assert.True(f.AllMachinesEnded);
        Assert.Equal(0, f.TriggerEvents([NS, PS(0), BB(3), TE(1)], T0).Length);
    }

    [Fact]
    public void MachinesCanBeReusedByTwoFrameworks()
    {
        Machine m = new(0, 0, 0, 0, [S(Pad(1), null, null, (Event.NormalSent, 0))]);
        Framework f1 = Create([m]), f2 = Create([m]);
        Assert.Equal(SendPadding(0, 1), Slots(f1, T0, NS)[0]);
        Assert.Equal(SendPadding(0, 1), Slots(f2, T0, NS)[0]);
    }

    // ---- trigger_events_actions ----

    [Fact]
    public void TriggerEventsActionsSwapBetweenTwoPaddingStates()
    {
        State s0 = S(Pad(10), null, null, (Event.PaddingSent, 1));
        State s1 = S(Pad(1), null, null, (Event.PaddingRecv, 0));
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, s1])]);
        TimeSpan now = T0;

        Assert.Null(Slots(f, now, BB(0))[0]);
        now += Us(20);
        Assert.Null(Slots(f, now, BB(0))[0]);

        Assert.Equal(SendPadding(0, 1), Slots(f, now, PS(0))[0]);
        now += Us(20);
        Assert.Null(Slots(f, now, PS(0))[0]);

        Assert.Equal(SendPadding(0, 10), Slots(f, now, PR)[0]);

        for (int i = 0; i < 10; i++)
            Assert.Equal(SendPadding(0, 10), Slots(f, now, PS(0), PR)[0]);

        for (int i = 0; i < 10; i++)
        {
            if (i % 2 == 0)
                Assert.Equal(SendPadding(0, 10), Slots(f, now, PR, PS(0), PR)[0]);
            else
                Assert.Equal(SendPadding(0, 1), Slots(f, now, PS(0), PR, PS(0))[0]);
        }
    }

    // ---- blocking_machine ----

    [Fact]
    public void BlockingMachineBlocksOnEveryNormalSent()
    {
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [S(Blk(1, 10), null, null, (Event.NormalSent, 0))])]);
        TimeSpan now = T0;
        Assert.Equal(Block(0, 1, 10), Slots(f, now, NS)[0]);
        now += Us(20);
        Assert.Null(Slots(f, now, BB(0))[0]);
        for (int i = 0; i < 10; i++)
        {
            now += Us(1);
            Assert.Equal(Block(0, 1, 10), Slots(f, now, NS)[0]);
        }
    }

    // ---- timer_machine ----

    [Fact]
    public void TimerMachineSetsTheTimerThenPadsOnTimerEnd()
    {
        State s0 = S(Pad(1), null, null, (Event.PaddingSent, 1));
        State s1 = S(new MachineAction.UpdateTimer(false, U(1000), null), null, null, (Event.TimerEnd, 0));
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, s1])]);
        Assert.Equal(TriggerAction.UpdateTimer(0, Us(1000), false), Slots(f, T0, PS(0))[0]);
        Assert.Equal(SendPadding(0, 1), Slots(f, T0 + Us(20), TE(0))[0]);
    }

    // ---- counter_machine ----

    [Fact]
    public void CounterMachinePadsWhenCounterAReachesZero()
    {
        State s0 = S(null, Ctr(CounterOperation.Decrement), null, (Event.PaddingSent, 1), (Event.CounterZero, 2));
        State s1 = S(null, Ctr(CounterOperation.Increment), null, (Event.NormalSent, 0));
        State s2 = S(Pad(2), null, Ctr(CounterOperation.Increment, 4), (Event.NormalSent, 0), (Event.PaddingSent, 1));
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, s1, s2])]);

        Assert.Null(Slots(f, T0, PS(0))[0]);
        Assert.Equal(1UL, f.CounterA(0));

        Assert.Equal(SendPadding(0, 2), Slots(f, T0 + Us(20), NS)[0]);
        Assert.Equal(0UL, f.CounterA(0));
        Assert.Equal(4UL, f.CounterB(0));
    }

    // ---- counter_underflow_machine, counter_overflow_machine ----

    [Fact]
    public void CounterUnderflowSaturatesAndDoesNotRaiseCounterZero()
    {
        (Event, ulong)[] t = [(Event.NormalSent, 0), (Event.NormalRecv, 1), (Event.CounterZero, 2)];
        State s0 = S(null, null, Ctr(CounterOperation.Decrement, 10), t);
        State s1 = S(null, null, Ctr(CounterOperation.Set, 0), t);
        State s2 = S(Pad(2), null, null, (Event.NormalSent, 0), (Event.NormalRecv, 1));
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, s1, s2])]);

        Assert.Null(Slots(f, T0, NS)[0]);
        Assert.Equal(0UL, f.CounterB(0));
        Assert.Null(Slots(f, T0, NR)[0]);
        Assert.Equal(0UL, f.CounterB(0));
    }

    [Fact]
    public void CounterOverflowSaturatesAtU64Max()
    {
        State s0 = S(null, Ctr(CounterOperation.Increment, 1000), null, (Event.NormalSent, 0), (Event.NormalRecv, 1));
        State s1 = S(null, Ctr(CounterOperation.Set, ulong.MaxValue), null, (Event.NormalSent, 0), (Event.NormalRecv, 1));
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, s1])]);

        Slots(f, T0, NR);
        Assert.Equal(ulong.MaxValue, f.CounterA(0));
        Slots(f, T0, NS);
        Assert.Equal(ulong.MaxValue, f.CounterA(0));
    }

    // ---- counter_convergence_machine ----

    [Fact]
    public void BothCountersReachingZeroTogetherRaiseOneCounterZero()
    {
        State s0 = S(null, Ctr(CounterOperation.Set, 44), Ctr(CounterOperation.Set, 28), (Event.NormalSent, 0), (Event.PaddingSent, 1));
        State s1 = S(null, Ctr(CounterOperation.Decrement, 32), Ctr(CounterOperation.Decrement, 15), (Event.NormalSent, 1), (Event.CounterZero, 2));
        State s2 = S((Event.CounterZero, 0));
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, s1, s2])]);
        TimeSpan now = T0;

        Assert.Null(Slots(f, now, NS)[0]);
        Assert.Equal((44UL, 28UL), (f.CounterA(0), f.CounterB(0)));
        now += Us(20);
        Assert.Null(Slots(f, now, PS(0))[0]);
        Assert.Equal((12UL, 13UL), (f.CounterA(0), f.CounterB(0)));
        now += Us(20);
        Assert.Null(Slots(f, now, NS)[0]);
        Assert.Equal((0UL, 0UL), (f.CounterA(0), f.CounterB(0)));
        Assert.Equal(2UL, f.CurrentState(0)); // s2 was entered once and not re-triggered
    }

    // ---- counter_divergence_machine ----

    [Fact]
    public void OneCounterReachingZeroRaisesCounterZero()
    {
        State s0 = S(null, Ctr(CounterOperation.Set, 50), Ctr(CounterOperation.Set, 50), (Event.NormalSent, 0), (Event.PaddingSent, 1));
        State s1 = S(null, null, Ctr(CounterOperation.Decrement, 50), (Event.CounterZero, 2));
        State s2 = S(null, Ctr(CounterOperation.Increment, 25), null);
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, s1, s2])]);

        Assert.Null(Slots(f, T0, NS)[0]);
        Assert.Equal((50UL, 50UL), (f.CounterA(0), f.CounterB(0)));
        Assert.Null(Slots(f, T0 + Us(20), PS(0))[0]);
        Assert.Equal((75UL, 0UL), (f.CounterA(0), f.CounterB(0)));
    }

    // ---- counter_chain_machine ----

    [Fact]
    public void ChainedCounterZeroTransitionsScheduleTheDeepestAction()
    {
        State s0 = S(null, Ctr(CounterOperation.Set), Ctr(CounterOperation.Set), (Event.NormalSent, 0), (Event.PaddingSent, 1));
        State s1 = S(Pad(2), Ctr(CounterOperation.Decrement), null, (Event.CounterZero, 2));
        State s2 = S(Pad(67, bypass: true), null, Ctr(CounterOperation.Decrement), (Event.CounterZero, 3));
        State s3 = S(null, Ctr(CounterOperation.Set, 13), null);
        Framework f = Create([new Machine(0, 0.0, 0, 0.0, [s0, s1, s2, s3])]);

        Assert.Null(Slots(f, T0, NS)[0]);
        Assert.Equal((1UL, 1UL), (f.CounterA(0), f.CounterB(0)));
        Assert.Equal(SendPadding(0, 67, bypass: true), Slots(f, T0 + Us(20), PS(0))[0]);
        Assert.Equal((13UL, 0UL), (f.CounterA(0), f.CounterB(0)));
    }

    // ---- counter_copy_machine ----

    [Fact]
    public void CopyCountersUseTheOtherCountersValueBeforeTheTransition()
    {
        State s0 = S(null, Ctr(CounterOperation.Set, 4), Ctr(CounterOperation.Set, 13), (Event.NormalSent, 0), (Event.PaddingSent, 1));
        State s1 = S(null, CopyCtr(CounterOperation.Set), CopyCtr(CounterOperation.Decrement), (Event.PaddingSent, 2));
        State s2 = S(null, CopyCtr(CounterOperation.Increment), null);
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, s1, s2])]);
        TimeSpan now = T0;

        Assert.Null(Slots(f, now, NS)[0]);
        Assert.Equal((4UL, 13UL), (f.CounterA(0), f.CounterB(0)));
        now += Us(20);
        Assert.Null(Slots(f, now, PS(0))[0]);
        Assert.Equal((13UL, 9UL), (f.CounterA(0), f.CounterB(0)));
        now += Us(20);
        Assert.Null(Slots(f, now, PS(0))[0]);
        Assert.Equal((22UL, 9UL), (f.CounterA(0), f.CounterB(0)));
    }

    // ---- counter_triggered_no_early_limit_decrement ----

    [Fact]
    public void CounterZeroRoundTripRefreshesTheLimitInsteadOfDecrementingIt()
    {
        State s0 = S(null, Ctr(CounterOperation.Set, 2), Ctr(CounterOperation.Set), (Event.NormalSent, 0), (Event.PaddingSent, 1));
        State s1 = S(Pad(1, limit: U(2)), Ctr(CounterOperation.Decrement), null, (Event.CounterZero, 2), (Event.PaddingSent, 1));
        State s2 = S(null, null, Ctr(CounterOperation.Decrement), (Event.CounterZero, 1));
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, s1, s2])]);

        Assert.Null(Slots(f, T0, NS)[0]);
        Assert.Equal((2UL, 1UL), (f.CounterA(0), f.CounterB(0)));

        Assert.NotNull(Slots(f, T0, PS(0))[0]);
        Assert.Equal((1UL, 1UL), (f.CounterA(0), f.CounterB(0)));
        Assert.Equal(2UL, f.StateLimit(0));

        Assert.NotNull(Slots(f, T0, PS(0))[0]);
        Assert.Equal((0UL, 0UL), (f.CounterA(0), f.CounterB(0)));
        Assert.Equal(2UL, f.StateLimit(0));
    }

    // ---- test_infinite_loop_counter ----

    [Fact]
    public void CounterZeroPingPongTerminatesWithOneAction()
    {
        State s0 = S((Event.NormalSent, 1));
        State init = S(null, Ctr(CounterOperation.Set), null, (Event.NormalSent, 2));
        State stateA = S(null, Ctr(CounterOperation.Decrement), Ctr(CounterOperation.Set), (Event.CounterZero, 3), (Event.NormalRecv, 4));
        State stateB = S(null, Ctr(CounterOperation.Set), Ctr(CounterOperation.Decrement), (Event.CounterZero, 2));
        State statePad = S(Pad(1), null, null);
        Framework f = Create([new Machine(1000, 1.0, 0, 0.0, [s0, init, stateA, stateB, statePad])]);

        f.TriggerEvents([NS], T0);
        Assert.Equal(1, f.TriggerEvents([NS, NR], T0).Length);
        Assert.Equal(4UL, f.CurrentState(0));
    }

    // ---- signals ----

    private static readonly State s_padTwo = S(Pad(2), null, null);

    [Fact]
    public void SignalReachesTheOtherMachineButNotTheSender()
    {
        Machine m0 = new(1000, 1.0, 0, 0.0, [S((Event.NormalSent, Constants.StateSignal), (Event.Signal, 1)), s_padTwo]);
        Machine m1 = new(1000, 1.0, 0, 0.0, [S((Event.Signal, 1)), s_padTwo]);
        TriggerAction?[] a = Slots(Create([m0, m1]), T0, NS);
        Assert.Null(a[0]);
        Assert.Equal(SendPadding(1, 2), a[1]);
    }

    [Fact]
    public void TwoSimultaneousSignalsReachBothMachines()
    {
        State s0 = S((Event.NormalSent, Constants.StateSignal), (Event.Signal, 1));
        Machine m = new(1000, 1.0, 0, 0.0, [s0, s_padTwo]);
        TriggerAction?[] a = Slots(Create([m, m]), T0, NS);
        Assert.Equal(SendPadding(0, 2), a[0]);
        Assert.Equal(SendPadding(1, 2), a[1]);
    }

    [Fact]
    public void ASignalAnsweredBySignalReachesTheOriginalSender()
    {
        Machine m0 = new(1000, 1.0, 0, 0.0, [S((Event.NormalSent, Constants.StateSignal), (Event.Signal, 1)), s_padTwo]);
        Machine m1 = new(1000, 1.0, 0, 0.0, [S((Event.Signal, Constants.StateSignal)), s_padTwo]);
        TriggerAction?[] a = Slots(Create([m0, m1]), T0, NS);
        Assert.Equal(SendPadding(0, 2), a[0]);
        Assert.Null(a[1]);
    }

    [Fact]
    public void ASignalRaisedDuringTheFinalRedeliveryStaysPendingForTheNextCall()
    {
        // m0 signals on NS and answers Signal with a signal; m1 always answers; m2 observes.
        Machine m0 = new(0, 0, 0, 0, [S((Event.NormalSent, Constants.StateSignal), (Event.Signal, Constants.StateSignal))]);
        Machine m1 = new(0, 0, 0, 0, [S((Event.Signal, Constants.StateSignal))]);
        Machine m2 = new(0, 0, 0, 0, [S((Event.Signal, 1)), S(Pad(2), null, null, (Event.Signal, 2)), S(Pad(9), null, null)]);
        Framework f = Create([m0, m1, m2]);
        TriggerAction?[] a = Slots(f, T0, NS);
        Assert.Null(a[0]);
        Assert.Null(a[1]);
        Assert.Equal(SendPadding(2, 2), a[2]);
        // No machine reacts to TunnelRecv: the only thing happening is the delivery of m0's pending signal.
        Assert.Equal(SendPadding(2, 9), Slots(f, T0, new TriggerEvent(TriggerEventKind.TunnelRecv))[2]);
    }

    [Fact]
    public void CounterZeroIsRaisedOncePerCallAcrossAllMachines()
    {
        // framework.rs keeps ONE counter_zeroed_once pair for the whole framework (a quirk kept here): after machine 0
        // zeroes counter A, machine 1 zeroing its own counter A in the same call raises no CounterZero.
        Machine m = new(0, 0, 0, 0, [
            S((Event.NormalSent, 1)),
            S(null, Ctr(CounterOperation.Set), null, (Event.NormalRecv, 2)),
            S(null, Ctr(CounterOperation.Decrement), null, (Event.CounterZero, 3)),
            S(Pad(5), null, null),
        ]);
        Framework f = Create([m, m]);
        Slots(f, T0, NS);
        Assert.Equal((1UL, 1UL), (f.CounterA(0), f.CounterA(1)));
        TriggerAction?[] a = Slots(f, T0, NR);
        Assert.Equal(SendPadding(0, 5), a[0]);
        Assert.Null(a[1]);
        Assert.Equal((0UL, 0UL), (f.CounterA(0), f.CounterA(1)));
        Assert.Equal((3UL, 2UL), (f.CurrentState(0), f.CurrentState(1)));
    }

    [Fact]
    public void CounterZeroCanFireAgainInALaterCall()
    {
        // counter_zeroed_once is reset at the start of every trigger_events call.
        Machine m = new(0, 0, 0, 0, [
            S(null, Ctr(CounterOperation.Set), null, (Event.NormalRecv, 0), (Event.NormalSent, 1)),
            S(null, Ctr(CounterOperation.Decrement), null, (Event.CounterZero, 2)),
            S(Pad(5), null, null, (Event.NormalRecv, 0)),
        ]);
        Framework f = Create([m]);
        for (int round = 0; round < 3; round++)
        {
            Assert.Null(Slots(f, T0, NR)[0]);
            Assert.Equal(1UL, f.CounterA(0));
            Assert.Equal(SendPadding(0, 5), Slots(f, T0, NS)[0]);
            Assert.Equal(2UL, f.CurrentState(0));
        }
    }

    // ---- machine_max_padding_frac ----

    private static State SelfLoopPad2() =>
        S(Pad(2), null, null, (Event.PaddingSent, 0), (Event.NormalSent, 0), (Event.NormalRecv, 0));

    [Fact]
    public void MachinePaddingFractionStopsPaddingAfterTheAllowance()
    {
        Framework f = Create([new Machine(100, 0.5, 0, 0.0, [SelfLoopPad2()])]);
        TriggerAction?[] a = Slots(f, T0, NR);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(SendPadding(0, 2), a[0]);
            a = Slots(f, T0, PS(0));
        }
        Assert.Null(a[0]);
        Assert.Null(Slots(f, T0, NR)[0]);
        for (int i = 0; i < 100; i++) Assert.Null(Slots(f, T0, NS)[0]);
        Assert.Equal(SendPadding(0, 2), Slots(f, T0, NS)[0]);
    }

    // ---- framework_max_padding_frac ----

    [Fact]
    public void FrameworkPaddingFractionLimitsAllMachinesTogether()
    {
        Machine m = new(100, 0.0, 0, 0.0, [SelfLoopPad2()]);
        Framework f = Create([m, m], pf: 0.5);
        TriggerAction?[] a = Slots(f, T0, NR);
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(SendPadding(0, 2), a[0]);
            Assert.Equal(SendPadding(1, 2), a[1]);
            a = Slots(f, T0, PS(0), PS(1), TS, TS);
        }
        AssertNone(a);
        AssertNone(Slots(f, T0, NR, NR));
        Assert.Equal(f.PaddingSent(0), f.PaddingSent(1));
        Assert.Equal(100UL, f.PaddingSent(0));
        for (int i = 0; i < 200; i++) AssertNone(Slots(f, T0, NS));
        a = Slots(f, T0, NS);
        Assert.Equal(SendPadding(0, 2), a[0]);
        Assert.Equal(SendPadding(1, 2), a[1]);
    }

    // ---- machine_max_blocking_frac, framework_max_blocking_frac ----

    [Theory]
    [InlineData(0.5, 0.0)] // machine_max_blocking_frac
    [InlineData(0.0, 0.5)] // framework_max_blocking_frac
    public void BlockingFractionStopsBlockingAfterTheAllowanceUntilTimePasses(double machineFrac, double frameworkFrac)
    {
        State s0 = S(Blk(2, 2), null, null, (Event.BlockingBegin, 0), (Event.BlockingEnd, 0), (Event.NormalRecv, 0));
        Framework f = Create([new Machine(0, 0.0, 10, machineFrac, [s0])], bf: frameworkFrac);
        TimeSpan now = T0;
        TriggerAction?[] a = Slots(f, now, NR);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(Block(0, 2, 2), a[0]);
            Assert.Equal(Block(0, 2, 2), Slots(f, now, BB(0))[0]);
            now += Us(2);
            a = Slots(f, now, BE);
        }
        Assert.Null(a[0]);
        Assert.Equal(Us(10), f.BlockingDuration(0));

        for (int i = 0; i < 5; i++)
        {
            now += Us(2);
            Assert.Null(Slots(f, now, NR)[0]);
        }
        Assert.Equal(Us(10), f.BlockingDuration(0));
        Assert.Equal(Us(20), now - f.MachineStart(0));

        now += Us(2);
        Assert.Equal(Block(0, 2, 2), Slots(f, now, NR)[0]);
    }

    // ---- framework_replace_blocking ----

    [Fact]
    public void ReplacingOngoingBlockingBypassesTheBlockingBudget()
    {
        Machine m0 = new(0, 0.0, 2, 0.5, [S(Blk(2, 2, replace: true), null, null, (Event.NormalRecv, 0))]);
        Machine m1 = new(0, 0.0, 0, 0.0, [S(Blk(0, 1000), null, null, (Event.NormalSent, 0))]);
        Framework f = Create([m0, m1]);
        TimeSpan now = T0;

        Assert.Equal(Block(0, 2, 2, replace: true), Slots(f, now, NR)[0]);
        Slots(f, now, BB(0));
        now += Us(2);
        Slots(f, now, BE);
        Assert.Null(Slots(f, now, NR)[0]);
        Assert.Equal(Us(2), f.BlockingDuration(0));

        Assert.Equal(Block(1, 0, 1000), Slots(f, now, NS)[1]);
        Slots(f, now, BB(1));
        Assert.Equal(Block(0, 2, 2, replace: true), Slots(f, now, NR)[0]);
    }

    // ---- framework_machine_sampled_limit ----

    [Fact]
    public void SampledStateLimitStopsPaddingAfterFourConfirmations()
    {
        State s0 = S((Event.NormalSent, 1));
        State s1 = S(Pad(1, limit: U(4)), null, null, (Event.PaddingSent, 1));
        Framework f = Create([new Machine(100000, 0.0, 0, 0.0, [s0, s1])]);
        TimeSpan now = T0;

        TriggerAction?[] a = Slots(f, now, NS);
        Assert.Equal(4UL, f.StateLimit(0));
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(SendPadding(0, 1), a[0]);
            now += Us(1);
            a = Slots(f, now, PS(0));
        }
        Assert.Equal(4UL, f.PaddingSent(0));
        Assert.Equal(1UL, f.NormalSent(0));
        Assert.Null(a[0]);
        Assert.Equal(0UL, f.StateLimit(0));
    }

    // ---- further points of maybenot's framework semantics ----

    [Theory]
    [InlineData(-0.1, 0.0)]
    [InlineData(1.1, 0.0)]
    [InlineData(double.NaN, 0.0)]
    [InlineData(0.0, -0.1)]
    [InlineData(0.0, 1.1)]
    [InlineData(0.0, double.NaN)]
    public void FrameworkFractionsOutsideZeroToOneAreRejected(double pf, double bf)
    {
        Assert.False(Framework.TryCreate([], pf, bf, T0, new SeededDaitaRandom(1), out Framework? f, out string? error));
        Assert.Null(f);
        Assert.Contains(pf is >= 0 and <= 1 ? "max_blocking_frac" : "max_padding_frac", error);
    }

    [Fact]
    public void AnInvalidMachineIsRejectedWithItsIndex()
    {
        Machine good = new(0, 0, 0, 0, [S()]);
        Machine bad = new(0, 0, 0, 0, [S((Event.NormalSent, 5))]);
        Assert.False(Framework.TryCreate([good, bad], 0, 0, T0, new SeededDaitaRandom(1), out _, out string? error));
        Assert.StartsWith("machine 1:", error);
    }

    [Fact]
    public void InitialStateLimitIsZeroWithoutAnActionAndSampledWithOne()
    {
        Machine noAction = new(0, 0, 0, 0, [S()]);
        Machine limited = new(0, 0, 0, 0, [S(Pad(1, limit: U(3)), null, null)]);
        Machine unlimited = new(0, 0, 0, 0, [S(Pad(1), null, null)]);
        Framework f = Create([noAction, limited, unlimited]);
        Assert.Equal(0UL, f.StateLimit(0));
        Assert.Equal(3UL, f.StateLimit(1));
        Assert.Equal(ulong.MaxValue, f.StateLimit(2));
    }

    [Fact]
    public void EndStateStopsTheMachineButKeepsTheActionOfTheSameCall()
    {
        // s0 pads on NR (self-loop), NS ends the machine: [NR, NS] still returns the padding from NR.
        Machine m = new(0, 0, 0, 0, [S(Pad(5), null, null, (Event.NormalRecv, 0), (Event.NormalSent, Constants.StateEnd))]);
        Framework f = Create([m]);
        Assert.False(f.AllMachinesEnded);
        Assert.Equal(SendPadding(0, 5), Slots(f, T0, NR, NS)[0]);
        Assert.True(f.AllMachinesEnded);
        Assert.Equal(Constants.StateEnd, f.CurrentState(0));
        Assert.Equal(0, f.TriggerEvents([NR, NS, PS(0), TB(0), TE(0), BB(0), BE], T0).Length);
    }

    [Fact]
    public void OutOfRangeMachineIdsAreToleratedAsInRust()
    {
        Machine m = new(0, 0, 0, 0, [S(Pad(1), null, null, (Event.BlockingBegin, 0), (Event.TimerEnd, 0))]);
        Framework f = Create([m]);
        // PaddingSent for an unknown machine still counts towards the framework total.
        Assert.Equal(0, f.TriggerEvents([PS(7), PS(-1), TB(3), TE(-5), TE(1)], T0).Length);
        Assert.Equal(2UL, f.PaddingSentPackets);
        Assert.Equal(0UL, f.PaddingSent(0));
        // BlockingBegin for an unknown machine still reaches every machine.
        Assert.Equal(SendPadding(0, 1), Slots(f, T0, BB(9))[0]);
        Assert.True(f.BlockingActive);
    }

    [Fact]
    public void LimitReachedFiresWhenTheSelfLoopLimitRunsOut()
    {
        // s0: pad with limit 2, self-loop on PS, LimitReached → s1 (UpdateTimer), as framework.rs decrement_limit does.
        State s0 = S(Pad(3, limit: U(2)), null, null, (Event.PaddingSent, 0), (Event.LimitReached, 1));
        State s1 = S(new MachineAction.UpdateTimer(true, U(50), null), null, null);
        Framework f = Create([new Machine(10, 0, 0, 0, [s0, s1])]);
        Assert.Equal(SendPadding(0, 3), Slots(f, T0, PS(0))[0]); // limit 2 → 1 (self-loop)
        Assert.Equal(1UL, f.StateLimit(0));
        Assert.Equal(TriggerAction.UpdateTimer(0, Us(50), true), Slots(f, T0, PS(0))[0]); // 1 → 0 → LimitReached
        Assert.Equal(1UL, f.CurrentState(0));
    }

    [Fact]
    public void TimerBeginDecrementsTheLimitOnlyWhenTheStateIsUnchanged()
    {
        State s0 = S(new MachineAction.UpdateTimer(false, U(10), U(3)), null, null, (Event.TimerBegin, 0));
        Framework f = Create([new Machine(0, 0, 0, 0, [s0])]);
        Assert.Equal(3UL, f.StateLimit(0));
        Assert.Equal(TriggerAction.UpdateTimer(0, Us(10), false), Slots(f, T0, TB(0))[0]);
        Assert.Equal(2UL, f.StateLimit(0));
        // TimerEnd never decrements.
        Slots(f, T0, TE(0));
        Assert.Equal(2UL, f.StateLimit(0));
    }

    [Fact]
    public void BlockingBeginDecrementsOnlyTheCausingMachinesLimit()
    {
        State s0 = S(Blk(1, 1), null, null, (Event.BlockingBegin, 0));
        State s0Limited = S(new MachineAction.BlockOutgoing(false, false, U(1), U(1), U(5)), null, null, (Event.BlockingBegin, 0));
        Framework f = Create([new Machine(0, 0, 0, 0, [s0Limited]), new Machine(0, 0, 0, 0, [s0Limited]), new Machine(0, 0, 0, 0, [s0])]);
        Slots(f, T0, BB(1));
        Assert.Equal(5UL, f.StateLimit(0));
        Assert.Equal(4UL, f.StateLimit(1));
    }

    [Fact]
    public void CancelActionIsNeverLimitedAndCarriesTheTimer()
    {
        Machine m = new(0, 0, 0, 0, [S(new MachineAction.Cancel(MachineTimer.Internal), null, null, (Event.NormalRecv, 0))]);
        Framework f = Create([m]);
        Assert.Equal(TriggerAction.Cancel(0, MachineTimer.Internal), Slots(f, T0, NR)[0]);
    }

    [Fact]
    public void PaddingCheckWithNoTrafficPassesEvenWithAZeroStateLimit()
    {
        // below_limit_padding quirk: machine fraction set, no normal/padding sent yet → true before the state limit.
        State s0 = S(Pad(1, limit: U(0)), null, null, (Event.NormalRecv, 0));
        Framework f = Create([new Machine(0, 0.5, 0, 0, [s0])]);
        Assert.Equal(0UL, f.StateLimit(0));
        Assert.Equal(SendPadding(0, 1), Slots(f, T0, NR)[0]);
        // Without a fraction the zero limit applies.
        Framework g = Create([new Machine(0, 0.0, 0, 0, [s0])]);
        Assert.Null(Slots(g, T0, NR)[0]);
    }

    [Fact]
    public void UnlimitedBlockingAllowanceOfU64MaxMicrosecondsDoesNotOverflow()
    {
        // Mullvad machines M1–M3 carry allowed_blocked_microsec = u64::MAX.
        State s0 = S(Blk(1, 1000), null, null, (Event.NormalSent, 0));
        Framework f = Create([new Machine(0, 0, ulong.MaxValue, 1.0, [s0])], bf: 0.01);
        TimeSpan now = T0;
        Slots(f, now, BB(0));
        now += TimeSpan.FromDays(3650);
        Assert.Equal(Block(0, 1, 1000), Slots(f, now, NS)[0]);
        Slots(f, now, BE);
        Assert.Equal(TimeSpan.FromDays(3650), f.BlockingDuration(0));
        Assert.Equal(Block(0, 1, 1000), Slots(f, now, NS)[0]);
    }

    [Fact]
    public void TimeoutsAreRoundedHalfAwayFromZeroAndCappedAtOneDay()
    {
        Machine m = new(0, 0, 0, 0, [
            S(Pad(2.5), null, null, (Event.NormalRecv, 1)),
            S(new MachineAction.BlockOutgoing(false, false, U(1e300), U(0.49), null), null, null, (Event.NormalRecv, 0)),
        ]);
        Framework f = Create([m]);
        Assert.Equal(Block(0, 86_400_000_000, 0), Slots(f, T0, NR)[0]);
        Assert.Equal(SendPadding(0, 3), Slots(f, T0, NR)[0]);
    }

    [Fact]
    public void ReturnedSpanHoldsOnlyActingMachinesInIndexOrder()
    {
        Machine quiet = new(0, 0, 0, 0, [S()]);
        Machine pad = new(0, 0, 0, 0, [S(Pad(4), null, null, (Event.NormalSent, 0))]);
        Framework f = Create([pad, quiet, pad, quiet, pad]);
        ReadOnlySpan<TriggerAction> a = f.TriggerEvents([NS], T0);
        Assert.Equal(3, a.Length);
        Assert.Equal(new[] { 0, 2, 4 }, a.ToArray().Select(x => x.Machine));
        Assert.All(a.ToArray(), x => Assert.Equal(Us(4), x.Timeout));
    }

    [Fact]
    public void SteadyStateTriggerEventsDoesNotAllocate()
    {
        State s0 = S(Pad(1000, limit: new Dist(DistType.Normal, 50, 10, 0, 0, 0, 0)), Ctr(CounterOperation.Increment), null,
            (Event.NormalSent, 0), (Event.PaddingSent, 0), (Event.NormalRecv, 1));
        State s1 = S(new MachineAction.BlockOutgoing(true, true, new Dist(DistType.Gamma, 2, 3, 0, 0, 0, 0), U(10), null), null,
            Ctr(CounterOperation.Decrement, 3), (Event.NormalRecv, 0), (Event.BlockingEnd, 0));
        Framework f = Create([new Machine(10, 0.5, 1000, 0.5, [s0, s1]), new Machine(0, 0, 0, 0, [s0, s1])], 0.5, 0.5);
        TriggerEvent[] batch = [NS, PS(0), NR, BB(1), BE, TS, TB(0), TE(1)];
        TimeSpan now = T0;
        for (int i = 0; i < 100; i++) f.TriggerEvents(batch, now += Us(10)); // warm up (JIT, statics)
        Assert.Equal(0, Allocations.InSteadyState(() =>
        {
            for (int i = 0; i < 10_000; i++) f.TriggerEvents(batch, now += Us(10));
        }));
    }
}
