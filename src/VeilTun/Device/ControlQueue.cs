namespace VeilTun.Device;

/// <summary>
/// What the tunnel's control thread waits on: handshake messages from the UDP reader (a bounded FIFO) and wakes
/// from anyone who armed a timer earlier than the thread's sleep. One thread, so handshakes and timers share it
/// (as wireguard-go's handshake workers and Go timers cost it none of its own): it blocks until an item, a wake or
/// its next deadline, and never polls. Any number of producers, one consumer.
/// </summary>
internal sealed class ControlQueue<T>(int capacity)
{
    private readonly object _lock = new();
    private readonly Queue<T> _items = new();
    private bool _woken;
    private bool _waiting;
    private bool _closed;

    /// <summary>Items queued now.</summary>
    public int Count
    {
        get
        {
            lock (_lock) return _items.Count;
        }
    }

    /// <summary>Queues <paramref name="item"/> unless the queue is full or closed (then false: the caller keeps it).</summary>
    public bool TryAdd(T item)
    {
        lock (_lock)
        {
            if (_closed || _items.Count >= capacity) return false;
            _items.Enqueue(item);
            if (_waiting) Monitor.Pulse(_lock);
        }
        return true;
    }

    /// <summary>Wakes the consumer (its next <see cref="Take"/> returns at once, with <c>woken</c> set).</summary>
    public void Set()
    {
        lock (_lock)
        {
            _woken = true;
            if (_waiting) Monitor.Pulse(_lock);
        }
    }

    /// <summary>Ends every wait for good; items left are for <see cref="TryTakeLeft"/>.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// Takes the oldest item, waiting up to <paramref name="timeoutMilliseconds"/> (-1: no limit) for one unless a
    /// wake is pending or comes meanwhile. <paramref name="woken"/>: a wake was consumed. <paramref name="left"/>:
    /// items still queued after this one.
    /// </summary>
    public bool Take(int timeoutMilliseconds, out T item, out int left, out bool woken)
    {
        lock (_lock)
        {
            if (_items.Count == 0 && !_woken && !_closed && timeoutMilliseconds != 0)
            {
                _waiting = true;
                try
                {
                    Monitor.Wait(_lock, timeoutMilliseconds);
                }
                finally
                {
                    _waiting = false;
                }
            }
            woken = _woken;
            _woken = false;
            bool taken = _items.TryDequeue(out item!);
            left = _items.Count;
            return taken;
        }
    }

    /// <summary>Takes an item without waiting (draining after <see cref="Close"/>).</summary>
    public bool TryTakeLeft(out T item)
    {
        lock (_lock) return _items.TryDequeue(out item!);
    }
}
