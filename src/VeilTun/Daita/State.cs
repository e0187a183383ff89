namespace VeilTun.Daita;

/// <summary>
/// A machine state (state.rs, wire order action, counter (A, B), transitions). <see cref="Transitions"/> has
/// exactly <see cref="Constants.EventNum"/> slots indexed by <see cref="Event"/>; a null slot means "no transitions
/// on this event" (an empty, non-null slot is invalid, as in Rust). Treat as immutable once built; thread-safe for reads.
/// </summary>
public sealed class State
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
    }

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
