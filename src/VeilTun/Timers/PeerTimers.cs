using VeilTun.Noise;

namespace VeilTun.Timers;

/// <summary>Which of a peer's timers expired.</summary>
[Flags]
internal enum TimerExpiry
{
    None = 0,
    RetransmitHandshake = 1,
    SendKeepalive = 2,
    NewHandshake = 4,
    ZeroKeyMaterial = 8,
    PersistentKeepalive = 16,
}

/// <summary>
/// The five per-peer timers of whitepaper §6 as plain deadlines (wireguard-go device/timers.go, kernel
/// timers.c): no threads or clocks inside. The engine calls the hooks as events happen and
/// <see cref="TakeExpired"/> with the current time; <see cref="NextDeadline"/> says when to call again. Every
/// deadline armed is also told to the engine's <see cref="TimerQueue"/>, so its timer thread can sleep until the
/// earliest one.
/// Not thread-safe; owned by the engine.
/// </summary>
internal sealed class PeerTimers
{
    private static readonly TimeSpan Off = TimeSpan.MaxValue;

    private TimeSpan _retransmitHandshake = Off;
    private TimeSpan _sendKeepalive = Off;
    private TimeSpan _newHandshake = Off;
    private TimeSpan _zeroKeyMaterial = Off;
    private TimeSpan _persistentKeepalive = Off;

    /// <param name="owner">The peer these timers belong to (what the engine's <see cref="TimerQueue"/> hands back).</param>
    public PeerTimers(Peer? owner = null) => Owner = owner;

    /// <summary>The peer these timers belong to.</summary>
    public Peer? Owner { get; }

    /// <summary>
    /// The queue that learns of every deadline armed (the engine's, while the peer is in it; null: none). Arming a
    /// deadline earlier than <see cref="QueuedAt"/> moves the peer up in it.
    /// </summary>
    internal TimerQueue? Queue { get; set; }

    /// <summary>The peer's key in <see cref="Queue"/> (MaxValue when not queued); at or before every armed deadline.</summary>
    internal TimeSpan QueuedAt { get; set; } = Off;

    /// <summary>The peer's slot in <see cref="Queue"/>'s heap (-1 when not queued).</summary>
    internal int QueueIndex { get; set; } = -1;

    private TimeSpan Arm(TimeSpan due)
    {
        Queue?.Schedule(this, due);
        return due;
    }

    /// <summary>Initiations sent by the retransmit timer since the last fresh attempt.</summary>
    public int HandshakeAttempts { get; internal set; }

    public bool NeedAnotherKeepalive { get; internal set; }

    public bool SentLastMinuteHandshake { get; internal set; }

    /// <summary>Timers arm only while the peer runs (device up); stopping disarms all of them.</summary>
    public bool Enabled { get; set; }

    public bool IsRetransmitPending => _retransmitHandshake != Off;
    public bool IsSendKeepalivePending => _sendKeepalive != Off;
    public bool IsNewHandshakePending => _newHandshake != Off;
    public bool IsZeroKeyMaterialPending => _zeroKeyMaterial != Off;
    public bool IsPersistentKeepalivePending => _persistentKeepalive != Off;

    /// <summary>The earliest armed deadline, or <see cref="TimeSpan.MaxValue"/> when none is armed.</summary>
    public TimeSpan NextDeadline =>
        Min(Min(Min(_retransmitHandshake, _sendKeepalive), Min(_newHandshake, _zeroKeyMaterial)), _persistentKeepalive);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>Returns and disarms every timer whose deadline is at or before <paramref name="now"/>.</summary>
    public TimerExpiry TakeExpired(TimeSpan now)
    {
        var fired = TimerExpiry.None;
        if (_retransmitHandshake <= now) { fired |= TimerExpiry.RetransmitHandshake; _retransmitHandshake = Off; }
        if (_sendKeepalive <= now) { fired |= TimerExpiry.SendKeepalive; _sendKeepalive = Off; }
        if (_newHandshake <= now) { fired |= TimerExpiry.NewHandshake; _newHandshake = Off; }
        if (_zeroKeyMaterial <= now) { fired |= TimerExpiry.ZeroKeyMaterial; _zeroKeyMaterial = Off; }
        if (_persistentKeepalive <= now) { fired |= TimerExpiry.PersistentKeepalive; _persistentKeepalive = Off; }
        return fired;
    }

