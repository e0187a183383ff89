namespace VeilTun.Tests.Fakes;

/// <summary>
/// One clock for a test: a monotonic <see cref="Now"/> passed to the engines and a wall clock (for TAI64N and
/// "latest handshake") that advances with it. Minutes of protocol time pass in microseconds.
/// </summary>
public sealed class ManualClock : TimeProvider
{
    private static readonly DateTimeOffset WallStart = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);

    public TimeSpan Now { get; private set; } = TimeSpan.FromSeconds(1000);

    public DateTimeOffset WallOffset { get; set; } = WallStart;

    public void Advance(TimeSpan by) => Now += by;

    public void AdvanceTo(TimeSpan to)
    {
        if (to > Now) Now = to;
    }

    public override DateTimeOffset GetUtcNow() => WallOffset + Now;
}
