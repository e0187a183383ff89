using VeilTun.Crypto;

namespace VeilTun.Device;

/// <summary>What a <see cref="TunnelEvent"/> reports.</summary>
public enum TunnelEventKind
{
    HandshakeCompleted,
    EndpointChanged,
    Up,
    Down,
    MtuChanged,
    /// <summary>The TUN went away (interface deleted): the tunnel has stopped.</summary>
    Closed,
    Error,
}

/// <summary>An event from a running tunnel, delivered on the tunnel's event thread.</summary>
public readonly record struct TunnelEvent(TunnelEventKind Kind, PublicKey? Peer = null, string? Message = null);

/// <summary>A snapshot of one peer's counters.</summary>
public readonly record struct PeerStats(PublicKey PublicKey, string Endpoint, DateTimeOffset? LastHandshake, long RxBytes, long TxBytes);
