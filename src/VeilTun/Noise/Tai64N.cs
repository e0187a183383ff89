using System.Buffers.Binary;

namespace VeilTun.Noise;

/// <summary>
/// TAI64N timestamps as WireGuard sends them (wireguard-go tai64n/tai64n.go; kernel tai64n_now):
/// BE64(2^62 + 10 + unix seconds) || BE32(nanoseconds rounded down to 2^24 ns, to blunt timing leaks).
/// </summary>
internal static class Tai64N
{
    public const int Size = 12;
    private const ulong Base = 0x400000000000000aUL;
    private const uint WhitenerMask = 0x1000000 - 1;

    public static void Write(DateTimeOffset utc, Span<byte> destination)
    {
        long ticks = utc.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        long seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long remTicks);
        if (remTicks < 0)
        {
            seconds--;
            remTicks += TimeSpan.TicksPerSecond;
        }
        uint nanos = (uint)(remTicks * 100) & ~WhitenerMask;
        BinaryPrimitives.WriteUInt64BigEndian(destination, Base + (ulong)seconds);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], nanos);
    }

    /// <summary>True when <paramref name="candidate"/> is strictly after <paramref name="latest"/> (bytewise, as the kernel).</summary>
    public static bool IsAfter(ReadOnlySpan<byte> candidate, ReadOnlySpan<byte> latest) =>
        candidate[..Size].SequenceCompareTo(latest[..Size]) > 0;
}
