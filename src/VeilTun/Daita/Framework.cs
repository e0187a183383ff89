using System.Diagnostics.CodeAnalysis;

namespace VeilTun.Daita;

/// <summary>
/// The Maybenot 2.2.2 framework runtime (crates/maybenot/src/framework.rs): runs zero or more <see cref="Machine"/>s
/// over a stream of <see cref="TriggerEvent"/>s and returns the <see cref="TriggerAction"/>s the integrator must take,
/// enforcing per-machine and framework-wide padding/blocking budgets. Semantics, quirks included, follow the Rust crate
/// (counter_zeroed_once is framework-wide; limits decrement only on self-loops; a padding check with no traffic yet
/// passes without looking at the state limit; one signal delivery per call).
/// <para>
/// Time is a caller-supplied monotonic <see cref="TimeSpan"/> (any epoch, e.g. <c>Stopwatch</c> based), resolution
/// one tick (100 ns). Blocking budgets are kept as saturating unsigned tick counts, so a machine's
/// allowed_blocked_microsec of u64::MAX ("unlimited") never overflows.
/// </para>
/// <para>
/// Not thread-safe: one instance per peer, driven by one thread at a time. <see cref="TriggerEvents"/> allocates
/// nothing; all buffers are sized by the machine count at creation.
/// </para>
/// </summary>
internal sealed class Framework
{
    private const int EndState = -1;    // STATE_END as stored in Runtime.CurrentState
    private const int SignalNone = -2;  // _signalPending: none; SignalAll: all machines; i >= 0: all except i
    private const int SignalAll = -1;

    private struct Runtime
    {
        public int CurrentState;
        public ulong StateLimit;
        public ulong PaddingSent;
        public ulong NormalSent;
        public ulong BlockingTicks;
        public long MachineStart;
        public ulong AllowedBlockedTicks;
        public ulong CounterA;
        public ulong CounterB;
    }

    private readonly Machine[] _machines;
    private readonly State[][] _states;
    private readonly Runtime[] _runtime;
    private readonly TriggerAction[] _actions;
    private readonly bool[] _hasAction;
    private readonly TriggerAction[] _output;
    private readonly IDaitaRandom _rng;
    private readonly double _maxPaddingFrac;
    private readonly double _maxBlockingFrac;
    private readonly long _frameworkStart;

    private long _now;
    private ulong _normalSentPackets;
    private ulong _paddingSentPackets;
    private ulong _blockingTicks;
    private long _blockingStarted;
    private bool _blockingActive;
    private int _signalPending = SignalNone;
    private bool _counterZeroedOnceA;
    private bool _counterZeroedOnceB;

    private Framework(Machine[] machines, double maxPaddingFrac, double maxBlockingFrac, TimeSpan now, IDaitaRandom random)
    {
        _machines = machines;
        _maxPaddingFrac = maxPaddingFrac;
        _maxBlockingFrac = maxBlockingFrac;
        _rng = random;
        _now = _frameworkStart = _blockingStarted = now.Ticks;
        int n = machines.Length;
        _states = new State[n][];
        _runtime = new Runtime[n];
        _actions = new TriggerAction[n];
        _hasAction = new bool[n];
        _output = new TriggerAction[n];
        for (int i = 0; i < n; i++)
        {
            _states[i] = [.. machines[i].States];
            _runtime[i] = new Runtime
            {
                MachineStart = now.Ticks,
                AllowedBlockedTicks = MicrosToTicksSaturating(machines[i].AllowedBlockedMicrosec),
            };
        }
        // framework.rs new(): initial limit only if state 0 has an action (else 0), sampled in machine order.
        for (int i = 0; i < n; i++)
        {
            if (_states[i][0].Action is { } action) _runtime[i].StateLimit = action.SampleLimit(_rng);
        }
    }

