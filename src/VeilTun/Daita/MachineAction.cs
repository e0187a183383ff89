namespace VeilTun.Daita;

/// <summary>
/// A Maybenot action taken on entering a state (action.rs). Variants are nested records; the bincode variant
/// index is Cancel=0, SendPadding=1, BlockOutgoing=2, UpdateTimer=3. Immutable; thread-safe.
/// </summary>
internal abstract record MachineAction
{
    private MachineAction() { }

    /// <summary>Cancel a timer: <paramref name="Target"/> says which (action, internal or both).</summary>
    public sealed record Cancel(MachineTimer Target) : MachineAction;

    /// <summary>Schedule padding after <paramref name="Timeout"/> µs; optional per-state repeat limit.</summary>
    public sealed record SendPadding(bool Bypass, bool Replace, Dist Timeout, Dist? Limit) : MachineAction;

    /// <summary>Schedule blocking for <paramref name="Duration"/> µs after <paramref name="Timeout"/> µs.</summary>
    public sealed record BlockOutgoing(bool Bypass, bool Replace, Dist Timeout, Dist Duration, Dist? Limit) : MachineAction;

    /// <summary>Set the machine's internal timer to <paramref name="Duration"/> µs.</summary>
    public sealed record UpdateTimer(bool Replace, Dist Duration, Dist? Limit) : MachineAction;

    /// <summary>
    /// action.rs <c>sample_timeout()</c>: SendPadding/BlockOutgoing timeout in µs, capped at
    /// <see cref="Constants.MaxSampledTimeout"/>, rounded half away from zero; 0 for other actions.
    /// </summary>
    public ulong SampleTimeout(IDaitaRandom random) => this switch
    {
        SendPadding p => DistSampler.RoundToUInt64(Math.Min(p.Timeout.Sample(random), Constants.MaxSampledTimeout)),
        BlockOutgoing b => DistSampler.RoundToUInt64(Math.Min(b.Timeout.Sample(random), Constants.MaxSampledTimeout)),
        _ => 0,
    };

    /// <summary>
    /// action.rs <c>sample_duration()</c>: BlockOutgoing blocking / UpdateTimer timer duration in µs, capped at one day
    /// (<see cref="Constants.MaxSampledBlockDuration"/> / <see cref="Constants.MaxSampledTimerDuration"/>), rounded
    /// half away from zero; 0 for other actions.
    /// </summary>
    public ulong SampleDuration(IDaitaRandom random) => this switch
    {
        BlockOutgoing b => DistSampler.RoundToUInt64(Math.Min(b.Duration.Sample(random), Constants.MaxSampledBlockDuration)),
        UpdateTimer u => DistSampler.RoundToUInt64(Math.Min(u.Duration.Sample(random), Constants.MaxSampledTimerDuration)),
        _ => 0,
    };

    /// <summary>
    /// action.rs <c>sample_limit()</c>: the per-state action limit — u64::MAX (no limit) for Cancel or without a limit
    /// dist, else the sample rounded half away from zero (no cap; saturating).
    /// </summary>
    public ulong SampleLimit(IDaitaRandom random)
    {
        Dist? limit = LimitDist;
        return limit is null ? ulong.MaxValue : DistSampler.RoundToUInt64(limit.Sample(random));
    }

    /// <summary>action.rs <c>has_limit()</c>: whether the action carries a limit dist.</summary>
    public bool HasLimit => LimitDist is not null;

    private Dist? LimitDist => this switch
    {
        SendPadding p => p.Limit,
        BlockOutgoing b => b.Limit,
        UpdateTimer u => u.Limit,
        _ => null,
    };

    /// <summary>action.rs validate(): every contained Dist must validate. Null if valid, else the reason.</summary>
    public string? Validate() => this switch
    {
        SendPadding p => p.Timeout.Validate() ?? p.Limit?.Validate(),
        BlockOutgoing b => b.Timeout.Validate() ?? b.Duration.Validate() ?? b.Limit?.Validate(),
        UpdateTimer u => u.Duration.Validate() ?? u.Limit?.Validate(),
        _ => null,
    };
}
