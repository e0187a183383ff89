namespace VeilTun.Diagnostics;

/// <summary>One peer's counters in a <see cref="TunnelMetricsSnapshot"/>. A plain data holder.</summary>
public sealed class PeerMetrics
{
    /// <summary>The peer's public key in base64 (as wg(8) prints it): the <c>public_key</c> tag and label.</summary>
    public required string PublicKey { get; init; }

    /// <summary>Bytes received from the peer: whole UDP payloads, handshakes included (wg's "transfer").</summary>
    public long RxBytes { get; init; }

    /// <summary>Bytes sent to the peer: whole UDP payloads, handshakes included.</summary>
    public long TxBytes { get; init; }

    /// <summary>The last completed handshake, or null if none.</summary>
    public DateTimeOffset? LastHandshake { get; init; }

    /// <summary>DAITA counters, or null when DAITA is off for this peer.</summary>
    public DaitaMetrics? Daita { get; init; }
}
