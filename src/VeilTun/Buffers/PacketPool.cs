namespace VeilTun.Buffers;

/// <summary>
/// A bounded pool of <see cref="PacketBuffer"/>s, created on demand up to <see cref="MaxBuffers"/> and reused LIFO
/// (warm in cache). Thread-safe. Each thread keeps a small magazine of free buffers per pool, refilled from and
/// spilled to the shared stack in chunks, so the reader that rents and the workers that return rarely meet on the
/// lock (perf showed the shared lock at ~4% of a TCP run). At most <see cref="MagazineSize"/> buffers per thread
/// sit in magazines, so a full pool is still a bounded one: when the shared stack and the caller's magazine are
/// empty, <see cref="TryRent"/> fails (the caller drops and counts) even if another thread's magazine holds some.
/// Pools of fewer than 256 buffers use the shared stack only.
/// </summary>
/// <remarks>
/// The buffers' memory is native (<see cref="NativeBufferArena"/>), not the pinned object heap, so the buffers
/// <see cref="Trim"/> releases go back to the OS (the pinned heap is never compacted: released arrays stayed as
/// holes and the process kept the pools' high-water mark). <see cref="Dispose"/> releases the free buffers at once
/// and each rented one as it comes back; what never comes back goes when the pool is no longer referenced.
/// </remarks>
public sealed class PacketPool : IDisposable
{
    /// <summary>Free buffers a thread keeps for itself per pool.</summary>
    public const int MagazineSize = 16;
    private const int Chunk = MagazineSize / 2;
    private const int MagazinesPerThread = 4;

    private const int MagazineMinPool = 256; // smaller pools could starve with buffers parked in magazines

    private readonly PacketBuffer[] _free;
    private readonly NativeBufferArena _arena;
    private bool _disposed;
    private readonly bool _useMagazines;
    private readonly Lock _lock = new();
    private readonly List<Magazine> _magazines = new(); // every thread's magazine of this pool (for Outstanding)
    private int _freeCount;
    private int _lowWater = int.MaxValue; // fewest buffers on the shared stack since the last Trim
    private int _created;
    private long _rentFailures;

    [ThreadStatic] private static Magazine?[]? t_magazines;

