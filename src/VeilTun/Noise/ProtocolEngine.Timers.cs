using VeilTun.Timers;

namespace VeilTun.Noise;

// Timer expiry actions (whitepaper §6; wireguard-go device/timers.go expired* functions).
internal sealed partial class ProtocolEngine
{
    /// <summary>The earliest time <see cref="Tick"/> has work to do, or <see cref="TimeSpan.MaxValue"/>.</summary>
    public TimeSpan NextDeadline
    {
        get
        {
            var min = TimeSpan.MaxValue;
            foreach (var peer in _peers.Values)
            {
                var d = peer.Timers.NextDeadline;
                if (d < min) min = d;
                if (peer.Daita is { } daita && (d = daita.NextDeadline) < min) min = d;
            }
            return min;
        }
    }

    /// <summary>Runs every timer that is due at <paramref name="now"/>.</summary>
    public void Tick(TimeSpan now)
    {
        // Sources idle for a second leave the handshake rate limiter even when no handshake follows (as the
        // kernel's and wireguard-go's once-a-second sweeps), so a load spike's sources do not stay in it.
        _rateLimiter.Collect(now.Ticks * 100);
        if (!IsUp) return;
        foreach (var peer in _peers.Values)
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
            if (peer.Timers.NextDeadline > now) continue;
            try
            {
                RunExpired(peer, peer.Timers.TakeExpired(now), now);
            }
            catch (Exception ex)
            {
                LastInternalError = ex;
                Drop(Noise.DropReason.Internal, peer, null);
            }
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
