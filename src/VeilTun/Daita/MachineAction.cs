namespace VeilTun.Daita;

/// <summary>
/// A Maybenot action taken on entering a state (action.rs). Variants are nested records; the bincode variant
/// index is Cancel=0, SendPadding=1, BlockOutgoing=2, UpdateTimer=3. Immutable; thread-safe.
/// </summary>
public abstract record MachineAction
{
    private MachineAction() { }

    /// <summary>Cancel a timer.</summary>
    public sealed record Cancel(MachineTimer Timer) : MachineAction;

    /// <summary>Schedule padding after <paramref name="Timeout"/> µs; optional per-state repeat limit.</summary>
    public sealed record SendPadding(bool Bypass, bool Replace, Dist Timeout, Dist? Limit) : MachineAction;

    /// <summary>Schedule blocking for <paramref name="Duration"/> µs after <paramref name="Timeout"/> µs.</summary>
    public sealed record BlockOutgoing(bool Bypass, bool Replace, Dist Timeout, Dist Duration, Dist? Limit) : MachineAction;

    /// <summary>Set the machine's internal timer to <paramref name="Duration"/> µs.</summary>
    public sealed record UpdateTimer(bool Replace, Dist Duration, Dist? Limit) : MachineAction;

    /// <summary>action.rs validate(): every contained Dist must validate. Null if valid, else the reason.</summary>
    public string? Validate() => this switch
    {
        SendPadding p => p.Timeout.Validate() ?? p.Limit?.Validate(),
        BlockOutgoing b => b.Timeout.Validate() ?? b.Duration.Validate() ?? b.Limit?.Validate(),
        UpdateTimer u => u.Duration.Validate() ?? u.Limit?.Validate(),
        _ => null,
    };
}
