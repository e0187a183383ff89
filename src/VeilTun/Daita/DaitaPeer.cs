using System.Runtime.InteropServices;
using VeilTun.Buffers;
using VeilTun.Packets;

namespace VeilTun.Daita;

/// <summary>
/// DAITA for one peer (GotaTun's <c>daita/hooks.rs</c>, <c>events.rs</c>, <c>actions.rs</c> as one synchronous
/// state machine): feeds a Maybenot <see cref="Framework"/> with the peer's traffic events, keeps each machine's action
/// timer (decoy or delay) and internal timer, pads real packets to the MTU, holds real packets back while a delay is
/// active (a bounded queue with bypass/replace semantics) and sends decoys through its <see cref="IDaitaHost"/>.
/// Sans-IO: time comes in as <c>now</c>, timers are run by <see cref="Tick"/> at <see cref="NextDeadline"/>.
/// Not thread-safe: the engine serializes every call (counters may be read from any thread).
/// </summary>
internal sealed class DaitaPeer
{
    /// <summary>First plaintext byte of a decoy: IP version 15, never a valid IP packet (GotaTun, Mullvad wireguard-go).</summary>
    public const byte DecoyMarker = 0xFF;

    /// <summary>Decoy header: marker, reserved 0, big-endian u16 length (where IPv4 keeps its total length).</summary>
    public const int DecoyHeaderSize = 4;

    // Actions produced by one event batch may produce events (TimerBegin, PaddingSent…): at most this many rounds
    // run per call, the rest waits for the next tick, so no machine can spin the engine.
    private const int MaxRounds = 8;
    private const int MaxPendingEvents = 4096;

    // Timers run at most once per millisecond per peer (the tunnel's timer thread wakes at most that often too):
    // a machine that asks for zero timeouts in a loop gets 1000 rounds a second, not a busy core.
    private static readonly TimeSpan MinTickInterval = TimeSpan.FromMilliseconds(1);
    private TimeSpan _lastTick = TimeSpan.MinValue;

    private readonly IDaitaHost _host;
    private readonly IDaitaRandom _random;
    private Framework _framework;
    private readonly int _machines;
    private readonly TimeSpan[] _actionDue;
    private readonly bool[] _actionIsDelay;
    private readonly bool[] _actionBypass;
    private readonly bool[] _actionReplace;
    private readonly TimeSpan[] _actionDuration;
    private readonly TimeSpan[] _internalDue;
    private readonly Queue<PacketBuffer> _delayed = new();
    private List<TriggerEvent> _pending = new(64);
    private List<TriggerEvent> _processing = new(64);
    private bool _delaying;
    private bool _delayBypass;
    private TimeSpan _delayUntil;
    private bool _abortDelay;
    private long _txPaddingBytes, _rxPaddingBytes, _txDecoyBytes, _rxDecoyBytes, _decoysSent, _decoysReceived, _delayedPackets;

    private DaitaPeer(DaitaSettings settings, Framework framework, IDaitaHost host, IDaitaRandom random)
    {
        Settings = settings;
        _framework = framework;
        _host = host;
        _random = random;
        _machines = framework.MachineCount;
        _actionDue = new TimeSpan[_machines];
        _actionIsDelay = new bool[_machines];
        _actionBypass = new bool[_machines];
        _actionReplace = new bool[_machines];
        _actionDuration = new TimeSpan[_machines];
        _internalDue = new TimeSpan[_machines];
        Array.Fill(_actionDue, TimeSpan.MaxValue);
        Array.Fill(_internalDue, TimeSpan.MaxValue);
    }