    /// <summary>Disarms everything (peer stopped, device down).</summary>
    public void StopAll()
    {
        _retransmitHandshake = _sendKeepalive = _newHandshake = _zeroKeyMaterial = _persistentKeepalive = Off;
        NeedAnotherKeepalive = false;
    }

    // Hooks, named and ordered as wireguard-go timers.go.

    /// <summary>
    /// True when <see cref="DataSent"/> would arm the new-handshake timer: callers draw the jitter only then (a
    /// random draw per packet cost about a microsecond under the engine lock).
    /// </summary>
    public bool DataSentArms => Enabled && !IsNewHandshakePending;

    /// <summary>After sending a batch with data: expect a reply within KEEPALIVE + REKEY_TIMEOUT (+ jitter).</summary>
    public void DataSent(TimeSpan now, TimeSpan jitter)
    {
        if (Enabled && !IsNewHandshakePending)
            _newHandshake = Arm(now + Protocol.KeepaliveTimeout + Protocol.RekeyTimeout + jitter);
    }

    /// <summary>After receiving non-empty data: passive keepalive within 10 s (whitepaper §6.5).</summary>
    public void DataReceived(TimeSpan now)
    {
        if (!Enabled) return;
        if (!IsSendKeepalivePending) _sendKeepalive = Arm(now + Protocol.KeepaliveTimeout);
        else NeedAnotherKeepalive = true;
    }

    /// <summary>Any authenticated packet sent (initiation, response, data, keepalive): no keepalive needed now.</summary>
    public void AnyAuthenticatedPacketSent() => _sendKeepalive = Off;

    /// <summary>Any authenticated packet received: the peer is alive, no new handshake needed.</summary>
    public void AnyAuthenticatedPacketReceived() => _newHandshake = Off;

    /// <summary>After sending an initiation: retransmit in REKEY_TIMEOUT + jitter unless answered.</summary>
    public void HandshakeInitiated(TimeSpan now, TimeSpan jitter)
    {
        if (Enabled) _retransmitHandshake = Arm(now + Protocol.RekeyTimeout + jitter);
    }

    /// <summary>After a handshake completes (response consumed, or first data on the next keypair).</summary>
    public void HandshakeComplete()
    {
        _retransmitHandshake = Off;
        HandshakeAttempts = 0;
        SentLastMinuteHandshake = false;
    }

    /// <summary>After a keypair is derived: wipe all keys if no newer one arrives within 540 s.</summary>
    public void SessionDerived(TimeSpan now)
    {
        if (Enabled) _zeroKeyMaterial = Arm(now + Protocol.ZeroKeyMaterialAfter);
    }

    /// <summary>Arms zeroKeyMaterial only if it is not already pending (retransmit give-up path).</summary>
    public void ArmZeroKeyMaterialIfIdle(TimeSpan now)
    {
        if (Enabled && !IsZeroKeyMaterialPending) _zeroKeyMaterial = Arm(now + Protocol.ZeroKeyMaterialAfter);
    }

    /// <summary>Before any authenticated send and after any authenticated receive.</summary>
    public void AnyAuthenticatedPacketTraversal(TimeSpan now, int persistentKeepaliveSeconds)
    {
        if (Enabled && persistentKeepaliveSeconds > 0)
            _persistentKeepalive = Arm(now + TimeSpan.FromSeconds(persistentKeepaliveSeconds));
    }

    /// <summary>Re-arms the passive keepalive after it fired with another one owed.</summary>
    public void RearmSendKeepalive(TimeSpan now)
    {
        if (Enabled) _sendKeepalive = Arm(now + Protocol.KeepaliveTimeout);
    }

    public void CancelSendKeepalive() => _sendKeepalive = Off;
}
