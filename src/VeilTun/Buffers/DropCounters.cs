using VeilTun.Noise;

namespace VeilTun.Buffers;

/// <summary>Counters of dropped packets and datagrams, one per <see cref="DropReason"/>. Thread-safe, lock-free.</summary>
public sealed class DropCounters
{
    private readonly long[] _counts = new long[Enum.GetValues<DropReason>().Length];

    /// <summary>Counts one drop.</summary>
    public void Count(DropReason reason) => Interlocked.Increment(ref _counts[(int)reason]);

    /// <summary>Counts <paramref name="n"/> drops.</summary>
    public void Count(DropReason reason, int n)
    {
        if (n > 0) Interlocked.Add(ref _counts[(int)reason], n);
    }

    /// <summary>The drops counted for <paramref name="reason"/> so far.</summary>
    public long this[DropReason reason] => Interlocked.Read(ref _counts[(int)reason]);
}
