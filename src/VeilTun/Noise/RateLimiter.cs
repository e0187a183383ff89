using System.Buffers.Binary;

namespace VeilTun.Noise;

/// <summary>
/// Per-source token bucket for handshake messages while the device is under load, as the kernel's
/// <c>ratelimiter.c</c>: 20 packets per second with a burst of 5; a new source starts one packet short of a full
/// bucket and is allowed; IPv4 sources are keyed by address, IPv6 sources by their /64 (one host usually owns a whole
/// /64); the table holds at most <c>maxEntries</c> sources and refuses new ones when full; sources idle for more than
/// 1 s are forgotten.
/// </summary>
/// <remarks>
/// Sans-IO: time is passed in (<c>nowNanoseconds</c>, any monotonic nanosecond clock; a value smaller than an earlier
/// one is treated as equal to it) and there are no threads or timers. Garbage collection happens inside
/// <see cref="Allow"/>: entries are kept in least-recently-used order, and each call drops at most
/// <see cref="MaxCollectedPerCall"/> idle entries from the old end, so the work per call is bounded and stale entries
/// still vanish faster than new ones can be added. <see cref="Allow"/> does not allocate for a known source (adding a
/// source may grow the internal arrays, up to <c>maxEntries</c>). Hashing uses the per-process randomized
/// <see cref="HashCode"/>, so remote peers cannot aim for collisions.
/// Not thread-safe: the caller serializes all calls (e.g. one lock around the handshake decision).
/// </remarks>
internal sealed class RateLimiter
{
    /// <summary>Kernel RATELIMITER_PACKETS_PER_SECOND.</summary>
    public const int PacketsPerSecond = 20;

    /// <summary>Kernel RATELIMITER_PACKETS_BURSTABLE.</summary>
    public const int PacketsBurstable = 5;

    /// <summary>Tokens one packet costs (kernel PACKET_COST = NSEC_PER_SEC / 20), in nanoseconds.</summary>
    public const long PacketCostNanoseconds = 1_000_000_000L / PacketsPerSecond;

    /// <summary>Bucket size (kernel TOKEN_MAX = PACKET_COST * 5), in nanoseconds.</summary>
    public const long TokenMaxNanoseconds = PacketCostNanoseconds * PacketsBurstable;

    /// <summary>Entries idle for longer than this are garbage-collected (kernel: <c>now - last_time_ns &gt; NSEC_PER_SEC</c>).</summary>
    public const long IdleTimeoutNanoseconds = 1_000_000_000L;

    /// <summary>Kernel <c>max_entries = table_size * 8</c> with the largest table_size (8192).</summary>
    public const int DefaultMaxEntries = 8192 * 8;

    /// <summary>Upper bound on idle entries dropped per <see cref="Allow"/> call.</summary>
    internal const int MaxCollectedPerCall = 8;

    private const int None = -1;
    private const int InitialCapacity = 64;

    private readonly int _maxEntries;
    private readonly Dictionary<SourceKey, int> _index = new();
    private Entry[] _entries;
    private int _used;          // slots ever handed out (high-water mark)
    private int _freeHead = None;
    private int _oldest = None; // least recently used
    private int _newest = None; // most recently used
    private long _now = long.MinValue;

