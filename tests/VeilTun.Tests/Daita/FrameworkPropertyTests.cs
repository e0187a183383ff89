using CsCheck;
using VeilTun.Daita;
using Xunit;

namespace VeilTun.Tests.Daita;

/// <summary>
/// A virtual-clock integrator following maybenot's integration contract (lib.rs/action.rs): one
/// action timer and one internal timer per machine, global blocking, every action honoured, and the resulting events fed
/// back ONE per <see cref="Framework.TriggerEvents"/> call, so the counts it keeps itself are exactly those the framework
/// judges an action by. After every call it checks the action contract and the budget rules of below_limit_padding /
/// below_limit_blocking (framework.rs) against its own independent bookkeeping.
/// </summary>
internal sealed class SimulatedIntegrator
{
    private readonly Framework _f;
    private readonly Machine[] _machines;
    private readonly double _fwPaddingFrac, _fwBlockingFrac;
    private readonly SeededDaitaRandom _choices;
    private readonly TimeSpan _start;
    private readonly TimeSpan?[] _actionExpiry;
    private readonly TriggerAction[] _pendingAction;
    private readonly TimeSpan?[] _timerExpiry;
    private readonly Queue<TriggerEvent> _queue = new();
    private TimeSpan? _blockingExpiry;
    private bool _frameworkBlocking;     // as the framework sees it: between BlockingBegin and BlockingEnd events
    private TimeSpan _blockingStarted;
    private TimeSpan _blockedTotal;

    public SimulatedIntegrator(IReadOnlyList<Machine> machines, double fwPaddingFrac, double fwBlockingFrac, ulong seed)
    {
        _machines = [.. machines];
        _fwPaddingFrac = fwPaddingFrac;
        _fwBlockingFrac = fwBlockingFrac;
        _choices = new SeededDaitaRandom(seed ^ 0x5EED);
        Now = _start = TimeSpan.FromHours(1);
        Assert.True(Framework.TryCreate(machines, fwPaddingFrac, fwBlockingFrac, Now, new SeededDaitaRandom(seed), out Framework? f, out string? e), e);
        _f = f;
        int n = machines.Count;
        _actionExpiry = new TimeSpan?[n];
        _pendingAction = new TriggerAction[n];
        _timerExpiry = new TimeSpan?[n];
        PaddingSent = new ulong[n];
    }

    public TimeSpan Now { get; private set; }
    public ulong NormalSent { get; private set; }
    public ulong[] PaddingSent { get; }
    public ulong FrameworkPaddingSent { get; private set; }
    public int PaddingActions { get; private set; }
    public int BlockingActions { get; private set; }
    public int Calls { get; private set; }
    public Framework Framework => _f;

    /// <summary>Runs <paramref name="steps"/> framework calls.</summary>
    public void Run(int steps)
    {
        for (int i = 0; i < steps; i++) Step();
    }

    private void Step()
    {
        if (_queue.TryDequeue(out TriggerEvent queued))
        {
            Trigger(queued);
            return;
        }
        // Next external event after an exponential-ish gap; fire the earliest timer first if it comes sooner.
        TimeSpan gap = FrameworkTests.Us((long)(-Math.Log(_choices.NextDoubleOpenClosed()) * 500));
        (TimeSpan when, int kind, int machine) = EarliestTimer();
        if (kind >= 0 && when <= Now + gap)
        {
            if (when > Now) Now = when;
            FireTimer(kind, machine);
            if (_queue.TryDequeue(out TriggerEvent e)) Trigger(e);
            return;
        }
        Now += gap;
        TriggerEventKind external = (_choices.NextUInt64() % 6) switch
        {
            0 => TriggerEventKind.NormalRecv,
            1 => TriggerEventKind.PaddingRecv,
            2 => TriggerEventKind.TunnelRecv,
            3 or 4 => TriggerEventKind.NormalSent,
            _ => TriggerEventKind.TunnelSent,
        };
        if (external == TriggerEventKind.NormalSent) _queue.Enqueue(new TriggerEvent(TriggerEventKind.TunnelSent));
        Trigger(new TriggerEvent(external));
    }

