namespace VeilTun.Daita;

/// <summary>Kinds of <see cref="TriggerAction"/> (maybenot 2.2.2 action.rs <c>TriggerAction</c>).</summary>
internal enum TriggerActionKind
{
    /// <summary>Cancel the machine's action timer, internal timer, or both (<see cref="TriggerAction.Target"/>).</summary>
    Cancel,
    /// <summary>Send a padding packet after <see cref="TriggerAction.Timeout"/> (replaces the pending action timer).</summary>
    SendPadding,
    /// <summary>After <see cref="TriggerAction.Timeout"/>, block outgoing traffic for <see cref="TriggerAction.Duration"/>.</summary>
    BlockOutgoing,
    /// <summary>Set the machine's internal timer to <see cref="TriggerAction.Duration"/>.</summary>
    UpdateTimer,
}
