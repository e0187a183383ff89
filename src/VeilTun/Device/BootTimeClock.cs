namespace VeilTun.Device;

/// <summary>
/// Monotonic time that keeps counting while the machine is suspended (CLOCK_BOOTTIME), as a phone's tunnel needs:
/// a session must expire after 180 s of wall time even if the CPU slept through them. Falls back to the
/// process-relative monotonic clock where CLOCK_BOOTTIME is unavailable.
/// </summary>
internal static class BootTimeClock
{
    private static readonly bool s_available = TryRead(out _);
    private static readonly long s_fallbackStart = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Time since boot.</summary>
    public static TimeSpan Now
    {
        get
        {
            if (s_available && TryRead(out var now)) return now;
            return System.Diagnostics.Stopwatch.GetElapsedTime(s_fallbackStart);
        }
    }

    private static bool TryRead(out TimeSpan now)
    {
        try
        {
            if (Interop.Clock.clock_gettime(Interop.Clock.CLOCK_BOOTTIME, out var ts) == 0)
            {
                now = TimeSpan.FromTicks(ts.Seconds * TimeSpan.TicksPerSecond + ts.Nanoseconds / 100);
                return true;
            }
        }
        catch (EntryPointNotFoundException)
        {
        }
        catch (DllNotFoundException)
        {
        }
        now = default;
        return false;
    }
}
