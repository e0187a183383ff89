namespace VeilTun.Tun;

/// <summary>A link state change of a TUN device, with the MTU known at the time it was observed.</summary>
/// <param name="Kind">What changed.</param>
/// <param name="Mtu">The interface MTU in bytes when the event was raised.</param>
/// <param name="Detail">For <see cref="TunEventKind.Watching"/> and <see cref="TunEventKind.WatchDegraded"/>: how
/// the device now follows its interface, in words for a log; null for the other kinds.</param>
public readonly record struct TunEvent(TunEventKind Kind, int Mtu, string? Detail = null);