    // kind: 0 = action timer, 1 = internal timer, 2 = blocking expiry, -1 = none
    private (TimeSpan When, int Kind, int Machine) EarliestTimer()
    {
        (TimeSpan when, int kind, int machine) best = (TimeSpan.MaxValue, -1, -1);
        for (int m = 0; m < _machines.Length; m++)
        {
            if (_actionExpiry[m] is { } a && a < best.when) best = (a, 0, m);
            if (_timerExpiry[m] is { } t && t < best.when) best = (t, 1, m);
        }
        if (_blockingExpiry is { } b && b < best.when) best = (b, 2, -1);
        return best;
    }

    private void FireTimer(int kind, int m)
    {
        switch (kind)
        {
            case 0:
                _actionExpiry[m] = null;
                TriggerAction a = _pendingAction[m];
                if (a.Kind == TriggerActionKind.SendPadding)
                {
                    _queue.Enqueue(new TriggerEvent(TriggerEventKind.PaddingSent, m));
                    _queue.Enqueue(new TriggerEvent(TriggerEventKind.TunnelSent));
                }
                else
                {
                    // BlockOutgoing: (re)start blocking; without replace keep the later expiry. Always BlockingBegin.
                    TimeSpan expiry = Now + a.Duration;
                    _blockingExpiry = _blockingExpiry is { } current && !a.Replace && current > expiry ? current : expiry;
                    _queue.Enqueue(new TriggerEvent(TriggerEventKind.BlockingBegin, m));
                }
                break;
            case 1:
                _timerExpiry[m] = null;
                _queue.Enqueue(new TriggerEvent(TriggerEventKind.TimerEnd, m));
                break;
            default:
                _blockingExpiry = null;
                _queue.Enqueue(new TriggerEvent(TriggerEventKind.BlockingEnd));
                break;
        }
    }

    private void Trigger(TriggerEvent e)
    {
        // Mirror the framework's accounting for this event (it happens before any transition).
        switch (e.Kind)
        {
            case TriggerEventKind.NormalSent:
                NormalSent++;
                break;
            case TriggerEventKind.PaddingSent:
                FrameworkPaddingSent++;
                PaddingSent[e.Machine]++;
                break;
            case TriggerEventKind.BlockingBegin when !_frameworkBlocking:
                _frameworkBlocking = true;
                _blockingStarted = Now;
                break;
            case TriggerEventKind.BlockingEnd when _frameworkBlocking:
                _blockedTotal += Now - _blockingStarted;
                _frameworkBlocking = false;
                break;
        }

        bool endedBefore = _f.AllMachinesEnded;
        TriggerAction[] actions = _f.TriggerEvents([e], Now).ToArray();
        Calls++;
        if (endedBefore) Assert.Empty(actions);
        Assert.True(actions.Length <= _machines.Length);
        int previous = -1;
        foreach (TriggerAction a in actions)
        {
            Assert.True(a.Machine > previous && a.Machine < _machines.Length, $"bad machine id {a.Machine}");
            previous = a.Machine;
            CheckShape(a);
            if (a.Kind == TriggerActionKind.SendPadding)
            {
                PaddingActions++;
                Assert.True(PaddingAllowed(a.Machine), $"padding for machine {a.Machine} beyond its budget");
            }
            else if (a.Kind == TriggerActionKind.BlockOutgoing)
            {
                BlockingActions++;
                Assert.True(BlockingAllowed(a.Machine, a.Replace), $"blocking for machine {a.Machine} beyond its budget");
            }
            Honour(a);
        }
        CheckPaddingBounds();
    }

    private static void CheckShape(TriggerAction a)
    {
        TimeSpan day = TimeSpan.FromDays(1);
        Assert.InRange(a.Timeout, TimeSpan.Zero, day);
        Assert.InRange(a.Duration, TimeSpan.Zero, day);
        Assert.Equal(0, a.Timeout.Ticks % TimeSpan.TicksPerMicrosecond);
        Assert.Equal(0, a.Duration.Ticks % TimeSpan.TicksPerMicrosecond);
        switch (a.Kind)
        {
            case TriggerActionKind.Cancel:
                Assert.Equal(TriggerAction.Cancel(a.Machine, a.Target), a);
                Assert.True(Enum.IsDefined(a.Target));
                break;
            case TriggerActionKind.SendPadding:
                Assert.Equal(TimeSpan.Zero, a.Duration);
                break;
            case TriggerActionKind.UpdateTimer:
                Assert.Equal(TimeSpan.Zero, a.Timeout);
                Assert.False(a.Bypass);
                break;
            case TriggerActionKind.BlockOutgoing:
                break;
            default:
                Assert.Fail($"unknown action kind {a.Kind}");
                break;
        }
    }

