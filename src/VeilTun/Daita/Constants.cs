namespace VeilTun.Daita;

/// <summary>Maybenot 2.2.2 constants (crates/maybenot/src/constants.rs, dist.rs).</summary>
internal static class Constants
{
    /// <summary>Machine string format version, serialized as the prefix "02".</summary>
    public const byte Version = 2;
    /// <summary>Cap on the zlib-inflated bincode size (bomb guard).</summary>
    public const int MaxDecompressedSize = 1 << 20;
    /// <summary>Number of events (transition slots per state).</summary>
    public const int EventNum = 13;
    /// <summary>Transition target meaning "machine ends" (u32::MAX).</summary>
    public const ulong StateEnd = uint.MaxValue;
    /// <summary>Transition target meaning "signal the other machines" (STATE_END - 1).</summary>
    public const ulong StateSignal = StateEnd - 1;
    /// <summary>Maximum number of states in a machine.</summary>
    public const int StateMax = 100_000;
    /// <summary>Smallest non-zero probability accepted by Binomial/Geometric.</summary>
    public const double DistMinProbability = 1e-9;
    /// <summary>Cap on a sampled SendPadding/BlockOutgoing timeout, µs (one day).</summary>
    public const double MaxSampledTimeout = 86_400_000_000.0;
    /// <summary>Cap on a sampled UpdateTimer duration, µs (one day).</summary>
    public const double MaxSampledTimerDuration = 86_400_000_000.0;
    /// <summary>Cap on a sampled BlockOutgoing duration, µs (one day).</summary>
    public const double MaxSampledBlockDuration = 86_400_000_000.0;
}