    /// <summary>Creates an empty limiter.</summary>
    /// <param name="maxEntries">Maximum number of tracked sources; at least 1.</param>
    public RateLimiter(int maxEntries = DefaultMaxEntries)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        _maxEntries = maxEntries;
        _entries = new Entry[Math.Min(maxEntries, InitialCapacity)];
    }

    /// <summary>Number of sources currently tracked.</summary>
    public int Count => _index.Count;

    /// <summary>The capacity given to the constructor.</summary>
    public int MaxEntries => _maxEntries;

    /// <summary>
    /// Charges one packet to the source's bucket.
    /// </summary>
    /// <param name="sourceAddress">The UDP source address: 4 bytes (IPv4) or 16 bytes (IPv6), network byte order. An
    /// IPv4-mapped IPv6 address (::ffff:a.b.c.d) counts as the IPv4 address, so a dual-stack socket does not lump all
    /// IPv4 senders into one /64.</param>
    /// <param name="nowNanoseconds">Current time from a monotonic nanosecond clock.</param>
    /// <returns>True if the packet may be processed; false if the source is over its rate, or it is new and the table
    /// is full.</returns>
    /// <exception cref="ArgumentException">Address length is not 4 or 16 (API misuse).</exception>
    public bool Allow(ReadOnlySpan<byte> sourceAddress, long nowNanoseconds)
    {
        SourceKey key = SourceKey.From(sourceAddress);
        long now = Math.Max(nowNanoseconds, _now);
        _now = now;

        CollectIdle(now);

        if (_index.TryGetValue(key, out int i))
        {
            ref Entry entry = ref _entries[i];
            // Refill by elapsed time, capped at TOKEN_MAX. now >= LastTimeNs, so the difference fits in a ulong
            // even across the whole long range; comparing before adding avoids overflow.
            ulong elapsed = (ulong)(now - entry.LastTimeNs);
            long tokens = elapsed >= (ulong)(TokenMaxNanoseconds - entry.Tokens)
                ? TokenMaxNanoseconds
                : entry.Tokens + (long)elapsed;
            entry.LastTimeNs = now;
            // Kernel: allow when tokens >= PACKET_COST (wireguard-go uses >, one nanosecond stricter).
            bool allowed = tokens >= PacketCostNanoseconds;
            entry.Tokens = allowed ? tokens - PacketCostNanoseconds : tokens;
            MoveToNewest(i);
            return allowed;
        }

        if (_index.Count >= _maxEntries)
        {
            return false; // CollectIdle already freed what it could: every tracked source is active.
        }

        int free = AllocateSlot();
        _entries[free] = new Entry
        {
            Key = key,
            Tokens = TokenMaxNanoseconds - PacketCostNanoseconds,
            LastTimeNs = now,
            Older = None,
            Newer = None,
        };
        LinkNewest(free);
        _index.Add(key, free);
        return true;
    }

    /// <summary>Forgets all sources.</summary>
    /// <summary>
    /// Forgets every source idle for more than <see cref="IdleTimeoutNanoseconds"/> at <paramref name="nowNanoseconds"/>
    /// (the engine calls it from its timer tick), and once none is left gives the table's memory back.
    /// </summary>
    public void Collect(long nowNanoseconds)
    {
        long now = Math.Max(nowNanoseconds, _now);
        _now = now;
        while (_oldest != None && (ulong)(now - _entries[_oldest].LastTimeNs) > IdleTimeoutNanoseconds)
            CollectIdle(now);
        if (_index.Count == 0 && _entries.Length > InitialCapacity)
        {
            Clear();
            _entries = new Entry[Math.Min(_maxEntries, InitialCapacity)];
            _index.TrimExcess();
        }
    }

    /// <summary>
    /// When <see cref="Collect"/> has work next: the oldest source goes idle just after this (nanoseconds on the
    /// callers' clock), or <see cref="long.MaxValue"/> when no source is tracked.
    /// </summary>
    public long NextCollectionNanoseconds => _oldest == None ? long.MaxValue : _entries[_oldest].LastTimeNs + IdleTimeoutNanoseconds + 1;

    /// <summary>Test hook: entries the table has room for without growing.</summary>
    internal int Capacity => _entries.Length;

    public void Clear()
    {
        _index.Clear();
        Array.Clear(_entries);
        _used = 0;
        _freeHead = None;
        _oldest = None;
        _newest = None;
    }

    private void CollectIdle(long now)
    {
        // The list is ordered by last use and `now` never decreases, so idle entries are exactly a prefix of it.
        for (int n = 0; n < MaxCollectedPerCall && _oldest != None; n++)
        {
            int i = _oldest;
            ref Entry entry = ref _entries[i];
            if ((ulong)(now - entry.LastTimeNs) <= IdleTimeoutNanoseconds)
            {
                return;
            }

            _index.Remove(entry.Key);
            Unlink(i);
            entry = default;
            entry.Newer = _freeHead; // free list threads through Newer
            _freeHead = i;
        }
    }

    private int AllocateSlot()
    {
        if (_freeHead != None)
        {
            int i = _freeHead;
            _freeHead = _entries[i].Newer;
            return i;
        }

        if (_used == _entries.Length)
        {
            Array.Resize(ref _entries, (int)Math.Min((long)_entries.Length * 2, _maxEntries));
        }

        return _used++;
    }

    private void MoveToNewest(int i)
    {
        if (i != _newest)
        {
            Unlink(i);
            LinkNewest(i);
        }
    }

    private void LinkNewest(int i)
    {
        ref Entry entry = ref _entries[i];
        entry.Older = _newest;
        entry.Newer = None;
        if (_newest == None)
        {
            _oldest = i;
        }
        else
        {
            _entries[_newest].Newer = i;
        }

        _newest = i;
    }

    private void Unlink(int i)
    {
        ref Entry entry = ref _entries[i];
        if (entry.Older == None)
        {
            _oldest = entry.Newer;
        }
        else
        {
            _entries[entry.Older].Newer = entry.Newer;
        }

        if (entry.Newer == None)
        {
            _newest = entry.Older;
        }
        else
        {
            _entries[entry.Newer].Older = entry.Older;
        }

        entry.Older = entry.Newer = None;
    }

    private struct Entry
    {
        public SourceKey Key;
        public long Tokens;      // nanoseconds' worth of credit, 0..TokenMaxNanoseconds
        public long LastTimeNs;
        public int Older;
        public int Newer;
    }

    private readonly record struct SourceKey(ulong Bits, bool IsIPv6)
    {
        public static SourceKey From(ReadOnlySpan<byte> address)
        {
            if (address.Length == 4)
            {
                return new(BinaryPrimitives.ReadUInt32BigEndian(address), false);
            }

            if (address.Length != 16)
            {
                throw new ArgumentException("A source address must be 4 (IPv4) or 16 (IPv6) bytes.", nameof(address));
            }

            // RFC 4291 §2.5.5.2 IPv4-mapped address: 80 zero bits, 16 one bits, then the IPv4 address.
            if (BinaryPrimitives.ReadUInt64BigEndian(address) == 0 && BinaryPrimitives.ReadUInt32BigEndian(address[8..]) == 0xFFFF)
            {
                return new(BinaryPrimitives.ReadUInt32BigEndian(address[12..]), false);
            }

            // Kernel: IPv6 sources are keyed by their first 64 bits.
            return new(BinaryPrimitives.ReadUInt64BigEndian(address), true);
        }

        // HashCode is seeded randomly per process (kernel: hsiphash with a random key).
        public override int GetHashCode() => HashCode.Combine(Bits, IsIPv6);
    }
}