    /// <summary>below_limit_padding without the state limit, on this integrator's own counts.</summary>
    private bool PaddingAllowed(int m)
    {
        Machine machine = _machines[m];
        ulong p = PaddingSent[m], n = NormalSent;
        if (p < machine.AllowedPaddingPackets) return true;
        if (machine.MaxPaddingFrac > 0)
        {
            if (n + p == 0) return true;
            if ((double)p / (n + p) >= machine.MaxPaddingFrac) return false;
        }
        if (_fwPaddingFrac > 0)
        {
            ulong total = NormalSent + FrameworkPaddingSent;
            if (total == 0) return true;
            if ((double)FrameworkPaddingSent / total >= _fwPaddingFrac) return false;
        }
        return true;
    }

    /// <summary>below_limit_blocking without the state limit, on this integrator's own clock and blocking log.</summary>
    private bool BlockingAllowed(int m, bool replace)
    {
        if (replace && _frameworkBlocking) return true;
        Machine machine = _machines[m];
        // All machines start with the framework and blocking is global: machine and framework totals coincide.
        TimeSpan blocked = _blockedTotal + (_frameworkBlocking ? Now - _blockingStarted : TimeSpan.Zero);
        ulong allowedTicks = machine.AllowedBlockedMicrosec > ulong.MaxValue / 10 ? ulong.MaxValue : machine.AllowedBlockedMicrosec * 10;
        if ((ulong)blocked.Ticks < allowedTicks) return true;
        double frac = (double)blocked.Ticks / (Now - _start).Ticks;
        if (machine.MaxBlockingFrac > 0 && frac >= machine.MaxBlockingFrac) return false;
        if (_fwBlockingFrac > 0 && frac >= _fwBlockingFrac) return false;
        return true;
    }

    /// <summary>
    /// Consequences of the budget rules, independent of how actions were granted: with at most one honoured padding
    /// outstanding per machine, a machine with max_padding_frac f &gt; 0 never has more than
    /// max(allowed_padding_packets, f·(normal + padding) + 1) paddings; with all allowances 0, the framework-wide count
    /// stays below F·total + 2·machines (one outstanding grant per machine, plus one "no traffic yet" grant each).
    /// </summary>
    private void CheckPaddingBounds()
    {
        for (int m = 0; m < _machines.Length; m++)
        {
            Machine machine = _machines[m];
            if (machine.MaxPaddingFrac > 0 && machine.AllowedPaddingPackets != ulong.MaxValue)
            {
                double bound = Math.Max(machine.AllowedPaddingPackets, machine.MaxPaddingFrac * (NormalSent + PaddingSent[m]) + 1);
                Assert.True(PaddingSent[m] <= bound + 1e-9, $"machine {m}: {PaddingSent[m]} paddings, {NormalSent} normal, bound {bound}");
            }
        }
        if (_fwPaddingFrac > 0 && _machines.All(x => x.AllowedPaddingPackets == 0))
        {
            double bound = _fwPaddingFrac * (NormalSent + FrameworkPaddingSent) + 2 * _machines.Length;
            Assert.True(FrameworkPaddingSent <= bound + 1e-9, $"framework: {FrameworkPaddingSent} paddings, {NormalSent} normal, bound {bound}");
        }
    }

    private void Honour(TriggerAction a)
    {
        int m = a.Machine;
        switch (a.Kind)
        {
            case TriggerActionKind.Cancel:
                if (a.Target is MachineTimer.Action or MachineTimer.All) _actionExpiry[m] = null;
                if (a.Target is MachineTimer.Internal or MachineTimer.All) _timerExpiry[m] = null;
                break;
            case TriggerActionKind.SendPadding:
            case TriggerActionKind.BlockOutgoing:
                _actionExpiry[m] = Now + a.Timeout; // replaces any pending action
                _pendingAction[m] = a;
                break;
            case TriggerActionKind.UpdateTimer:
                TimeSpan expiry = Now + a.Duration;
                if (_timerExpiry[m] is not { } current || a.Replace || expiry > current)
                {
                    _timerExpiry[m] = expiry;
                    _queue.Enqueue(new TriggerEvent(TriggerEventKind.TimerBegin, m));
                }
                break;
        }
    }
}

