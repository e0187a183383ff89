using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Tun;
using VeilTun.Udp;

namespace VeilTun.Device;

// The device around the sans-IO ProtocolEngine, as wireguard-go's device package is around its protocol code. This
// file holds its lifecycle: construction, up/down, the UDP transport's binding, the timer and event threads, stats
// and disposal. The data path is one file per direction:
//   Tunnel.Send.cs     TUN reader → [lock] engine → crypto workers seal (CryptoPipeline) → UDP transport
//   Tunnel.Receive.cs  UDP reader → crypto workers open (CryptoPipeline) → [lock] engine → TUN
//                                 → handshake messages: bounded queue → control thread
// Threads: the TUN reader, the UDP reader, the crypto workers (one per core), the control thread (handshake
// messages and every timer: it sleeps until the earliest deadline or the next message, never polls) and, only
// while someone subscribes to EventRaised, the event thread. Idle, none of them wakes (bench/idle.sh).
// Batching and offloads live behind ITunDevice and IUdpTransport; the tunnel only sees packets and datagrams in
// pooled buffers. One lock serialises the engine. Sealing, opening, UDP sends and TUN writes happen outside it, on
// the worker draining a peer's lane, so each peer's packets keep their order.

/// <summary>
/// A WireGuard interface running in this process: the library API the daemon is a thin shell over. Create it on
/// a TUN (Linux, a host-provided fd, or in-memory), configure it (object model or <c>wg setconf</c> text), start
/// it, reconfigure it while it runs, read stats and subscribe to events. Thread-safe.
/// </summary>
public sealed partial class Tunnel : IDisposable
{
    /// <summary>Packets a reader collects before handing them over (about two pipeline batches).</summary>
    private const int MaxBurstPackets = CryptoPipeline.MaxBatch * 2;

    private readonly object _sync = new();
    private readonly TunnelOptions _options;
    private readonly ILogger _log;
    private readonly ITunDevice _tun;
    private readonly ProtocolEngine _engine;
    private readonly BufferPools _pools;
    private readonly CryptoPipeline _pipeline;
    private readonly Output _output;
    private readonly Func<TimeSpan> _now;
    private readonly BlockingCollection<TunnelEvent> _events = new(4096);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Thread> _threads = new();
    private readonly List<Thread> _udpReaders = new();
    private IUdpTransport? _udp;
    private int _listenPort;
    private uint _fwmark;
    private long _timerSleepUntil; // ticks of the engine clock the control thread sleeps until; under _sync
    private long _timerRuns; // ticks the control thread ran (a test hook: idle means none)
    private bool _started;
    private bool _followLink; // under _sync: down because the link is, so a packet from the TUN proves it up
    private int _disposed;
    private readonly IDisposable _metrics; // this tunnel's place in the VeilTun meter

