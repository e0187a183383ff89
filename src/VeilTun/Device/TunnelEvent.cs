using VeilTun.Crypto;

namespace VeilTun.Device;

/// <summary>What a <see cref="TunnelEvent"/> reports.</summary>
public enum TunnelEventKind
{
    /// <summary>A handshake with <see cref="TunnelEvent.Peer"/> completed: a new session is in use.</summary>
    HandshakeCompleted,
    /// <summary>A peer roamed: <see cref="TunnelEvent.Message"/> is its new endpoint.</summary>
    EndpointChanged,
    /// <summary>The interface went up: packets flow.</summary>
    Up,
    /// <summary>The interface went down: packets are dropped until it is up again.</summary>
    Down,
    /// <summary>The TUN's MTU changed: <see cref="TunnelEvent.Message"/> is the new MTU.</summary>
    MtuChanged,
    /// <summary>The TUN went away (interface deleted): the tunnel has stopped.</summary>
    Closed,
    /// <summary>Something failed that the tunnel cannot fix itself (e.g. binding the UDP port): see the message.</summary>
    Error,
}

/// <summary>An event from a running tunnel, delivered on the tunnel's event thread.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Peer">The peer it concerns, for peer events.</param>
/// <param name="Message">Details in text (the new endpoint or MTU, an error's reason), when there are any.</param>
public readonly record struct TunnelEvent(TunnelEventKind Kind, PublicKey? Peer = null, string? Message = null);

/// <summary>A snapshot of one peer's counters.</summary>
/// <param name="PublicKey">The peer's public key.</param>
/// <param name="Endpoint">Its current endpoint as <c>address:port</c>, or "(none)".</param>
/// <param name="LastHandshake">When the last handshake with it completed; null if none has.</param>
/// <param name="RxBytes">Bytes received from it (WireGuard datagrams, as <c>wg show</c> counts).</param>
/// <param name="TxBytes">Bytes sent to it.</param>
public readonly record struct PeerStats(PublicKey PublicKey, string Endpoint, DateTimeOffset? LastHandshake, long RxBytes, long TxBytes);
