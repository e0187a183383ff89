namespace VeilTun.Daita;

/// <summary>
/// Kinds of <see cref="TriggerEvent"/> an integrator reports to the <see cref="Framework"/> (maybenot 2.2.2
/// lib.rs <c>TriggerEvent</c>; trace codes rn rp rt sn sp st bb be tb te).
/// </summary>
internal enum TriggerEventKind
{
    /// <summary>A normal (non-padding) packet was received, after decryption/classification.</summary>
    NormalRecv,
    /// <summary>A padding packet was received.</summary>
    PaddingRecv,
    /// <summary>Any packet arrived on the tunnel.</summary>
    TunnelRecv,
    /// <summary>A normal packet was queued for sending.</summary>
    NormalSent,
    /// <summary>A padding packet of machine <see cref="TriggerEvent.Machine"/> was queued for sending.</summary>
    PaddingSent,
    /// <summary>Any packet went out on the tunnel.</summary>
    TunnelSent,
    /// <summary>Blocking began or was extended because of machine <see cref="TriggerEvent.Machine"/>.</summary>
    BlockingBegin,
    /// <summary>Blocking ended.</summary>
    BlockingEnd,
    /// <summary>Machine <see cref="TriggerEvent.Machine"/>'s internal timer was started or updated.</summary>
    TimerBegin,
    /// <summary>Machine <see cref="TriggerEvent.Machine"/>'s internal timer expired.</summary>
    TimerEnd,
}