public class FrameworkPropertyTests
{
    // Machines shipped by Mullvad (mullvadvpn-app dist-assets/maybenot_machines).
    private static readonly string[] s_mullvad =
    [
        "02eNptjLsNwCAQQ++yQRZImTJlRIfYBDEJA7ERJQtQ0iC+dxSIJ1mWLcv5TsLH9wMmF4KLqwkRAawk2yPR00CHX3V3j1GziWvE09NBBWg9Fjk=",
        "02eNqFjLENwCAMBP8hC2SJlKnTsVr2zBKUaVACNgiBEJxknex/Oezv9fjjRCF8mXLY4pAEbpeFJFlFqJBGA7PqWQ3spCer4l3rnvGDH6+FGlE=",
        "02eNqFjDkOgDAMBL056PkEJTVdvsY/+URKmojDmwiBUDyStbJ35DLuy5anWRrlqLTDcA0AkTXVkDt01ZAHwLFwludZeMsLLILlRRax4+lKcnrnl/8HJzqIIG0=",
        "02eNpdjr0LQVEYxt9zGES5o4myKVksFM45lEHKx0LJYDAZ5C+QRTHIaGETViYDKYPp3ijFYLj3KkmGK2WwuVwiv3rrrafnA1Jm16ijKBQ+6NRDGPJ2E0Xe6YnAD0hFD9nm/ObIHumlv4imZ3Mm8DwvtaxB0Jy1IUex0pYIIB30lhuCYkYvwW6nQFSV41R1L8vkmwlgEOONVvEaYt1SwLhdhxn8gdBgEfXU7RFmzeR9YtPPxrbqOVkLsd29XJhIJfbqRomGheLcYUWeFgxQodrq9wcP1E88/w==",
    ];

    private static Machine Parse(string s)
    {
        Assert.True(MachineCodec.TryParse(s, out Machine m, out string error), error);
        return m;
    }

    [Theory]
    [InlineData(0, 0.0, 0.0)]
    [InlineData(1, 0.0, 0.0)]
    [InlineData(2, 0.0, 0.0)]
    [InlineData(3, 0.0, 0.0)]
    [InlineData(3, 0.5, 0.5)]
    [InlineData(0, 0.1, 0.0)]
    public void MullvadMachinesRunThousandsOfEventsWithinBudget(int index, double pf, double bf)
    {
        var sim = new SimulatedIntegrator([Parse(s_mullvad[index])], pf, bf, seed: 1000 + (ulong)index);
        sim.Run(5000);
        Assert.Equal(5000, sim.Calls);
        Assert.True(sim.PaddingActions > 0, "the machine never padded");
        Assert.True(sim.NormalSent > 0);
    }

    [Fact]
    public void AllMullvadMachinesTogetherRunWithinTheFrameworkBudget()
    {
        var sim = new SimulatedIntegrator([.. s_mullvad.Select(Parse)], 0.3, 0.0, seed: 77);
        sim.Run(8000);
        Assert.True(sim.PaddingActions > 0);
        Assert.True(sim.Framework.PaddingSentPackets == sim.FrameworkPaddingSent);
    }

    [Fact]
    public void RandomValidMachinesUnderSimulatedTrafficKeepTheContractAndBudgets()
    {
        Gen.Select(MachineGen.Machine().Array[1, 3], MachineGen.Frac, MachineGen.Frac, Gen.ULong)
            .Sample((machines, pf, bf, seed) =>
            {
                var sim = new SimulatedIntegrator(machines, pf, bf, seed);
                sim.Run(300);
            }, iter: 400);
    }

