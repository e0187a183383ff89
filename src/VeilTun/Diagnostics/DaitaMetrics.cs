namespace VeilTun.Diagnostics;

/// <summary>A peer's DAITA byte counters (as the <c>daita_*_bytes</c> UAPI keys).</summary>
/// <param name="RxPaddingBytes">Padding bytes received.</param>
/// <param name="TxPaddingBytes">Padding bytes sent.</param>
/// <param name="RxDecoyBytes">Decoy packet bytes received.</param>
/// <param name="TxDecoyBytes">Decoy packet bytes sent.</param>
public sealed record DaitaMetrics(long RxPaddingBytes, long TxPaddingBytes, long RxDecoyBytes, long TxDecoyBytes);
