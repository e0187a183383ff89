namespace VeilTun.Tun;

/// <summary>A link state change of a TUN device, with the MTU known at the time it was observed.</summary>
/// <param name="Kind">What changed.</param>
/// <param name="Mtu">The interface MTU in bytes when the event was raised.</param>
public readonly record struct TunEvent(TunEventKind Kind, int Mtu);
