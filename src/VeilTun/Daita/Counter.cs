namespace VeilTun.Daita;

/// <summary>
/// Counter update applied on entering a state (counter.rs; wire order operation, dist, copy).
/// <paramref name="Dist"/> null means the value 1; <paramref name="Copy"/> uses the other counter's value instead.
/// Immutable; thread-safe.
/// </summary>
public sealed record Counter(CounterOperation Operation, Dist? Dist, bool Copy);
