namespace VeilTun.Daita;

/// <summary>
/// A machine state (state.rs, wire order action, counter (A, B), transitions). <see cref="Transitions"/> has
/// exactly <see cref="Constants.EventNum"/> slots indexed by <see cref="Event"/>; a null slot means "no transitions
/// on this event" (an empty, non-null slot is invalid, as in Rust). Treat as immutable once built; thread-safe for reads.
/// </summary>
internal sealed class State
{
    /// <summary>Creates a state; <paramref name="transitions"/> must have 13 slots (null = none).</summary>
    public State(MachineAction? action, Counter? counterA, Counter? counterB, Transition[]?[] transitions)
    {
        ArgumentNullException.ThrowIfNull(transitions);
        if (transitions.Length != Constants.EventNum)
            throw new ArgumentException($"expected {Constants.EventNum} transition slots", nameof(transitions));
        Action = action;
        CounterA = counterA;
        CounterB = counterB;
        Transitions = transitions;
        _transitions = transitions;
    }

    private readonly Transition[]?[] _transitions;

    /// <summary>Action taken on entering this state, if any.</summary>
    public MachineAction? Action { get; }
    /// <summary>Update of counter A on entering this state, if any.</summary>
    public Counter? CounterA { get; }
    /// <summary>Update of counter B on entering this state, if any.</summary>
    public Counter? CounterB { get; }
    /// <summary>Per-event transition lists (13 slots, index = <see cref="Event"/>).</summary>
    public IReadOnlyList<Transition[]?> Transitions { get; }

    /// <summary>Transitions on <paramref name="e"/>, or null.</summary>
    public Transition[]? On(Event e) => Transitions[(int)e];

    /// <summary>
    /// state.rs <c>sample_state(event)</c>: with a transition list for <paramref name="e"/>, draws ONE uniform f32 r in
    /// [0, 1) (rand 0.9 <c>random_range(0.0..1.0)</c>: multiples of 2^-23) and returns the first target whose f32 running probability sum exceeds r; false (no transition) if the
    /// probabilities run out (they may sum to less than 1). Without a list draws nothing and returns false.
    /// <paramref name="next"/> is a state index, <see cref="Constants.StateEnd"/> or <see cref="Constants.StateSignal"/>.
    /// Allocation-free.
    /// </summary>
    public bool TrySampleNext(Event e, IDaitaRandom random, out ulong next)
    {
        Transition[]? list = (uint)e < (uint)_transitions.Length ? _transitions[(int)e] : null;
        if (list is not null)
        {
            float r = random.NextSingleRange();
            float sum = 0f;
            foreach (Transition t in list)
            {
                sum += t.Probability;
                if (r < sum)
                {
                    next = t.Target;
                    return true;
                }
            }
        }
        next = 0;
        return false;
    }

    /// <summary>
    /// state.rs validate(num_states): targets in range (or END/SIGNAL), no duplicates, each p and the f32 sum in
    /// (0, 1] (Rust comparisons, so NaN passes), then the action's and counters' dists. Null if valid.
    /// </summary>
    public string? Validate(int numStates)
    {
        for (int ev = 0; ev < Constants.EventNum; ev++)
        {
            Transition[]? list = Transitions[ev];
            if (list is null) continue;
            float sum = 0f;
            var seen = new HashSet<ulong>();
            foreach (Transition t in list)
            {
                if (t.Target >= (ulong)numStates && t.Target != Constants.StateEnd && t.Target != Constants.StateSignal)
                    return $"found out-of-bounds state index {t.Target} for {(Event)ev}";
                if (!seen.Add(t.Target))
                    return $"found duplicate state index {t.Target} for {(Event)ev}";
                if (t.Probability <= 0f || t.Probability > 1f)
                    return $"found probability {t.Probability}, has to be (0.0, 1.0]";
                sum += t.Probability;
            }
            if (sum <= 0f || sum > 1f)
                return $"found invalid total probability {sum} for {(Event)ev}, must be (0.0, 1.0]";
        }
        return Action?.Validate() ?? CounterA?.Dist?.Validate() ?? CounterB?.Dist?.Validate();
    }
}
