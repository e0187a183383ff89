namespace VeilTun.Buffers;

/// <summary>
/// A bounded pool of <see cref="PacketBuffer"/>s. LIFO, so recently used (cache-hot) buffers are reused first
/// (wireguard-go moved from a FIFO channel to a pool for the same reason). When the pool is exhausted,
/// <see cref="TryRent"/> fails: the caller drops at ingress and counts it; nothing grows without bound.
/// Thread-safe.
/// </summary>
public sealed class PacketPool
{
    private readonly PacketBuffer[] _free;
    private readonly Lock _lock = new();
    private int _freeCount;
    private int _created;
    private long _rentFailures;

    /// <param name="bufferSize">Capacity of each buffer, headroom included.</param>
    /// <param name="maxBuffers">Upper bound on buffers ever created by this pool.</param>
    public PacketPool(int bufferSize, int maxBuffers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBuffers, 1);
        BufferSize = bufferSize;
        MaxBuffers = maxBuffers;
        _free = new PacketBuffer[maxBuffers];
    }

    public int BufferSize { get; }

    public int MaxBuffers { get; }

    /// <summary>Buffers rented and not yet returned. Tests end with this at zero.</summary>
    public int Outstanding
    {
        get
        {
            lock (_lock) return _created - _freeCount;
        }
    }

    /// <summary>How many rents failed because the pool was exhausted.</summary>
    public long RentFailures => Interlocked.Read(ref _rentFailures);

    /// <summary>Rents an empty buffer with the default headroom, or returns false when all are in use.</summary>
    public bool TryRent(out PacketBuffer buffer)
    {
        lock (_lock)
        {
            if (_freeCount > 0)
            {
                buffer = _free[--_freeCount];
                _free[_freeCount] = null!;
            }
            else if (_created < MaxBuffers)
            {
                buffer = new PacketBuffer(BufferSize) { Pool = this };
                _created++;
            }
            else
            {
                _rentFailures++;
                buffer = null!;
                return false;
            }
            buffer.Rented = true;
        }
        buffer.Reset();
        return true;
    }

    internal void Return(PacketBuffer buffer)
    {
        lock (_lock)
        {
            if (!buffer.Rented) throw new InvalidOperationException("packet buffer returned twice");
            buffer.Rented = false;
            _free[_freeCount++] = buffer;
        }
    }
}
