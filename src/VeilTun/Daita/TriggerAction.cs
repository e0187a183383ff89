namespace VeilTun.Daita;

/// <summary>
/// An action the integrator MUST take, produced by <see cref="Framework.TriggerEvents"/> for machine
/// <paramref name="Machine"/> (an index). Fields not used by <paramref name="Kind"/> are zero/false/
/// <see cref="MachineTimer.Action"/>: <paramref name="Timeout"/> for SendPadding/BlockOutgoing;
/// <paramref name="Duration"/> for BlockOutgoing/UpdateTimer; <paramref name="Bypass"/> for SendPadding/BlockOutgoing;
/// <paramref name="Replace"/> for SendPadding/BlockOutgoing/UpdateTimer; <paramref name="Target"/> (the timer to stop) for Cancel.
/// Durations are whole microseconds, at most one day. Immutable value.
/// </summary>
internal readonly record struct TriggerAction(TriggerActionKind Kind, int Machine, TimeSpan Timeout, TimeSpan Duration,
    bool Bypass, bool Replace, MachineTimer Target)
{
    /// <summary>A Cancel action.</summary>
    public static TriggerAction Cancel(int machine, MachineTimer timer) =>
        new(TriggerActionKind.Cancel, machine, TimeSpan.Zero, TimeSpan.Zero, false, false, timer);

    /// <summary>A SendPadding action.</summary>
    public static TriggerAction SendPadding(int machine, TimeSpan timeout, bool bypass, bool replace) =>
        new(TriggerActionKind.SendPadding, machine, timeout, TimeSpan.Zero, bypass, replace, MachineTimer.Action);

    /// <summary>A BlockOutgoing action.</summary>
    public static TriggerAction BlockOutgoing(int machine, TimeSpan timeout, TimeSpan duration, bool bypass, bool replace) =>
        new(TriggerActionKind.BlockOutgoing, machine, timeout, duration, bypass, replace, MachineTimer.Action);

    /// <summary>An UpdateTimer action.</summary>
    public static TriggerAction UpdateTimer(int machine, TimeSpan duration, bool replace) =>
        new(TriggerActionKind.UpdateTimer, machine, TimeSpan.Zero, duration, false, replace, MachineTimer.Action);
}