    [Fact]
    public void FrameworkPaddingFractionBoundsAllMachinesTogether()
    {
        // All allowances 0, framework fraction > 0: the framework-wide bound in SimulatedIntegrator applies.
        Gen<Machine> noAllowance = MachineGen.Machine().Select(m =>
            new Machine(0, m.MaxPaddingFrac, m.AllowedBlockedMicrosec, m.MaxBlockingFrac, m.States));
        Gen.Select(noAllowance.Array[1, 4], Gen.Double[0.01, 0.9], Gen.ULong)
            .Sample((machines, pf, seed) =>
            {
                var sim = new SimulatedIntegrator(machines, pf, 0, seed);
                sim.Run(400);
            }, iter: 300);
    }

    [Fact]
    public void PaddingHeavyMachinesCannotExceedTheirFraction()
    {
        // A machine that pads after every event with timeout 0, budget fraction f and no allowance: under the integrator,
        // paddings stay within f·total + 1 at all times (checked every call), and they do happen.
        var t = new Transition[]?[Constants.EventNum];
        foreach (Event e in new[] { Event.NormalSent, Event.PaddingSent, Event.NormalRecv, Event.TunnelSent, Event.TunnelRecv })
            t[(int)e] = [new Transition(0, 1f)];
        var s0 = new State(new MachineAction.SendPadding(false, false, Dist.Uniform(0, 0), null), null, null, t);
        foreach (double f in new[] { 0.01, 0.25, 0.5, 0.9, 1.0 })
        {
            var sim = new SimulatedIntegrator([new Machine(0, f, 0, 0, [s0])], 0, 0, seed: 3);
            sim.Run(3000);
            Assert.True(sim.PaddingSent[0] > 0);
            if (f < 1.0) Assert.True(sim.PaddingSent[0] <= f * (sim.NormalSent + sim.PaddingSent[0]) + 1);
        }
    }

    private static readonly Gen<TriggerEvent> s_anyEvent =
        Gen.Select(Gen.Frequency<int>((20, Gen.Int[0, 9]), (1, Gen.Int[-3, 100])), Gen.Frequency<int>((10, Gen.Int[0, 3]), (1, Gen.Int)))
            .Select((kind, machine) => new TriggerEvent((TriggerEventKind)kind, machine));

    [Fact]
    public void ArbitraryEventBatchesNeverThrowAndYieldAtMostOneActionPerMachine()
    {
        Gen.Select(MachineGen.Machine(4).Array[0, 4], s_anyEvent.Array[0, 6].Array[1, 40], Gen.Int[0, 5000].Array[40], Gen.ULong)
            .Sample((machines, batches, gaps, seed) =>
            {
                Assert.True(Framework.TryCreate(machines, 0.5, 0.5, TimeSpan.Zero, new SeededDaitaRandom(seed), out Framework? f, out string? e), e);
                TimeSpan now = TimeSpan.Zero;
                for (int i = 0; i < batches.Length; i++)
                {
                    now += FrameworkTests.Us(gaps[i]);
                    TriggerAction[] actions = f.TriggerEvents(batches[i], now).ToArray();
                    Assert.True(actions.Length <= machines.Length);
                    for (int j = 0; j < actions.Length; j++)
                    {
                        Assert.InRange(actions[j].Machine, 0, machines.Length - 1);
                        if (j > 0) Assert.True(actions[j].Machine > actions[j - 1].Machine);
                    }
                }
            }, iter: 500);
    }

    [Fact]
    public void TimeGoingBackwardsIsTolerated()
    {
        // Not allowed by the contract, but must not throw: durations saturate at zero.
        Machine m = new(0, 0, 5, 0.5, [FrameworkTests.S(FrameworkTests.Blk(1, 1), null, null,
            (Event.BlockingBegin, 0), (Event.BlockingEnd, 0), (Event.NormalRecv, 0))]);
        Framework f = FrameworkTests.Create([m], 0.5, 0.5, now: TimeSpan.FromSeconds(10));
        f.TriggerEvents([FrameworkTests.BB(0)], TimeSpan.FromSeconds(10));
        f.TriggerEvents([FrameworkTests.BE], TimeSpan.FromSeconds(5));
        Assert.Equal(TimeSpan.Zero, f.BlockingDuration(0));
        f.TriggerEvents([FrameworkTests.NR], TimeSpan.MinValue);
        f.TriggerEvents([FrameworkTests.BB(0), FrameworkTests.BE], TimeSpan.MaxValue);
        Assert.True(f.BlockingDuration(0) >= TimeSpan.Zero);
    }
}
