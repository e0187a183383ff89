using VeilTun.Timers;

namespace VeilTun.Noise;

// Timer expiry actions (whitepaper §6; wireguard-go device/timers.go expired* functions).
internal sealed partial class ProtocolEngine
{
    // Every peer with a timer armed, by its earliest deadline: a tick takes out only the due ones.
    private readonly TimerQueue _timerQueue = new();

    /// <summary>Peers a tick took out of the timer queue so far (a test hook: a tick is O(due), not O(peers)).</summary>
    internal long TimerPeersVisited { get; private set; }

    /// <summary>Peers in the timer queue (a test hook: removed peers leave it).</summary>
    internal int TimerQueueCount => _timerQueue.Count;

    /// <summary>
    /// The earliest time <see cref="Tick"/> may have work to do, or <see cref="TimeSpan.MaxValue"/>: the timer queue's
    /// earliest key (a lower bound of the protocol timers: a peer whose timers moved later comes up early once and is
    /// put back), the DAITA machines' deadlines, and the rate limiter's next collection while it holds sources.
    /// </summary>
    public TimeSpan NextDeadline
    {
        get
        {
            var min = _rateLimiter.Count > 0 ? RateLimiterDeadline : TimeSpan.MaxValue;
            if (!IsUp) return min;
            var d = _timerQueue.NextDue;
            if (d < min) min = d;
            foreach (var peer in _daitaPeers)
                if (peer.Daita is { } daita && (d = daita.NextDeadline) < min) min = d;
            return min;
        }
    }

    /// <summary>True while the timer thread must also wake every so often (DAITA machines run: they see traffic).</summary>
    public bool NeedsPeriodicTick => IsUp && _daitaPeers.Count > 0;

    // When the rate limiter's oldest source goes idle (it holds one at least).
    private TimeSpan RateLimiterDeadline =>
        TimeSpan.FromTicks((_rateLimiter.NextCollectionNanoseconds + 99) / 100);

    /// <summary>
    /// The earliest deadline armed since the last call (a protocol timer moved up in the queue, a DAITA deadline, a
    /// rate limiter collection), then reset: the tunnel wakes its timer thread when this is earlier than its sleep.
    /// </summary>
    public TimeSpan TakeNewDeadline()
    {
        var d = _timerQueue.TakeNewEarliest();
        if (_newDaitaDeadline < d) d = _newDaitaDeadline;
        _newDaitaDeadline = TimeSpan.MaxValue;
        if (_rateLimiter.Count > 0 && RateLimiterDeadline < d) d = RateLimiterDeadline;
        return d;
    }

    /// <summary>Runs every timer that is due at <paramref name="now"/>.</summary>
    public void Tick(TimeSpan now)
    {
        // Sources idle for a second leave the handshake rate limiter even when no handshake follows (as the
        // kernel's and wireguard-go's once-a-second sweeps), so a load spike's sources do not stay in it.
        if (_rateLimiter.Count > 0) _rateLimiter.Collect(now.Ticks * 100);
        if (!IsUp) return;
        foreach (var peer in _daitaPeers)
        {
            if (peer.Daita is { } daita && daita.NextDeadline <= now)
            {
                try
                {
                    daita.Tick(now);
                }
                catch (Exception ex)
                {
                    LastInternalError = ex;
                    Drop(Noise.DropReason.Internal, peer, null);
                }
            }
        }
        // Only the due peers; a peer's own expiry may arm its timers again (it goes back in through the hooks) and
        // one that came up early (a timer disarmed or moved later) goes back at its real deadline.
        while (_timerQueue.TryTakeDue(now, out var timers))
        {
            TimerPeersVisited++;
            var peer = timers.Owner!;
            if (timers.NextDeadline <= now)
            {
                try
                {
                    RunExpired(peer, timers.TakeExpired(now), now);
                }
                catch (Exception ex)
                {
                    LastInternalError = ex;
                    Drop(Noise.DropReason.Internal, peer, null);
                }
            }
            if (timers.Queue is not null && timers.NextDeadline is var next && next != TimeSpan.MaxValue)
                _timerQueue.Schedule(timers, next);
        }
    }

    private void RunExpired(Peer peer, TimerExpiry fired, TimeSpan now)
    {
        if ((fired & TimerExpiry.RetransmitHandshake) != 0)
        {
            if (peer.Timers.HandshakeAttempts > Protocol.MaxTimerHandshakes)
            {
                // Give up after REKEY_ATTEMPT_TIME: drop what waited for the session and wipe keys later.
                peer.Timers.CancelSendKeepalive();
                while (peer.Staged.TryDequeue(out var buffer)) Drop(DropReason.HandshakeGaveUp, peer, buffer);
                peer.Timers.ArmZeroKeyMaterialIfIdle(now);
                Interlocked.Increment(ref _handshakesFailed);
                _output.OnEvent(new ProtocolEvent(ProtocolEventKind.HandshakeGaveUp, peer));
            }
            else
            {
                peer.Timers.HandshakeAttempts++;
                ClearSource(peer);
                SendHandshakeInitiation(peer, isRetry: true, now);
            }
        }
        if ((fired & TimerExpiry.SendKeepalive) != 0)
        {
            SendKeepalive(peer, now);
            if (peer.Timers.NeedAnotherKeepalive)
            {
                peer.Timers.NeedAnotherKeepalive = false;
                peer.Timers.RearmSendKeepalive(now);
            }
        }
        if ((fired & TimerExpiry.NewHandshake) != 0)
        {
            // Data went out but nothing came back for 15 s: the peer may have moved or restarted.
            ClearSource(peer);
            SendHandshakeInitiation(peer, isRetry: false, now);
        }
        if ((fired & TimerExpiry.ZeroKeyMaterial) != 0)
        {
            ZeroAndFlushAll(peer);
            _output.OnEvent(new ProtocolEvent(ProtocolEventKind.KeypairsZeroed, peer));
        }
        if ((fired & TimerExpiry.PersistentKeepalive) != 0 && peer.PersistentKeepaliveInterval > 0)
            SendKeepalive(peer, now);
    }
}