    /// <summary>Creates an empty pool of buffers of <paramref name="bufferSize"/> bytes, at most <paramref name="maxBuffers"/>.</summary>
    public PacketPool(int bufferSize, int maxBuffers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBuffers, 1);
        BufferSize = bufferSize;
        MaxBuffers = maxBuffers;
        _free = new PacketBuffer[maxBuffers];
        _arena = new NativeBufferArena(bufferSize);
        _useMagazines = maxBuffers >= MagazineMinPool;
    }

    /// <summary>Capacity of each buffer.</summary>
    public int BufferSize { get; }

    /// <summary>Most buffers this pool ever creates.</summary>
    public int MaxBuffers { get; }

    /// <summary>Buffers created and not released by <see cref="Trim"/> (they are kept and reused).</summary>
    public int Created => Volatile.Read(ref _created);

    /// <summary>Free buffers on the shared stack (not in threads' magazines): what <see cref="Trim"/> could release.</summary>
    public int SharedFreeCount => Volatile.Read(ref _freeCount);

    /// <summary>Buffers currently rented (created minus free, wherever the free ones are kept).</summary>
    public int Outstanding
    {
        get
        {
            lock (_lock)
            {
                int cached = 0;
                foreach (var m in _magazines) cached += Volatile.Read(ref m.Count);
                return _created - _freeCount - cached;
            }
        }
    }

    /// <summary>
    /// Bytes of native memory the pool's buffers hold (mapped, less pages already given back to the OS): what it
    /// costs the process at most. Falls when <see cref="Trim"/> releases buffers.
    /// </summary>
    public long RetainedBytes => _arena.RetainedBytes;

    /// <summary>Rent attempts that found the pool exhausted.</summary>
    public long RentFailures => Interlocked.Read(ref _rentFailures);

    private sealed class Magazine(PacketPool pool)
    {
        public readonly PacketPool Pool = pool;
        public readonly PacketBuffer?[] Items = new PacketBuffer?[MagazineSize];
        public int Count;
    }

    // This thread's magazine for this pool; null when the thread already serves MagazinesPerThread other pools.
    private Magazine? LocalMagazine()
    {
        if (!_useMagazines) return null;
        var all = t_magazines ??= new Magazine?[MagazinesPerThread];
        for (int i = 0; i < all.Length; i++)
        {
            var m = all[i];
            if (m is null)
            {
                m = all[i] = new Magazine(this);
                lock (_lock) _magazines.Add(m);
                return m;
            }
            if (ReferenceEquals(m.Pool, this)) return m;
        }
        return null;
    }

    /// <summary>Rents a buffer (data empty, offset at the default headroom); false when the pool is exhausted.</summary>
    public bool TryRent(out PacketBuffer buffer)
    {
        var m = LocalMagazine();
        if (m is not null)
        {
            if (m.Count == 0) Refill(m);
            if (m.Count > 0)
            {
                int n = m.Count - 1;
                buffer = m.Items[n]!;
                m.Items[n] = null;
                Volatile.Write(ref m.Count, n);
                buffer.Rented = true;
                buffer.Reset();
                return true;
            }
        }
        lock (_lock)
        {
            if (!TryTakeLocked(out buffer))
            {
                _rentFailures++;
                return false;
            }
        }
        buffer.Rented = true;
        buffer.Reset();
        return true;
    }

    private bool TryTakeLocked(out PacketBuffer buffer)
    {
        if (_freeCount > 0)
        {
            buffer = _free[--_freeCount];
            _free[_freeCount] = null!;
            if (_freeCount < _lowWater) _lowWater = _freeCount;
            return true;
        }
        if (_created < MaxBuffers && !_disposed)
        {
            buffer = new PacketBuffer(_arena.Allocate()) { Pool = this };
            _created++;
            _lowWater = 0; // the stack was empty
            return true;
        }
        buffer = null!;
        return false;
    }

    /// <summary>
    /// Gives every buffer in the calling thread's magazines (of all pools) back to their pools' shared stacks and
    /// forgets the magazines. A thread that rented or returned buffers calls this before it ends: a dead thread's
    /// magazine would otherwise keep up to <see cref="MagazineSize"/> buffers per pool out of reach for good (one
    /// more set lost with every UDP socket rebind, which starts a new reader thread).
    /// </summary>
    public static void ReleaseThreadMagazines()
    {
        var all = t_magazines;
        if (all is null) return;
        t_magazines = null;
        foreach (var m in all)
        {
            if (m is null) continue;
            var pool = m.Pool;
            bool disposed;
            lock (pool._lock)
            {
                disposed = pool._disposed;
                if (!disposed)
                {
                    for (int i = 0; i < m.Count; i++)
                    {
                        pool._free[pool._freeCount++] = m.Items[i]!;
                        m.Items[i] = null;
                    }
                    Volatile.Write(ref m.Count, 0);
                }
                pool._magazines.Remove(m);
            }
            if (disposed)
            {
                // The pool is gone: these buffers' memory goes back now (nobody else can reach this magazine).
                for (int i = 0; i < m.Count; i++)
                {
                    pool.ReleaseOne(m.Items[i]!);
                    m.Items[i] = null;
                }
                Volatile.Write(ref m.Count, 0);
            }
        }
    }

    /// <summary>
    /// Releases the buffers that lay unused on the shared stack since the previous call (the stack's low-water mark
    /// since then: the bottom of a LIFO stack, the coldest), so that a burst's or a stall's buffers do not stay for
    /// the life of the pool; they are created again if a later burst needs them. Buffers in use and those in
    /// threads' magazines are not touched. Their memory goes back to the OS. Returns how many were released. The
    /// tunnel calls it every few seconds.
    /// </summary>
    public int Trim()
    {
        NativeBufferMemory[]? released = null;
        int idle;
        lock (_lock)
        {
            idle = Math.Min(_lowWater, _freeCount);
            if (idle > 0)
            {
                released = new NativeBufferMemory[idle];
                for (int i = 0; i < idle; i++) released[i] = _free[i].NativeMemory;
                Array.Copy(_free, idle, _free, 0, _freeCount - idle);
                Array.Clear(_free, _freeCount - idle, idle);
                _freeCount -= idle;
                _created -= idle;
            }
            _lowWater = _freeCount;
        }
        // Off the stack, so never handed out again; unmapped outside the lock (renters do not wait on munmap).
        if (released is not null) _arena.Release(released);
        return idle;
    }

    /// <summary>
    /// Ends the pool: the free buffers' memory goes back to the OS now, each rented buffer's when it is returned
    /// (never while it is in use), and no buffer is rented any more (<see cref="TryRent"/> fails). Idempotent.
    /// </summary>
    public void Dispose()
    {
        NativeBufferMemory[] released;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            released = new NativeBufferMemory[_freeCount];
            for (int i = 0; i < _freeCount; i++) released[i] = _free[i].NativeMemory;
            Array.Clear(_free, 0, _freeCount);
            _created -= _freeCount;
            _freeCount = 0;
        }
        _arena.Release(released);
    }

    private void ReleaseOne(PacketBuffer buffer)
    {
        lock (_lock) _created--;
        _arena.Release([buffer.NativeMemory]);
    }

    // Moves up to a chunk of free buffers (or new ones, within the bound) into the magazine.
    private void Refill(Magazine m)
    {
        lock (_lock)
        {
            int count = m.Count;
            while (count < Chunk && TryTakeLocked(out var b)) m.Items[count++] = b;
            Volatile.Write(ref m.Count, count);
        }
    }

    internal void Return(PacketBuffer buffer)
    {
        if (!buffer.Rented) throw new InvalidOperationException("packet buffer returned twice");
        buffer.Rented = false;
        if (Volatile.Read(ref _disposed))
        {
            ReleaseOne(buffer);
            return;
        }
        var m = LocalMagazine();
        if (m is not null)
        {
            if (m.Count == MagazineSize)
            {
                // Full: half of it goes back to the shared stack in one locked step.
                lock (_lock)
                {
                    for (int i = MagazineSize - Chunk; i < MagazineSize; i++)
                    {
                        _free[_freeCount++] = m.Items[i]!;
                        m.Items[i] = null;
                    }
                    Volatile.Write(ref m.Count, MagazineSize - Chunk);
                }
            }
            m.Items[m.Count] = buffer;
            Volatile.Write(ref m.Count, m.Count + 1);
            return;
        }
        bool release;
        lock (_lock)
        {
            release = _disposed;
            if (!release) _free[_freeCount++] = buffer;
        }
        if (release) ReleaseOne(buffer);
    }
}
