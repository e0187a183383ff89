namespace VeilTun.Timers;

/// <summary>
/// The engine's peers by their next timer deadline: a binary min-heap with each <see cref="PeerTimers"/> in it at
/// most once (it knows its slot), so a tick visits only the peers that are due, however many there are (the scan
/// over every peer it replaces cost a wake-up every 100 ms and O(peers) each). Lazy: a hook that arms a deadline
/// earlier than the peer's key moves the peer up (<see cref="Schedule"/>); disarming or arming later leaves the key
/// as it is, so a peer may come up early and is then put back at its real deadline. Removed peers leave at once.
/// Not thread-safe; owned by the engine (under its lock).
/// </summary>
internal sealed class TimerQueue
{
    private PeerTimers[] _heap = new PeerTimers[16];
    private int _count;
    private TimeSpan _newEarliest = TimeSpan.MaxValue;

    /// <summary>Peers in the queue.</summary>
    public int Count => _count;

    /// <summary>The earliest key, or <see cref="TimeSpan.MaxValue"/> when empty (a lower bound of the next deadline).</summary>
    public TimeSpan NextDue => _count == 0 ? TimeSpan.MaxValue : _heap[0].QueuedAt;

    /// <summary>
    /// Keys <paramref name="timers"/> at <paramref name="due"/> if that is earlier than its key (or it is not queued).
    /// Returns true when it moved (the caller may have to wake whoever sleeps until the old earliest key).
    /// </summary>
    public bool Schedule(PeerTimers timers, TimeSpan due)
    {
        if (due >= timers.QueuedAt) return false;
        timers.QueuedAt = due;
        if (due < _newEarliest) _newEarliest = due;
        int i = timers.QueueIndex;
        if (i < 0)
        {
            if (_count == _heap.Length) Array.Resize(ref _heap, _count * 2);
            i = _count++;
            _heap[i] = timers;
            timers.QueueIndex = i;
        }
        SiftUp(i);
        return true;
    }

    /// <summary>The earliest key given to <see cref="Schedule"/> since the last call (to wake a sleeping timer thread).</summary>
    public TimeSpan TakeNewEarliest()
    {
        var d = _newEarliest;
        _newEarliest = TimeSpan.MaxValue;
        return d;
    }

    /// <summary>Takes out the earliest peer if its key is at or before <paramref name="now"/>.</summary>
    public bool TryTakeDue(TimeSpan now, out PeerTimers timers)
    {
        if (_count == 0 || _heap[0].QueuedAt > now)
        {
            timers = null!;
            return false;
        }
        timers = _heap[0];
        RemoveAt(0);
        return true;
    }

    /// <summary>Takes <paramref name="timers"/> out of the queue, if it is in it.</summary>
    public void Remove(PeerTimers timers)
    {
        if (timers.QueueIndex >= 0) RemoveAt(timers.QueueIndex);
    }

    /// <summary>Empties the queue (the device went down: every timer was disarmed).</summary>
    public void Clear()
    {
        for (int i = 0; i < _count; i++)
        {
            _heap[i].QueueIndex = -1;
            _heap[i].QueuedAt = TimeSpan.MaxValue;
            _heap[i] = null!;
        }
        _count = 0;
        if (_heap.Length > 16) _heap = new PeerTimers[16];
    }

    private void RemoveAt(int i)
    {
        var gone = _heap[i];
        gone.QueueIndex = -1;
        gone.QueuedAt = TimeSpan.MaxValue;
        int last = --_count;
        if (i != last)
        {
            _heap[i] = _heap[last];
            _heap[i].QueueIndex = i;
            _heap[last] = null!;
            SiftDown(i);
            SiftUp(i);
        }
        else
        {
            _heap[last] = null!;
        }
        // Give a churned table's memory back, at most once per quartering (linear in the removals).
        if (_heap.Length > 64 && _count < _heap.Length / 4) Array.Resize(ref _heap, _heap.Length / 2);
    }

    private void SiftUp(int i)
    {
        var item = _heap[i];
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            var p = _heap[parent];
            if (p.QueuedAt <= item.QueuedAt) break;
            _heap[i] = p;
            p.QueueIndex = i;
            i = parent;
        }
        _heap[i] = item;
        item.QueueIndex = i;
    }

    private void SiftDown(int i)
    {
        var item = _heap[i];
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= _count) break;
            if (child + 1 < _count && _heap[child + 1].QueuedAt < _heap[child].QueuedAt) child++;
            var c = _heap[child];
            if (c.QueuedAt >= item.QueuedAt) break;
            _heap[i] = c;
            c.QueueIndex = i;
            i = child;
        }
        _heap[i] = item;
        item.QueueIndex = i;
    }
}