    /// <summary>Creates the peer's DAITA state; false with the reason if the settings are unusable.</summary>
    public static bool TryCreate(DaitaSettings settings, IDaitaHost host, IDaitaRandom random, TimeSpan now,
        out DaitaPeer? peer, out string? error)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(random);
        peer = null;
        error = settings.Validate();
        if (error is not null) return false;
        if (!Framework.TryCreate(settings.Machines, settings.MaxDecoyFrac, settings.MaxDelayFrac, now, random, out var fw, out error))
            return false;
        peer = new DaitaPeer(settings, fw!, host, random);
        return true;
    }

    /// <summary>The settings this state runs.</summary>
    public DaitaSettings Settings { get; }

    /// <summary>Bytes of zero padding added to outgoing real packets (sum of MTU − length; GotaTun tx_padding_bytes).</summary>
    public long TxPaddingBytes => Interlocked.Read(ref _txPaddingBytes);

    /// <summary>Padding bytes seen on received real packets (length − IP length rounded up to 16; GotaTun rx_padding_bytes).</summary>
    public long RxPaddingBytes => Interlocked.Read(ref _rxPaddingBytes);

    /// <summary>Plaintext bytes of decoys sent (MTU each; counted when the decoy actually goes out).</summary>
    public long TxDecoyBytes => Interlocked.Read(ref _txDecoyBytes);

    /// <summary>Plaintext bytes of decoys received (and dropped).</summary>
    public long RxDecoyBytes => Interlocked.Read(ref _rxDecoyBytes);

    /// <summary>Decoys sent.</summary>
    public long DecoysSent => Interlocked.Read(ref _decoysSent);

    /// <summary>Decoys received.</summary>
    public long DecoysReceived => Interlocked.Read(ref _decoysReceived);

    /// <summary>Real packets that went through the delay queue.</summary>
    public long DelayedPackets => Interlocked.Read(ref _delayedPackets);

    /// <summary>True while outgoing packets are being delayed (Maybenot blocking).</summary>
    public bool IsDelaying => _delaying;

    /// <summary>Packets currently held in the delay queue.</summary>
    public int DelayedCount => _delayed.Count;

    /// <summary>The earliest time <see cref="Tick"/> has work (TimeSpan.Zero if events wait; MaxValue if nothing).</summary>
    public TimeSpan NextDeadline
    {
        get
        {
            var min = _pending.Count > 0 || _abortDelay ? TimeSpan.Zero : _delaying ? _delayUntil : TimeSpan.MaxValue;
            for (int m = 0; m < _machines; m++)
            {
                if (_actionDue[m] < min) min = _actionDue[m];
                if (_internalDue[m] < min) min = _internalDue[m];
            }
            if (min == TimeSpan.MaxValue || _lastTick == TimeSpan.MinValue) return min;
            var earliest = _lastTick + MinTickInterval;
            return min < earliest ? earliest : min;
        }
    }

    private void Push(TriggerEventKind kind, int machine = 0)
    {
        if (_pending.Count >= MaxPendingEvents) return; // a runaway machine loses events rather than memory
        _pending.Add(new TriggerEvent(kind, machine));
    }

    // ---- Hooks from the data path ---------------------------------------------------------------------

    /// <summary>
    /// A real packet (non-empty) was handed to the tunnel for this peer: NormalSent, and the packet is zero-padded
    /// to the MTU so every data message has the same size (packets already at or above the MTU stay as they are;
    /// the receiver recovers the length from the IP header).
    /// </summary>
    public void OnNormalSent(PacketBuffer packet)
    {
        Push(TriggerEventKind.NormalSent);
        int mtu = _host.Mtu;
        int length = packet.Length;
        if (length >= mtu || packet.Tailroom < mtu - length) return;
        packet.ZeroExtend(mtu); // leaves a spliced payload where it lies
        Interlocked.Add(ref _txPaddingBytes, mtu - length);
    }

    /// <summary>
    /// While delaying, takes a real packet into the delay queue (true; ownership passes). False when not delaying or
    /// the queue is full (the packet goes out now, as GotaTun does). A queue close to full ends the delay early.
    /// </summary>
    public bool TryDelay(PacketBuffer packet)
    {
        if (!_delaying || _delayed.Count >= Settings.MaxDelayedPackets) return false;
        packet.Materialize(); // a held offload segment must not keep its super-packet's buffer rented
        _delayed.Enqueue(packet);
        Interlocked.Increment(ref _delayedPackets);
        if (Settings.MaxDelayedPackets - _delayed.Count < Settings.MinDelayCapacity)
        {
            _abortDelay = true;
        }
        return true;
    }

    /// <summary>A real packet went on the wire (sealed and handed to the transport): TunnelSent.</summary>
    public void OnTunnelSent() => Push(TriggerEventKind.TunnelSent);

    /// <summary>
    /// A transport message from the peer was decrypted (non-empty plaintext): TunnelRecv, then PaddingRecv for a
    /// decoy (returns false: drop it) or NormalRecv for a real packet (returns true).
    /// </summary>
    public bool OnReceived(ReadOnlySpan<byte> plaintext)
    {
        if (plaintext.IsEmpty) return true;
        Push(TriggerEventKind.TunnelRecv);
        if (plaintext[0] == DecoyMarker)
        {
            Push(TriggerEventKind.PaddingRecv);
            Interlocked.Add(ref _rxDecoyBytes, plaintext.Length);
            Interlocked.Increment(ref _decoysReceived);
            return false;
        }
        Push(TriggerEventKind.NormalRecv);
        int ipLength = IpPacket.TryRead(plaintext, out var ip) ? ip.TotalLength : plaintext.Length;
        int padding = plaintext.Length - ((ipLength + 15) & ~15);
        if (padding > 0) Interlocked.Add(ref _rxPaddingBytes, padding);
        return true;
    }

    // ---- Running the machines -------------------------------------------------------------------------

    /// <summary>Runs the events collected so far through the framework and applies its actions.</summary>
    public void Flush(TimeSpan now)
    {
        if (_abortDelay && _delaying) EndDelay(now);
        _abortDelay = false;
        for (int round = 0; round < MaxRounds && _pending.Count > 0; round++)
        {
            (_pending, _processing) = (_processing, _pending);
            var actions = _framework.TriggerEvents(CollectionsMarshal.AsSpan(_processing), now);
            _processing.Clear();
            foreach (var a in actions) Apply(a, now);
        }
        if (_pending.Count > 0) _host.OnDeadline(TimeSpan.Zero); // rounds used up: the rest on the next tick
    }

    /// <summary>Runs every timer due at <paramref name="now"/>, then the events they produced.</summary>
    public void Tick(TimeSpan now)
    {
        _lastTick = now;
        for (int round = 0; round < MaxRounds; round++)
        {
            bool any = false;
            for (int m = 0; m < _machines; m++)
            {
                if (_actionDue[m] <= now)
                {
                    any = true;
                    _actionDue[m] = TimeSpan.MaxValue;
                    if (_actionIsDelay[m]) StartDelay(m, now);
                    else SendDecoy(m, now);
                }
                if (_internalDue[m] <= now)
                {
                    any = true;
                    _internalDue[m] = TimeSpan.MaxValue;
                    Push(TriggerEventKind.TimerEnd, m);
                }
            }
            if (_delaying && _delayUntil <= now)
            {
                any = true;
                EndDelay(now);
            }
            if (_pending.Count > 0 || _abortDelay)
            {
                any = true;
                Flush(now);
            }
            if (!any) break;
        }
    }

    private void Apply(in TriggerAction a, TimeSpan now)
    {
        int m = a.Machine;
        if ((uint)m >= (uint)_machines) return;
        switch (a.Kind)
        {
            case TriggerActionKind.Cancel:
                if (a.Target is MachineTimer.Action or MachineTimer.All) _actionDue[m] = TimeSpan.MaxValue;
                if (a.Target is MachineTimer.Internal or MachineTimer.All) _internalDue[m] = TimeSpan.MaxValue;
                break;
            case TriggerActionKind.SendPadding:
                SetActionTimer(m, now + a.Timeout, isDelay: false, a.Bypass, a.Replace, TimeSpan.Zero);
                break;
            case TriggerActionKind.BlockOutgoing:
                SetActionTimer(m, now + a.Timeout, isDelay: true, a.Bypass, a.Replace, a.Duration);
                break;
            case TriggerActionKind.UpdateTimer:
                var due = now + a.Duration;
                // GotaTun events.rs: set when none is armed, when replacing, or when the new one ends later;
                // TimerBegin only when it changed.
                if (_internalDue[m] == TimeSpan.MaxValue || a.Replace || due > _internalDue[m])
                {
                    _internalDue[m] = due;
                    NoteDeadline(due);
                    Push(TriggerEventKind.TimerBegin, m);
                }
                break;
        }
    }

    private void SetActionTimer(int m, TimeSpan due, bool isDelay, bool bypass, bool replace, TimeSpan duration)
    {
        // One action timer per machine: a new action replaces the pending one (Maybenot integration contract).
        _actionDue[m] = due;
        _actionIsDelay[m] = isDelay;
        _actionBypass[m] = bypass;
        _actionReplace[m] = replace;
        _actionDuration[m] = duration;
        NoteDeadline(due);
    }

    private void NoteDeadline(TimeSpan due) => _host.OnDeadline(due);

    // GotaTun actions.rs handle_decoy: PaddingSent first, then the first rule that matches.
    private void SendDecoy(int m, TimeSpan now)
    {
        Push(TriggerEventKind.PaddingSent, m);
        bool bypass = _actionBypass[m], replace = _actionReplace[m];
        if (_delaying && _delayBypass && bypass && replace)
        {
            if (_delayed.TryDequeue(out var queued)) Send(queued, now);
            else SendNewDecoy(now);
        }
        else if (_delaying && _delayBypass && bypass)
        {
            SendNewDecoy(now);
        }
        else if (_delaying && replace && (_host.PendingOutbound > 0 || _delayed.Count > 0))
        {
            // A real packet is about to go anyway: it replaces the decoy.
        }
        else if (_delaying)
        {
            if (_delayed.Count < Settings.MaxDelayedPackets && _host.RentDecoy() is { } decoy) _delayed.Enqueue(decoy);
        }
        else if (replace && _host.PendingOutbound > 0)
        {
        }
        else
        {
            SendNewDecoy(now);
        }
    }

    private void SendNewDecoy(TimeSpan now)
    {
        if (_host.RentDecoy() is { } decoy) Send(decoy, now);
    }

    private void Send(PacketBuffer plaintext, TimeSpan now)
    {
        bool decoy = plaintext.Length > 0 && plaintext.Data[0] == DecoyMarker;
        int length = plaintext.Length;
        if (!_host.SendNow(plaintext, now)) return;
        if (decoy)
        {
            Interlocked.Add(ref _txDecoyBytes, length);
            Interlocked.Increment(ref _decoysSent);
        }
        Push(TriggerEventKind.TunnelSent);
    }

    // GotaTun actions.rs: BlockingBegin always; the expiry is extended, or reset when replacing.
    private void StartDelay(int m, TimeSpan now)
    {
        Push(TriggerEventKind.BlockingBegin, m);
        var until = now + _actionDuration[m];
        if (!_delaying || _actionReplace[m] || until > _delayUntil)
        {
            _delaying = true;
            _delayUntil = until;
            _delayBypass = _actionBypass[m];
            NoteDeadline(until);
        }
    }

    private void EndDelay(TimeSpan now)
    {
        _delaying = false;
        _abortDelay = false;
        while (_delayed.TryDequeue(out var packet)) Send(packet, now);
        Push(TriggerEventKind.BlockingEnd);
    }

    /// <summary>
    /// Stops everything (the interface went down or DAITA was reconfigured): queued packets are handed to
    /// <paramref name="release"/>, timers and delay are cleared, and the framework restarts from its start states
    /// at <paramref name="now"/> on the next use. Counters are kept.
    /// </summary>
    public void Reset(TimeSpan now, Action<PacketBuffer> release)
    {
        while (_delayed.TryDequeue(out var b)) release(b);
        Array.Fill(_actionDue, TimeSpan.MaxValue);
        Array.Fill(_internalDue, TimeSpan.MaxValue);
        _delaying = false;
        _abortDelay = false;
        _pending.Clear();
        if (Framework.TryCreate(Settings.Machines, Settings.MaxDecoyFrac, Settings.MaxDelayFrac, now, _random, out var fw, out _))
            _framework = fw!;
    }
}
