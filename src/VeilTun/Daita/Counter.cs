namespace VeilTun.Daita;

/// <summary>
/// Counter update applied on entering a state (counter.rs; wire order operation, dist, copy).
/// <paramref name="Dist"/> null means the value 1; <paramref name="Copy"/> uses the other counter's value instead.
/// Immutable; thread-safe.
/// </summary>
internal sealed record Counter(CounterOperation Operation, Dist? Dist, bool Copy)
{
    /// <summary>
    /// counter.rs <c>sample_value()</c> (the <see cref="Copy"/> case is the framework's): 1 without a dist; else the
    /// sample truncated (not rounded) to u64 — non-finite or negative → 0, above u64::MAX → u64::MAX.
    /// </summary>
    public ulong SampleValue(IDaitaRandom random)
    {
        if (Dist is null) return 1;
        double v = Dist.Sample(random);
        if (!double.IsFinite(v) || v < 0.0) return 0;
        return DistSampler.SaturatingToUInt64(v);
    }
}
