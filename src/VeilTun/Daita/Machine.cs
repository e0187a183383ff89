namespace VeilTun.Daita;

/// <summary>
/// A Maybenot machine (machine.rs; wire order = property order). State 0 is the start state.
/// Treat as immutable once built; thread-safe for reads.
/// </summary>
internal sealed class Machine
{
    /// <summary>Creates a machine (not validated; call <see cref="Validate"/>).</summary>
    public Machine(ulong allowedPaddingPackets, double maxPaddingFrac, ulong allowedBlockedMicrosec,
        double maxBlockingFrac, IReadOnlyList<State> states)
    {
        ArgumentNullException.ThrowIfNull(states);
        AllowedPaddingPackets = allowedPaddingPackets;
        MaxPaddingFrac = maxPaddingFrac;
        AllowedBlockedMicrosec = allowedBlockedMicrosec;
        MaxBlockingFrac = maxBlockingFrac;
        States = states;
    }

    /// <summary>Padding packets allowed before <see cref="MaxPaddingFrac"/> applies.</summary>
    public ulong AllowedPaddingPackets { get; }
    /// <summary>Max fraction of padding packets; 0 = no limit.</summary>
    public double MaxPaddingFrac { get; }
    /// <summary>Microseconds of blocking allowed before <see cref="MaxBlockingFrac"/> applies (may be u64::MAX).</summary>
    public ulong AllowedBlockedMicrosec { get; }
    /// <summary>Max fraction of time blocked; 0 = no limit.</summary>
    public double MaxBlockingFrac { get; }
    /// <summary>The states; index 0 is the start state.</summary>
    public IReadOnlyList<State> States { get; }

    /// <summary>
    /// machine.rs validate(): fracs not &lt; 0 or &gt; 1 (NaN passes, as in Rust), 1..=100 000 states, every state
    /// valid. Returns null if valid, else the reason.
    /// </summary>
    public string? Validate()
    {
        if (MaxPaddingFrac < 0.0 || MaxPaddingFrac > 1.0)
            return $"max_padding_frac has to be [0.0, 1.0], got {MaxPaddingFrac}";
        if (MaxBlockingFrac < 0.0 || MaxBlockingFrac > 1.0)
            return $"max_blocking_frac has to be [0.0, 1.0], got {MaxBlockingFrac}";
        if (States.Count == 0) return "a machine must have at least one state";
        if (States.Count > Constants.StateMax) return $"too many states, max is {Constants.StateMax}";
        for (int i = 0; i < States.Count; i++)
        {
            string? err = States[i].Validate(States.Count);
            if (err is not null) return $"state {i}: {err}";
        }
        return null;
    }
}