    /// <summary>
    /// framework.rs <c>Framework::new</c>: validates both fractions (must lie in [0, 1]; NaN rejected) and every machine
    /// (<see cref="Machine.Validate"/>), then starts all machines in state 0 at <paramref name="now"/>.
    /// The machines are read, not copied deeply: do not mutate them afterwards. <paramref name="random"/> is owned by
    /// the framework from now on (it is not thread-safe either). Returns false with a reason on invalid input.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="machines"/> or <paramref name="random"/> is null.</exception>
    public static bool TryCreate(IReadOnlyList<Machine> machines, double maxPaddingFrac, double maxBlockingFrac,
        TimeSpan now, IDaitaRandom random, [NotNullWhen(true)] out Framework? framework,
        [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(machines);
        ArgumentNullException.ThrowIfNull(random);
        framework = null;
        if (!(maxPaddingFrac >= 0.0 && maxPaddingFrac <= 1.0))
        {
            error = $"max_padding_frac must be in [0.0, 1.0], got {maxPaddingFrac}";
            return false;
        }
        if (!(maxBlockingFrac >= 0.0 && maxBlockingFrac <= 1.0))
        {
            error = $"max_blocking_frac must be in [0.0, 1.0], got {maxBlockingFrac}";
            return false;
        }
        var copy = new Machine[machines.Count];
        for (int i = 0; i < copy.Length; i++)
        {
            Machine? m = machines[i];
            if (m is null) { error = $"machine {i} is null"; return false; }
            if (m.Validate() is { } reason) { error = $"machine {i}: {reason}"; return false; }
            copy[i] = m;
        }
        framework = new Framework(copy, maxPaddingFrac, maxBlockingFrac, now, random);
        error = null;
        return true;
    }

    /// <summary>Number of machines (machine ids are 0 .. MachineCount − 1).</summary>
    public int MachineCount => _machines.Length;

    /// <summary>
    /// True when every machine is in the end state (vacuously true with no machines): the framework will never act
    /// again and may be dropped once pending actions have played out.
    /// </summary>
    public bool AllMachinesEnded
    {
        get
        {
            foreach (ref readonly Runtime rt in _runtime.AsSpan())
            {
                if (rt.CurrentState != EndState) return false;
            }
            return true;
        }
    }

    /// <summary>
    /// framework.rs <c>trigger_events</c>: processes <paramref name="events"/> in order at time <paramref name="now"/>
    /// (monotonic, never earlier than a previous call or creation), then delivers at most one pending signal, and
    /// returns at most one action per machine, in machine-index order (a later event may overwrite a machine's earlier
    /// action within the call). The returned span is an internal buffer valid only until the next call. Out-of-range
    /// machine ids: PaddingSent still counts towards the framework's padding total, BlockingBegin still acts globally,
    /// TimerBegin/TimerEnd are ignored; nothing throws. Allocation-free.
    /// </summary>
    public ReadOnlySpan<TriggerAction> TriggerEvents(ReadOnlySpan<TriggerEvent> events, TimeSpan now)
    {
        Array.Clear(_hasAction);
        _counterZeroedOnceA = _counterZeroedOnceB = false;
        _now = now.Ticks;
        foreach (TriggerEvent e in events) ProcessEvent(e);

        // At most one signal delivery per call (framework.rs): the pending signal is consumed here.
        if (_signalPending != SignalNone)
        {
            int excluded = _signalPending; // >= 0: the sender, SignalAll: none excluded
            _signalPending = SignalNone;
            for (int mi = 0; mi < _runtime.Length; mi++)
            {
                if (mi != excluded) Transition(mi, Event.Signal);
            }
            // A signal raised during delivery must come from another machine, so the excluded sender gets it too;
            // with All it is dropped. A signal raised by this last transition stays pending for the next call.
            if (_signalPending != SignalNone)
            {
                _signalPending = SignalNone;
                if (excluded >= 0) Transition(excluded, Event.Signal);
            }
        }

        int count = 0;
        for (int i = 0; i < _hasAction.Length; i++)
        {
            if (_hasAction[i]) _output[count++] = _actions[i];
        }
        return _output.AsSpan(0, count);
    }

    private void ProcessEvent(TriggerEvent e)
    {
        int n = _runtime.Length;
        switch (e.Kind)
        {
            case TriggerEventKind.NormalRecv:
                for (int mi = 0; mi < n; mi++) Transition(mi, Event.NormalRecv);
                break;
            case TriggerEventKind.PaddingRecv:
                for (int mi = 0; mi < n; mi++) Transition(mi, Event.PaddingRecv);
                break;
            case TriggerEventKind.TunnelRecv:
                for (int mi = 0; mi < n; mi++) Transition(mi, Event.TunnelRecv);
                break;
            case TriggerEventKind.TunnelSent:
                // Accounting is on normal/padding sent, not tunnel sent.
                for (int mi = 0; mi < n; mi++) Transition(mi, Event.TunnelSent);
                break;
            case TriggerEventKind.NormalSent:
                _normalSentPackets = SaturatingAdd(_normalSentPackets, 1);
                for (int mi = 0; mi < n; mi++)
                {
                    _runtime[mi].NormalSent = SaturatingAdd(_runtime[mi].NormalSent, 1);
                    Transition(mi, Event.NormalSent);
                }
                break;
            case TriggerEventKind.PaddingSent:
                {
                    _paddingSentPackets = SaturatingAdd(_paddingSentPackets, 1); // counted even for an unknown machine
                    int mi = e.Machine;
                    if ((uint)mi >= (uint)n) break;
                    _runtime[mi].PaddingSent = SaturatingAdd(_runtime[mi].PaddingSent, 1);
                    // The limit counts confirmations while self-looping; a real state change resamples it.
                    if (!Transition(mi, Event.PaddingSent) && _runtime[mi].CurrentState != EndState) DecrementLimit(mi);
                    break;
                }
            case TriggerEventKind.BlockingBegin:
                if (!_blockingActive)
                {
                    _blockingActive = true;
                    _blockingStarted = _now;
                }
                // Blocking is global: every machine sees it; only the one that caused it decrements its limit.
                for (int mi = 0; mi < n; mi++)
                {
                    if (!Transition(mi, Event.BlockingBegin) && _runtime[mi].CurrentState != EndState && mi == e.Machine)
                        DecrementLimit(mi);
                }
                break;
            case TriggerEventKind.BlockingEnd:
                {
                    ulong blocked = 0;
                    if (_blockingActive)
                    {
                        blocked = TicksSince(_blockingStarted);
                        _blockingTicks = SaturatingAdd(_blockingTicks, blocked);
                        _blockingActive = false;
                    }
                    for (int mi = 0; mi < n; mi++)
                    {
                        // Every machine was blocked for the same time.
                        if (blocked != 0) _runtime[mi].BlockingTicks = SaturatingAdd(_runtime[mi].BlockingTicks, blocked);
                        Transition(mi, Event.BlockingEnd);
                    }
                    break;
                }
            case TriggerEventKind.TimerBegin:
                {
                    int mi = e.Machine;
                    if ((uint)mi >= (uint)n) break;
                    if (!Transition(mi, Event.TimerBegin) && _runtime[mi].CurrentState != EndState) DecrementLimit(mi);
                    break;
                }
            case TriggerEventKind.TimerEnd:
                {
                    int mi = e.Machine;
                    if ((uint)mi >= (uint)n) break;
                    Transition(mi, Event.TimerEnd);
                    break;
                }
        }
    }

    /// <summary>framework.rs <c>transition</c>: true = StateChange::Changed.</summary>
    private bool Transition(int mi, Event e)
    {
        ref Runtime rt = ref _runtime[mi];
        if (rt.CurrentState == EndState) return false;

        State[] states = _states[mi];
        if (!states[rt.CurrentState].TrySampleNext(e, _rng, out ulong target)) return false;

        if (target == Constants.StateEnd)
        {
            // A state change, but pending actions are neither cancelled nor replaced.
            rt.CurrentState = EndState;
            return true;
        }
        if (target == Constants.StateSignal)
        {
            // Not a state change: signal the other machines (all of them if another signal is already pending).
            _signalPending = _signalPending == SignalNone ? mi : SignalAll;
            return false;
        }

        int next = (int)target; // validated: < state count
        int current = rt.CurrentState;
        if (current != next)
        {
            rt.CurrentState = next;
            rt.StateLimit = states[next].Action is { } action ? action.SampleLimit(_rng) : ulong.MaxValue;
        }

        // Limits are judged before the counter update; the counter update may recurse via CounterZero, and an action
        // scheduled by that recursion must not be overwritten (allow is false then). Two chained transitions out of
        // and back into a state count as a change, so no limit is decremented prematurely.
        bool belowLimits = BelowActionLimits(mi);
        (bool allowSchedule, bool counterChanged) = UpdateCounter(mi);
        if (allowSchedule && belowLimits) ScheduleAction(mi, next);

        return !(current == rt.CurrentState && !counterChanged);
    }

    /// <summary>framework.rs <c>update_counter</c>: (allow scheduling, state changed by a CounterZero transition).</summary>
    private (bool Allow, bool Changed) UpdateCounter(int mi)
    {
        ref Runtime rt = ref _runtime[mi];
        State state = _states[mi][rt.CurrentState];
        ulong oldA = rt.CounterA, oldB = rt.CounterB;
        bool anyZeroed = false;

        if (state.CounterA is { } a)
        {
            ulong change = a.Copy ? oldB : a.SampleValue(_rng);
            rt.CounterA = Apply(a.Operation, rt.CounterA, change);
            // Each counter may raise CounterZero once per TriggerEvents call, framework-wide; this bounds recursion.
            if (oldA != 0 && rt.CounterA == 0 && !_counterZeroedOnceA)
            {
                anyZeroed = true;
                _counterZeroedOnceA = true;
            }
        }
        if (state.CounterB is { } b)
        {
            ulong change = b.Copy ? oldA : b.SampleValue(_rng);
            rt.CounterB = Apply(b.Operation, rt.CounterB, change);
            if (oldB != 0 && rt.CounterB == 0 && !_counterZeroedOnceB)
            {
                anyZeroed = true;
                _counterZeroedOnceB = true;
            }
        }

        if (anyZeroed)
        {
            bool changed = Transition(mi, Event.CounterZero);
            return (!_hasAction[mi], changed);
        }
        return (true, false);
    }

    private static ulong Apply(CounterOperation op, ulong value, ulong change) => op switch
    {
        CounterOperation.Increment => SaturatingAdd(value, change),
        CounterOperation.Decrement => value > change ? value - change : 0,
        _ => change, // Set
    };

    /// <summary>framework.rs <c>schedule_action</c>: writes this call's action for machine <paramref name="mi"/>.</summary>
    private void ScheduleAction(int mi, int stateIndex)
    {
        switch (_states[mi][stateIndex].Action)
        {
            case MachineAction.Cancel c:
                Set(mi, TriggerAction.Cancel(mi, c.Target));
                break;
            case MachineAction.SendPadding p:
                Set(mi, TriggerAction.SendPadding(mi, FromMicros(p.SampleTimeout(_rng)), p.Bypass, p.Replace));
                break;
            case MachineAction.BlockOutgoing b:
                {
                    // RNG order as in Rust: timeout, then duration.
                    TimeSpan timeout = FromMicros(b.SampleTimeout(_rng));
                    TimeSpan duration = FromMicros(b.SampleDuration(_rng));
                    Set(mi, TriggerAction.BlockOutgoing(mi, timeout, duration, b.Bypass, b.Replace));
                    break;
                }
            case MachineAction.UpdateTimer u:
                Set(mi, TriggerAction.UpdateTimer(mi, FromMicros(u.SampleDuration(_rng)), u.Replace));
                break;
            default:
                _hasAction[mi] = false;
                break;
        }
    }

    private void Set(int mi, TriggerAction action)
    {
        _actions[mi] = action;
        _hasAction[mi] = true;
    }

    /// <summary>framework.rs <c>decrement_limit</c>.</summary>
    private void DecrementLimit(int mi)
    {
        ref Runtime rt = ref _runtime[mi];
        if (rt.StateLimit > 0) rt.StateLimit--;
        if (_states[mi][rt.CurrentState].Action is { HasLimit: true } && rt.StateLimit == 0)
        {
            // Take no action and raise LimitReached.
            _hasAction[mi] = false;
            Transition(mi, Event.LimitReached);
        }
    }

    /// <summary>framework.rs <c>below_action_limits</c>, for the machine's current state.</summary>
    private bool BelowActionLimits(int mi) => _states[mi][_runtime[mi].CurrentState].Action switch
    {
        null => false,
        MachineAction.BlockOutgoing b => BelowLimitBlocking(mi, b.Replace),
        MachineAction.SendPadding => BelowLimitPadding(mi),
        MachineAction.UpdateTimer => _runtime[mi].StateLimit > 0,
        _ => true, // Cancel is never limited
    };

    private bool BelowLimitBlocking(int mi, bool replace)
    {
        ref readonly Runtime rt = ref _runtime[mi];
        // Replacing ongoing blocking is always allowed (machine-internal state limit aside).
        if (replace && _blockingActive) return rt.StateLimit > 0;

        ulong machineBlocked = rt.BlockingTicks, frameworkBlocked = _blockingTicks;
        if (_blockingActive)
        {
            ulong ongoing = TicksSince(_blockingStarted);
            machineBlocked = SaturatingAdd(machineBlocked, ongoing);
            frameworkBlocked = SaturatingAdd(frameworkBlocked, ongoing);
        }

        // The machine's allowance bypasses both fractions.
        if (machineBlocked < rt.AllowedBlockedTicks) return rt.StateLimit > 0;

        // Duration ratios as in Rust's div_duration_f64: 0/0 = NaN (passes), x/0 = +inf (fails).
        double machineFrac = _machines[mi].MaxBlockingFrac;
        if (machineFrac > 0.0 && (double)machineBlocked / TicksSince(rt.MachineStart) >= machineFrac) return false;
        if (_maxBlockingFrac > 0.0 && (double)frameworkBlocked / TicksSince(_frameworkStart) >= _maxBlockingFrac) return false;

        return rt.StateLimit > 0;
    }

    private bool BelowLimitPadding(int mi)
    {
        ref readonly Runtime rt = ref _runtime[mi];
        Machine m = _machines[mi];
        // The machine's allowance bypasses both fractions.
        if (rt.PaddingSent < m.AllowedPaddingPackets) return rt.StateLimit > 0;

        if (m.MaxPaddingFrac > 0.0)
        {
            // Plain (wrapping) u64 addition as in Rust release builds; unreachable at one increment per packet.
            ulong total = unchecked(rt.NormalSent + rt.PaddingSent);
            if (total == 0) return true; // framework.rs quirk: skips the framework fraction and the state limit
            if ((double)rt.PaddingSent / total >= m.MaxPaddingFrac) return false;
        }
        if (_maxPaddingFrac > 0.0)
        {
            ulong total = unchecked(_paddingSentPackets + _normalSentPackets);
            if (total == 0) return true; // same quirk
            if ((double)_paddingSentPackets / total >= _maxPaddingFrac) return false;
        }
        return rt.StateLimit > 0;
    }

    // ---- time and arithmetic helpers ----

    /// <summary>Saturating <c>now − earlier</c> in ticks (0 if the clock went backwards).</summary>
    private ulong TicksSince(long earlier) => _now > earlier ? unchecked((ulong)_now - (ulong)earlier) : 0;

    private static ulong SaturatingAdd(ulong a, ulong b)
    {
        ulong s = unchecked(a + b);
        return s < a ? ulong.MaxValue : s;
    }

    private static ulong MicrosToTicksSaturating(ulong micros) =>
        micros > ulong.MaxValue / TimeSpan.TicksPerMicrosecond ? ulong.MaxValue : micros * TimeSpan.TicksPerMicrosecond;

    /// <summary>Whole microseconds to a TimeSpan; inputs are capped at one day by the samplers.</summary>
    private static TimeSpan FromMicros(ulong micros)
    {
        const ulong maxMicros = (ulong)(long.MaxValue / TimeSpan.TicksPerMicrosecond);
        return new TimeSpan((long)Math.Min(micros, maxMicros) * TimeSpan.TicksPerMicrosecond);
    }

    private static TimeSpan TicksToTimeSpan(ulong ticks) => new((long)Math.Min(ticks, (ulong)long.MaxValue));

    // ---- inspection (tests, diagnostics); machine must be in range ----

    /// <summary>Current state index of machine <paramref name="machine"/>, or <see cref="Constants.StateEnd"/>.</summary>
    internal ulong CurrentState(int machine)
    {
        int s = _runtime[machine].CurrentState;
        return s == EndState ? Constants.StateEnd : (ulong)s;
    }

    /// <summary>Remaining action limit of the machine's current state (u64::MAX = none).</summary>
    internal ulong StateLimit(int machine) => _runtime[machine].StateLimit;

    /// <summary>Counter A of the machine.</summary>
    internal ulong CounterA(int machine) => _runtime[machine].CounterA;

    /// <summary>Counter B of the machine.</summary>
    internal ulong CounterB(int machine) => _runtime[machine].CounterB;

    /// <summary>PaddingSent events counted for the machine.</summary>
    internal ulong PaddingSent(int machine) => _runtime[machine].PaddingSent;

    /// <summary>NormalSent events counted for the machine.</summary>
    internal ulong NormalSent(int machine) => _runtime[machine].NormalSent;

    /// <summary>Completed blocking time accounted to the machine (ongoing blocking excluded).</summary>
    internal TimeSpan BlockingDuration(int machine) => TicksToTimeSpan(_runtime[machine].BlockingTicks);

    /// <summary>When the machine started (the creation time).</summary>
    internal TimeSpan MachineStart(int machine) => new(_runtime[machine].MachineStart);

    /// <summary>Framework-wide NormalSent count.</summary>
    internal ulong NormalSentPackets => _normalSentPackets;

    /// <summary>Framework-wide PaddingSent count (including unknown machine ids).</summary>
    internal ulong PaddingSentPackets => _paddingSentPackets;

    /// <summary>Framework-wide completed blocking time.</summary>
    internal TimeSpan TotalBlockingDuration => TicksToTimeSpan(_blockingTicks);

    /// <summary>Whether blocking is active (between BlockingBegin and BlockingEnd).</summary>
    internal bool BlockingActive => _blockingActive;
}