    /// <summary>Creates a stopped tunnel with no configuration on <paramref name="options"/>.Tun.</summary>
    public Tunnel(TunnelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.AeadBackend != AeadBackend.Auto) ChaCha20Poly1305Context.SelectBackend(options.AeadBackend);
        _options = options;
        _tun = options.Tun;
        _log = TunnelLogger.Create(options.LoggerFactory, Log.Category, _tun.Name);
        _now = options.MonotonicClock ?? (() => BootTimeClock.Now);
        _pools = new BufferPools(options.MaxBuffers, options.MaxSmallBuffers, _tun.Mtu);
        _output = new Output(this);
        _engine = new ProtocolEngine(_output, _pools.Large, options.Random, options.WallClock) { Mtu = _tun.Mtu };
        _pipeline = new CryptoPipeline(options.CryptoWorkers ?? Environment.ProcessorCount, SendSealedBatch, CompleteOpenedBatch, _tun.Name);
        _metrics = Diagnostics.TunnelMetrics.Register(this, options.MeterFactory);
        _timerWake = _handshakes;
    }

    /// <summary>The interface name.</summary>
    public string Name => _tun.Name;

    /// <summary>True while the interface is up (packets flow, timers run).</summary>
    public bool IsUp
    {
        get
        {
            lock (_sync) return _engine.IsUp;
        }
    }

    /// <summary>The UDP port in use (the bound one when up), or the configured one.</summary>
    public int ListenPort
    {
        get
        {
            lock (_sync) return _udp?.Port ?? _listenPort;
        }
    }

    /// <summary>Our public key, if a private key is configured.</summary>
    public PublicKey? PublicKey
    {
        get
        {
            lock (_sync) return _engine.PublicKey;
        }
    }

    /// <summary>
    /// Raised on the tunnel's event thread (started with the first handler: a tunnel nobody listens to keeps no
    /// thread for it). Handlers may call back into the tunnel. Events raised while there is no handler are dropped.
    /// </summary>
    public event Action<TunnelEvent>? EventRaised
    {
        add
        {
            lock (_eventLock)
            {
                _eventRaised += value;
                if (_started && _eventRaised is not null) StartEventThreadLocked();
            }
        }
        remove
        {
            lock (_eventLock) _eventRaised -= value;
        }
    }

    private readonly object _eventLock = new();
    private Action<TunnelEvent>? _eventRaised;
    private Thread? _eventThread; // under _eventLock

    private void StartEventThreadLocked()
    {
        if (_eventThread is not null || _disposed != 0) return;
        _eventThread = new Thread(() => RunAndReleaseMagazines(EventLoop)) { IsBackground = true, Name = $"{_tun.Name}/events" };
        _eventThread.Start();
    }

    // Timer wakes go through the control thread's queue (see ControlQueue): the same object as _handshakes.
    private readonly ControlQueue<(PacketBuffer Buffer, NetEndpoint From, PacketInfo Local)> _timerWake;

    /// <summary>Completes when the tunnel stopped by itself (its TUN went away) or was disposed.</summary>
    public Task Stopped => _stoppedSource.Task;

    private readonly TaskCompletionSource _stoppedSource = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Starts the reader, crypto, timer and event threads. The interface comes up at once when the TUN is up (an
    /// in-memory TUN always is) or when it goes up later — as wireguard-go, which binds its socket only while up.
    /// </summary>
    public void Start()
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (_started) return;
            _started = true;
        }
        _pipeline.Start();
        _tun.Event += OnTunEvent;
        StartThread("tun-reader", TunReaderLoop);
        StartThread("control", ControlLoop);
        lock (_eventLock)
        {
            if (_eventRaised is not null) StartEventThreadLocked();
        }
        if (_options.StartUp ?? _tun.IsUp) SetUp(true);
        else _followLink = _options.StartUp is null;
    }

    private void StartThread(string name, ThreadStart body)
    {
        var t = new Thread(() => RunAndReleaseMagazines(body)) { IsBackground = true, Name = $"{_tun.Name}/{name}" };
        _threads.Add(t);
        t.Start();
    }

    // Every tunnel thread hands the pool buffers cached in its magazines back when it ends (a UDP rebind replaces
    // the reader thread; without this each rebind would strand a magazine's worth of buffers per pool).
    internal static void RunAndReleaseMagazines(ThreadStart body)
    {
        try
        {
            body();
        }
        finally
        {
            PacketPool.ReleaseThreadMagazines();
        }
    }

    private void OnTunEvent(TunEvent e)
    {
        switch (e.Kind)
        {
            case TunEventKind.Up:
                SetUp(true, followLink: true);
                break;
            case TunEventKind.Down:
                SetUp(false, followLink: true);
                break;
            case TunEventKind.MtuChanged:
                lock (_sync) _engine.Mtu = _pools.Mtu = e.Mtu;
                Log.MtuUpdated(_log, e.Mtu);
                Raise(new TunnelEvent(TunnelEventKind.MtuChanged, Message: e.Mtu.ToString()));
                break;
            case TunEventKind.Watching:
                Log.InterfaceWatched(_log, e.Detail ?? "interface followed another way");
                break;
            case TunEventKind.WatchDegraded:
                Log.InterfaceWatchDegraded(_log, e.Detail ?? "interface out of reach: only its deletion is seen");
                break;
            case TunEventKind.Deleted:
                Raise(new TunnelEvent(TunnelEventKind.Closed, Message: "interface deleted"));
                ThreadPool.QueueUserWorkItem(_ => Dispose());
                break;
        }
    }

    /// <summary>Brings the interface up (binds UDP, starts timers) or down (wipes sessions, closes UDP).</summary>
    public void SetUp(bool up) => SetUp(up, followLink: false);

    // followLink: the state follows the TUN's link (events, or packets read while the link-up event is on its way);
    // a caller's own SetUp takes the state out of the link's hands.
    private void SetUp(bool up, bool followLink)
    {
        lock (_sync)
        {
            _followLink = followLink;
            if (_disposed != 0 || up == _engine.IsUp) return;
            if (up)
            {
                try
                {
                    SwapUdpLocked(BindTransport(_listenPort));
                    // Here, so that it watches the routes of the namespace the socket was just bound in.
                    if (_routes is null) StartRouteWatcher();
                }
                catch (Exception ex) when (IsBindFailure(ex))
                {
                    Log.BindFailed(_log, _listenPort, ex);
                    Raise(new TunnelEvent(TunnelEventKind.Error, Message: $"cannot bind UDP port {_listenPort}: {ex.Message}"));
                    return;
                }
                _engine.Up(_now());
                AfterEngine();
            }
            else
            {
                _engine.Down();
                CloseUdpLocked();
            }
        }
        if (up) Log.InterfaceUp(_log);
        else Log.InterfaceDown(_log);
        Raise(new TunnelEvent(up ? TunnelEventKind.Up : TunnelEventKind.Down));
        _timerWake.Set();
    }

    private IUdpTransport BindTransport(int port)
    {
        var udp = _options.BindUdp is { } bind ? bind(port) : LinuxUdpSocket.Bind(port, enableGro: true);
        try
        {
            if (_fwmark != 0) udp.SetFwmark(_fwmark);
            _options.ProtectSocket?.Invoke(udp);
        }
        catch
        {
            udp.Dispose();
            throw;
        }
        return udp;
    }

    // The new transport gets its own reader thread; the old one's reader ends when its transport closes.
    private void SwapUdpLocked(IUdpTransport udp)
    {
        CloseUdpLocked();
        _udp = udp;
        var reader = new Thread(() => RunAndReleaseMagazines(() => UdpReaderLoop(udp))) { IsBackground = true, Name = $"{_tun.Name}/udp-reader" };
        _udpReaders.RemoveAll(t => !t.IsAlive);
        _udpReaders.Add(reader);
        reader.Start();
    }

    private void CloseUdpLocked()
    {
        _udp?.Close();
        _udp = null;
    }

    /// <summary>Everything that must follow a locked engine section: hand sealed batches over, write the TUN.</summary>
    private void AfterEngine()
    {
        _pipeline.FlushOutbound();
        FlushDeliveredLocked();
        // A timer armed for earlier than the control thread's wake-up: wake it now.
        if (_engine.TakeNewDeadline().Ticks < _timerSleepUntil) _timerWake.Set();
    }

    private const int PoolTrimMilliseconds = 10_000;

    /// <summary>
    /// Gives idle packet buffers back to the OS now, and drops idle crypto batches: those that lay unused since the
    /// previous trim (the tunnel trims every 10 s by itself). For hosts under memory pressure (Android's <c>onTrimMemory</c>) and after large
    /// configuration changes. Buffers in use are never touched; a later burst creates them again. Returns how many
    /// buffers were released.
    /// </summary>
    public int TrimMemory()
    {
        _pipeline.TrimSpares(); // the batches a backlog made (managed memory: ~7 KB each)
        return _pools.Large.Trim() + _pools.Small.Trim();
    }

    // The control thread: handshake messages as they come, timers when due, the memory trim while there is idle
    // memory to trim. It sleeps until whichever is first; a timer armed earlier than its sleep wakes it (AfterEngine).
    private void ControlLoop()
    {
        var due = TimeSpan.Zero; // engine clock: when the timers next have work (at once, to start)
        long trimAt = long.MaxValue; // Environment.TickCount64; MaxValue: nothing to trim
        while (!_stop.IsCancellationRequested)
        {
            var now = _now();
            if (now >= due) due = RunTimers(now);
            long ms = Environment.TickCount64;
            if (ms >= trimAt)
            {
                // Buffers a burst (or a stall) made the pools create and that then lay idle go back to the GC.
                TrimMemory();
                trimAt = long.MaxValue;
            }
            // Trims come every 10 s only while something could be trimmed (idle buffers, spare batches).
            if (trimAt == long.MaxValue && HasIdleMemory) trimAt = ms + PoolTrimMilliseconds;
            long wait = due == TimeSpan.MaxValue ? long.MaxValue : (long)Math.Ceiling((due - now).TotalMilliseconds);
            if (trimAt != long.MaxValue) wait = Math.Min(wait, trimAt - ms);
            int timeout = wait >= int.MaxValue ? Timeout.Infinite : (int)Math.Max(1, wait);
            if (_handshakes.Take(timeout, out var hs, out int left, out bool woken)) ProcessHandshake(hs.Buffer, hs.From, hs.Local, left);
            if (woken) due = TimeSpan.Zero; // a timer was armed earlier than the sleep: look again
        }
        while (_handshakes.TryTakeLeft(out var left)) left.Buffer.Return();
    }

    // Runs the due timers and returns when to run them next (engine clock).
    private TimeSpan RunTimers(TimeSpan now)
    {
        lock (_sync)
        {
            _timerRuns++;
            _engine.Tick(now);
            _timerSleepUntil = long.MinValue; // what the tick armed is in NextDeadline below: no wake for it
            AfterEngine();
            var next = _engine.NextDeadline;
            // DAITA's machines see every packet and do not report every deadline they set: look every 100 ms.
            if (_engine.NeedsPeriodicTick && next > now + DaitaTickInterval) next = now + DaitaTickInterval;
            // A host's clock (TunnelOptions.MonotonicClock; a test's fake clock) may jump and nothing tells us: look at
            // it every so often. The default clock is slept on exactly.
            if (_options.MonotonicClock is not null && next - now > HostClockPollInterval) next = now + HostClockPollInterval;
            if (next < now + TimeSpan.FromMilliseconds(1)) next = now + TimeSpan.FromMilliseconds(1);
            _timerSleepUntil = next == TimeSpan.MaxValue ? long.MaxValue : next.Ticks;
            return next;
        }
    }

    private static readonly TimeSpan DaitaTickInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How often the control thread looks at a host-provided clock (<see cref="TunnelOptions.MonotonicClock"/>),
    /// which may jump without telling the tunnel (100 ms, as before #16). A test hook: MaxValue sleeps on it exactly.
    /// </summary>
    internal TimeSpan HostClockPollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    private bool HasIdleMemory => _pools.Large.SharedFreeCount > 0 || _pools.Small.SharedFreeCount > 0 || _pipeline.SpareCount > 0;

    /// <summary>Test hook: how many times the control thread ran the timers (idle: it does not).</summary>
    internal long TimerRuns
    {
        get
        {
            lock (_sync) return _timerRuns;
        }
    }

    /// <summary>Test hook: peers in the engine's timer queue, and peers its ticks took out of it so far.</summary>
    internal (int Queued, long Visited) TimerQueueStats
    {
        get
        {
            lock (_sync) return (_engine.TimerQueueCount, _engine.TimerPeersVisited);
        }
    }

    private void EventLoop()
    {
        try
        {
            foreach (var e in _events.GetConsumingEnumerable(_stop.Token))
            {
                try
                {
                    Volatile.Read(ref _eventRaised)?.Invoke(e);
                }
                catch (Exception ex)
                {
                    Log.EventHandlerFailed(_log, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Raise(TunnelEvent e)
    {
        if (Volatile.Read(ref _eventRaised) is not null && !_events.IsAddingCompleted) _events.TryAdd(e);
    }

    private void CountDrop(DropReason reason) => _pools.Drops.Count(reason);

    // ---- Stats --------------------------------------------------------------------------------------------

    /// <summary>Per-peer counters.</summary>
    public IReadOnlyList<PeerStats> GetPeerStats()
    {
        lock (_sync)
        {
            return _engine.Peers.Select(p => new PeerStats(p.PublicKey, p.Endpoint.IsNone ? "(none)" : p.Endpoint.ToString(),
                p.LastHandshake, p.RxBytes, p.TxBytes)).ToArray();
        }
    }

    /// <summary>Packets and datagrams dropped, by reason (zero counts omitted).</summary>
    public IReadOnlyDictionary<DropReason, long> GetDropCounts()
    {
        var result = new SortedDictionary<DropReason, long>();
        foreach (var reason in Enum.GetValues<DropReason>())
        {
            if (reason == DropReason.None) continue;
            long n = _engine.GetDropCount(reason) + _pools.Drops[reason];
            if (n > 0) result[reason] = n;
        }
        return result;
    }

    /// <summary>Spare crypto batches the pipeline keeps (a test hook).</summary>
    internal int CryptoSpareBatches => _pipeline.SpareCount;

    /// <summary>Test hook into the crypto workers (see <see cref="CryptoPipeline.BeforeWork"/>).</summary>
    internal Action<CryptoPipeline.Batch>? BeforeCryptoWork
    {
        set => _pipeline.BeforeWork = value;
    }

    /// <summary>Test hook: runs on a crypto worker about to park (see <see cref="CryptoPipeline.BeforePark"/>).</summary>
    internal Action? BeforeCryptoPark
    {
        set => _pipeline.BeforePark = value;
    }

    /// <summary>Test hook: the engine-clock time the control thread sleeps until (TimeSpan.MaxValue: no deadline).</summary>
    internal TimeSpan TimerSleepUntil
    {
        get
        {
            lock (_sync) return _timerSleepUntil == long.MaxValue ? TimeSpan.MaxValue : TimeSpan.FromTicks(_timerSleepUntil);
        }
    }

    /// <summary>Test hook: per-peer crypto lanes the pipeline keeps.</summary>
    internal int CryptoLanes => _pipeline.LaneCount;

    /// <summary>How many entries each per-peer or per-source table holds (leak checks in tests and bench/churn.sh b).</summary>
    internal readonly record struct Tables(int Peers, int Indices, int AllowedIps, int AllowedIpsNodes, int RateLimiterEntries, int CryptoLanes,
        int TimerQueue);

    /// <summary>Test hook: the sizes of the engine's and the pipeline's tables, read under the tunnel lock.</summary>
    internal Tables TableCounts
    {
        get
        {
            lock (_sync)
            {
                return new Tables(_engine.PeerCount, _engine.Indices.Count, _engine.AllowedIps.Count, _engine.AllowedIps.NodeCount,
                    _engine.RateLimiterCount, _pipeline.LaneCount, _engine.TimerQueueCount);
            }
        }
    }

    /// <summary>Buffers currently rented (for leak checks in tests).</summary>
    public int OutstandingBuffers => _pools.Outstanding + _handshakePool.Outstanding;

    /// <summary>Test hook: buffers created so far in the large and the small pool.</summary>
    internal (int Large, int Small) BuffersCreated => (_pools.Large.Created, _pools.Small.Created);

    // ---- Lifetime -----------------------------------------------------------------------------------------

    /// <summary>Stops every thread, wipes keys, closes the UDP transport and the TUN.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _metrics.Dispose();
        _tun.Event -= OnTunEvent;
        lock (_sync)
        {
            AfterEngine();
            CloseUdpLocked();
        }
        _stop.Cancel();
        _handshakes.Close();
        StopRouteWatcher();
        _tun.Close();
        Thread[] readers;
        lock (_sync) readers = _udpReaders.ToArray();
        Thread? events;
        lock (_eventLock) events = _eventThread;
        foreach (var t in _threads.Concat(readers).Concat(events is null ? [] : [events]))
            if (t != Thread.CurrentThread) t.Join(TimeSpan.FromSeconds(2));
        _pipeline.Stop(b => b.Return());
        lock (_sync)
        {
            _engine.Down();
            _engine.RemoveAllPeers();
            _engine.SetPrivateKey(ReadOnlySpan<byte>.Empty);
            foreach (var b in _delivered) b.Return();
            _delivered.Clear();
        }
        _events.CompleteAdding();
        _tun.Dispose();
        // Buffer memory is native: free buffers' goes back now, any straggler's when it is returned.
        _pools.Dispose();
        _handshakePool.Dispose();
        _stoppedSource.TrySetResult();
    }

    /// <summary>The engine's output, called under the tunnel lock.</summary>
    private sealed class Output(Tunnel tunnel) : IProtocolOutput
    {
        public bool SendDatagram(PacketBuffer datagram, NetEndpoint destination, in PacketInfo source, Peer? peer) =>
            tunnel.SendDatagram(datagram, destination, source, peer);

        // Sealed on a worker, sent in nonce order by the worker draining the peer's lane (Tunnel.Send.cs).
        public bool SealAndSend(PacketBuffer packet, Keypair keypair, ulong nonce, Peer peer, int mtu)
        {
            tunnel._pipeline.AddOutbound(packet, keypair, nonce, peer, mtu);
            return true;
        }

        // Written to the TUN after the lock (Tunnel.Receive.cs).
        public void DeliverPacket(PacketBuffer packet, Peer peer) => tunnel._delivered.Add(packet);

        public void OnEvent(in ProtocolEvent e)
        {
            switch (e.Kind)
            {
                case ProtocolEventKind.HandshakeCompleted:
                    Log.HandshakeCompleted(tunnel._log, e.Peer);
                    tunnel.Raise(new TunnelEvent(TunnelEventKind.HandshakeCompleted, e.Peer?.PublicKey));
                    break;
                case ProtocolEventKind.EndpointChanged:
                    tunnel.Raise(new TunnelEvent(TunnelEventKind.EndpointChanged, e.Peer?.PublicKey, e.Peer?.Endpoint.ToString()));
                    break;
                case ProtocolEventKind.HandshakeInitiationSent:
                    Log.HandshakeInitiationSent(tunnel._log, e.Peer);
                    break;
                case ProtocolEventKind.HandshakeGaveUp:
                    Log.HandshakeGaveUp(tunnel._log, e.Peer, Protocol.MaxTimerHandshakes + 2);
                    break;
                case ProtocolEventKind.Dropped when e.Reason == DropReason.Internal:
                    Log.InternalError(tunnel._log, tunnel._engine.LastInternalError);
                    break;
            }
        }
    }
}
