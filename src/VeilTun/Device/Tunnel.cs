using System.Buffers.Binary;
using System.Collections.Concurrent;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Tun;
using VeilTun.Udp;

namespace VeilTun.Device;

// Data plane, correct-first (issue 4; the parallel fast path is issue 5):
//   TUN reader thread:  read → pooled buffer (after the headroom) → [lock] engine.SendPacket → seal in place → UDP send
//   UDP reader thread:  receive → pooled buffer → data: [lock] engine.ReceiveDatagram → open in place → TUN write
//                                              → handshake: bounded queue → handshake thread (load = queue depth)
//   timer thread:       [lock] engine.Tick at the engine's next deadline (at least every 100 ms)
//   event thread:       delivers TunnelEvents to subscribers, outside the lock
// One lock serializes the engine; sends and TUN writes happen under it, so each peer's packets stay in order.

/// <summary>
/// A WireGuard interface running in this process: the library API the daemon is a thin shell over. Create it on
/// a TUN (Linux, a host-provided fd, or in-memory), configure it (object model or <c>wg setconf</c> text), start
/// it, reconfigure it while it runs, read stats and subscribe to events. Thread-safe.
/// </summary>
public sealed partial class Tunnel : IDisposable
{
    private const int HandshakeQueueSize = 1024; // wireguard-go QueueHandshakeSize
    private const int BufferSize = 65535 + PacketBuffer.DefaultHeadroom + 64;

    /// <summary>
    /// Small buffers: headroom, a packet of up to the MTU, padding and tag (2 KiB fits MTUs up to ~1880; a larger MTU
    /// or packet takes a large buffer).
    /// </summary>
    private const int SmallBufferSize = 2048;
    private const int SmallBufferSlack = 64; // padding (15) + tag (16), rounded up

    /// <summary>Packets a reader collects before handing them over (about two pipeline batches).</summary>
    private const int MaxBurstPackets = CryptoPipeline.MaxBatch * 2;

    private readonly object _sync = new();
    private readonly TunnelOptions _options;
    private readonly ITunDevice _tun;
    private readonly ProtocolEngine _engine;
    private readonly PacketPool _pool;
    private readonly PacketPool _smallPool;
    // Handshake messages are copied into their own small buffers: a flood of them must never hold the data
    // path's buffers (found by tests/interop/badinput.sh: junk initiations starved real traffic).
    private readonly PacketPool _handshakePool = new(PacketBuffer.DefaultHeadroom + Messages.InitiationSize + 64, HandshakeQueueSize);
    private readonly Output _output;
    private readonly Func<TimeSpan> _now;
    private readonly BlockingCollection<(PacketBuffer Buffer, NetEndpoint From, PacketInfo Local)> _handshakes =
        new(HandshakeQueueSize);
    private readonly BlockingCollection<TunnelEvent> _events = new(4096);
    private readonly CancellationTokenSource _stop = new();
    private readonly AutoResetEvent _timerWake = new(false);
    private readonly List<Thread> _threads = new();
    private readonly long[] _deviceDrops = new long[Enum.GetValues<DropReason>().Length];
    private IUdpTransport? _udp;
    private CryptoPipeline? _pipeline;
    private readonly List<Thread> _udpReaders = new();
    private int _listenPort;
    private uint _fwmark;
    private TimeSpan _underLoadUntil;
    private long _timerSleepUntil; // ticks of the engine clock; written and read under _sync
    private bool _started;
    private int _disposed;

    /// <summary>Creates a stopped tunnel with no configuration on <paramref name="options"/>.Tun.</summary>
    public Tunnel(TunnelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _tun = options.Tun;
        _now = options.MonotonicClock ?? (() => BootTimeClock.Now);
        _pool = new PacketPool(BufferSize, options.MaxBuffers);
        _smallPool = new PacketPool(SmallBufferSize, options.MaxSmallBuffers);
        _output = new Output(this);
        _engine = new ProtocolEngine(_output, _pool, options.Random, options.WallClock) { Mtu = _tun.Mtu };
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

    /// <summary>Raised on the tunnel's event thread. Handlers may call back into the tunnel.</summary>
    public event Action<TunnelEvent>? EventRaised;

    /// <summary>Completes when the tunnel stopped by itself (its TUN went away) or was disposed.</summary>
    public Task Stopped => _stoppedSource.Task;

    private readonly TaskCompletionSource _stoppedSource = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Starts the reader, timer and event threads. The interface comes up at once for in-memory TUNs, or when
    /// the Linux interface is (or goes) up — as wireguard-go, which binds its socket only while up.
    /// </summary>
    public void Start()
    {
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (_started) return;
            _started = true;
        }
        if (_options.ParallelCrypto)
            _pipeline = new CryptoPipeline(_options.CryptoWorkers ?? Environment.ProcessorCount, SendOutboundBatch, CompleteInboundBatch, _tun.Name);
        _tun.Event += OnTunEvent;
        StartThread("tun-reader", TunReaderLoop);
        StartThread("handshakes", HandshakeLoop);
        StartThread("timers", TimerLoop);
        StartThread("events", EventLoop);
        bool up = _options.StartUp ?? (_tun is not LinuxTun linux || linux.IsUp);
        if (up) SetUp(true);
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
                SetUp(true);
                break;
            case TunEventKind.Down:
                SetUp(false);
                break;
            case TunEventKind.MtuChanged:
                lock (_sync) _engine.Mtu = e.Mtu;
                Raise(new TunnelEvent(TunnelEventKind.MtuChanged, Message: e.Mtu.ToString()));
                break;
            case TunEventKind.Deleted:
                Raise(new TunnelEvent(TunnelEventKind.Closed, Message: "interface deleted"));
                ThreadPool.QueueUserWorkItem(_ => Dispose());
                break;
        }
    }

    /// <summary>Brings the interface up (binds UDP, starts timers) or down (wipes sessions, closes UDP).</summary>
    public void SetUp(bool up)
    {
        lock (_sync)
        {
            if (_disposed != 0 || up == _engine.IsUp) return;
            if (up)
            {
                try
                {
                    BindLocked(_listenPort);
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
                {
                    Log(TunnelLogLevel.Error, $"cannot bind UDP port {_listenPort}: {ex.Message}");
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
        Log(TunnelLogLevel.Verbose, up ? "interface is up" : "interface is down");
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

    private void BindLocked(int port) => SwapUdpLocked(BindTransport(port));

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
        if (_udp is LinuxUdpSocket socket) Interlocked.Add(ref _closedSocketDiscards, socket.DiscardedDatagrams);
        _udp = null;
    }

    private long _closedSocketDiscards; // empty or oversized datagrams skipped by sockets since replaced

    // ---- Threads ------------------------------------------------------------------------------------------

    private void TunReaderLoop()
    {
        if (OffloadTun is { } offloadTun)
        {
            TunReaderLoopOffload(offloadTun);
            return;
        }
        if (_tun is IPacketBufferTun bufferTun)
        {
            TunReaderLoopBuffers(bufferTun);
            return;
        }
        var scratch = new byte[BufferSize];
        var burst = new PacketBuffer[CryptoPipeline.MaxBatch];
        bool closed = false;
        while (!_stop.IsCancellationRequested && !closed)
        {
            int count = 0;
            // One blocking read, then whatever else is already queued: a burst becomes one locked section and
            // one batch per peer.
            while (count < burst.Length)
            {
                if (!_pool.TryRent(out var buffer))
                {
                    if (count > 0) break;
                    // Exhausted: read into scratch and drop, so the TUN never stalls (counted).
                    if (_tun.Read(scratch) == 0) { closed = true; break; }
                    CountDrop(DropReason.PoolExhausted);
                    continue;
                }
                int n;
                try
                {
                    n = count == 0 ? _tun.Read(buffer.ReadArea()) : _tun.TryRead(buffer.ReadArea());
                }
                catch (Exception ex)
                {
                    buffer.Return();
                    Log(TunnelLogLevel.Error, $"TUN read failed: {ex.Message}");
                    closed = true;
                    break;
                }
                if (n <= 0)
                {
                    buffer.Return();
                    if (n == 0) closed = true;
                    break;
                }
                buffer.SetData(PacketBuffer.DefaultHeadroom, n);
                burst[count++] = buffer;
            }
            if (count == 0) continue;
            SendBurst(burst.AsSpan(0, count));
            Array.Clear(burst, 0, count);
        }
        OnTunReaderEnded();
    }

    // One locked engine section per burst read from the TUN: one clock read, one batch per peer.
    private void SendBurst(ReadOnlySpan<PacketBuffer> burst)
    {
        lock (_sync)
        {
            var now = _now();
            foreach (var packet in burst) _engine.SendPacket(packet, now);
            AfterEngine();
        }
        Keypair.ForgetWipedKeysOnThisThread(); // without workers this thread seals
    }

    // The TUN reader stopped: unless we are stopping anyway, the TUN went away and takes the tunnel with it.
    private void OnTunReaderEnded()
    {
        if (_stop.IsCancellationRequested) return;
        Raise(new TunnelEvent(TunnelEventKind.Closed, Message: "TUN closed"));
        ThreadPool.QueueUserWorkItem(_ => Dispose());
    }

    // An in-process TUN hands over whole buffers (multihop's entry device): no copy, same batching.
    private void TunReaderLoopBuffers(IPacketBufferTun tun)
    {
        var burst = new PacketBuffer[CryptoPipeline.MaxBatch];
        bool closed = false;
        while (!_stop.IsCancellationRequested && !closed)
        {
            int count = 0;
            while (count < burst.Length)
            {
                var buffer = count == 0 ? tun.ReadBuffer() : tun.TryReadBuffer();
                if (buffer is null)
                {
                    if (count == 0) closed = true;
                    break;
                }
                burst[count++] = buffer;
            }
            if (count == 0) continue;
            SendBurst(burst.AsSpan(0, count));
            Array.Clear(burst, 0, count);
        }
        OnTunReaderEnded();
    }

    // An in-process transport hands over whole buffers (multihop's exit device): no copy, same batching.
    private void UdpReaderLoopBuffers(IPacketBufferUdp udp)
    {
        while (!_stop.IsCancellationRequested)
        {
            bool closed = false;
            var now = TimeSpan.Zero;
            for (int i = 0; i < CryptoPipeline.MaxBatch; i++)
            {
                var buffer = i == 0 ? udp.ReceiveBuffer(out var from, out var local) : udp.TryReceiveBuffer(out from, out local);
                if (buffer is null)
                {
                    if (i == 0) closed = true;
                    break;
                }
                if (i == 0) now = _now();
                Dispatch(buffer, from, local, now);
            }
            _pipeline?.FlushInbound();
            Keypair.ForgetWipedKeysOnThisThread(); // without workers this thread opens
            if (closed) break;
        }
    }

    private void UdpReaderLoop(IUdpTransport udp)
    {
        if (udp is IPacketBufferUdp bufferUdp)
        {
            UdpReaderLoopBuffers(bufferUdp);
            return;
        }
        var scratch = new byte[BufferSize];
        var groExtras = new List<PacketBuffer>(64);
        while (!_stop.IsCancellationRequested)
        {
            bool closed = false;
            var now = TimeSpan.Zero; // read once per burst, after the blocking receive
            // One blocking receive, then whatever else is queued, then hand the batches over. A burst ends after
            // about two batches of packets, not of receives: one GRO receive holds up to ~45 datagrams, and 64 of
            // them in a row emptied the buffer pool and dropped segments (pool_exhausted under TCP load).
            int packets = 0;
            for (int i = 0; i < CryptoPipeline.MaxBatch && packets < MaxBurstPackets; i++)
            {
                if (!_pool.TryRent(out var buffer))
                {
                    if (i > 0) break;
                    if (udp.Receive(scratch, out _, out _) == 0) { closed = true; break; }
                    CountDrop(DropReason.PoolExhausted);
                    continue;
                }
                int n;
                NetEndpoint from;
                PacketInfo local;
                int segment = 0;
                try
                {
                    if (udp is LinuxUdpSocket { GroEnabled: true } gro)
                        n = i == 0 ? gro.ReceiveCoalesced(buffer.ReadArea(), out from, out local, out segment)
                                   : gro.TryReceiveCoalesced(buffer.ReadArea(), out from, out local, out segment);
                    else
                        n = i == 0 ? udp.Receive(buffer.ReadArea(), out from, out local) : udp.TryReceive(buffer.ReadArea(), out from, out local);
                }
                catch (Exception ex)
                {
                    buffer.Return();
                    Log(TunnelLogLevel.Error, $"UDP receive failed: {ex.Message}");
                    closed = true;
                    break;
                }
                if (n <= 0)
                {
                    buffer.Return();
                    if (n == 0 && i == 0) closed = true; // closed (rebind or down)
                    break;
                }
                if (i == 0) now = _now();
                if (segment > 0 && segment < n)
                {
                    // UDP GRO handed over several datagrams back to back: each gets its own small buffer, all of
                    // them before anything is dispatched, then all go out in arrival order.
                    if (_options.SpliceSegments)
                    {
                        // Zero copy: a transport message's 16-byte header is copied, its sealed part is spliced and
                        // decrypted from this buffer straight into the small one; this buffer, read-only from here
                        // on, goes back when the last datagram spliced onto it has been returned.
                        buffer.SetData(PacketBuffer.DefaultHeadroom, n);
                        SpliceGroDatagrams(buffer, segment, groExtras);
                        buffer.Return();
                    }
                    else
                    {
                        // Each datagram after the first is copied into its own buffer (one copy).
                        for (int offset = segment; offset < n; offset += segment)
                        {
                            int length = Math.Min(segment, n - offset);
                            if (!TryRentFor(length, out var extra))
                            {
                                CountDrop(DropReason.PoolExhausted);
                                continue;
                            }
                            buffer.Raw.Slice(PacketBuffer.DefaultHeadroom + offset, length).CopyTo(extra.ReadArea());
                            extra.SetData(PacketBuffer.DefaultHeadroom, length);
                            groExtras.Add(extra);
                        }
                        buffer.SetData(PacketBuffer.DefaultHeadroom, segment);
                        groExtras.Insert(0, buffer);
                    }
                    foreach (var datagram in groExtras) Dispatch(datagram, from, local, now);
                    packets += groExtras.Count;
                    groExtras.Clear();
                    continue;
                }
                buffer.SetData(PacketBuffer.DefaultHeadroom, n);
                Dispatch(buffer, from, local, now);
                packets++;
            }
            _pipeline?.FlushInbound();
            Keypair.ForgetWipedKeysOnThisThread(); // without workers this thread opens
            if (closed) break;
        }
    }

    // One small buffer per datagram of a GRO receive in `source` (its data: the datagrams back to back, `segment`
    // bytes each but the last). Transport messages keep only their header in the small buffer and splice the rest;
    // anything else (a handshake message, junk) is small and rare, and is copied whole.
    private void SpliceGroDatagrams(PacketBuffer source, int segment, List<PacketBuffer> output)
    {
        var all = source.Data;
        for (int offset = 0; offset < all.Length; offset += segment)
        {
            int length = Math.Min(segment, all.Length - offset);
            var datagram = all.Slice(offset, length);
            if (!TryRentFor(length, out var b))
            {
                CountDrop(DropReason.PoolExhausted);
                continue;
            }
            b.SetData(PacketBuffer.DefaultHeadroom, length);
            bool transport = length >= Messages.KeepaliveSize && BinaryPrimitives.ReadUInt32LittleEndian(datagram) == (uint)MessageType.TransportData;
            if (transport)
            {
                datagram[..Messages.TransportHeaderSize].CopyTo(b.DataInPlace);
                b.Splice(source, source.Offset + offset + Messages.TransportHeaderSize, length - Messages.TransportHeaderSize);
                _splicedUdpDatagrams++;
            }
            else
            {
                datagram.CopyTo(b.DataInPlace);
            }
            output.Add(b);
        }
    }

    // A buffer for one packet of `length` bytes: small when it (and, for DAITA's padding, the MTU) fits in one.
    private bool TryRentFor(int length, out PacketBuffer buffer)
    {
        int needed = PacketBuffer.DefaultHeadroom + Math.Max(length, _engine.Mtu) + SmallBufferSlack;
        if (needed <= SmallBufferSize && _smallPool.TryRent(out buffer)) return true;
        return _pool.TryRent(out buffer);
    }

    // Drops decided before the engine sees a datagram are counted on the tunnel's own counters, without the
    // engine lock, so a flood of junk never contends with the data path (GetDropCounts sums both).
    private void DropEarly(DropReason reason, PacketBuffer buffer)
    {
        CountDrop(reason);
        buffer.Return();
    }

    private void Dispatch(PacketBuffer buffer, NetEndpoint from, in PacketInfo local, TimeSpan now)
    {
        var data = buffer.DataInPlace; // headers are in place; a transport message's sealed part may be spliced
        byte type = data.Length >= 4 && data[1] == 0 && data[2] == 0 && data[3] == 0 ? data[0] : (byte)0;
        if (type is 1 or 2)
        {
            data = buffer.Data; // whole (handshake messages are never spliced; this only guards)
            // mac1 first, as cheap as one BLAKE2s: junk never reaches the queue (the engine checks again).
            if (!Messages.TryClassify(data, out _, out var reason) || !_engine.CheckMac1(data))
            {
                DropEarly(reason != DropReason.None ? reason : DropReason.InvalidMac1, buffer);
                return;
            }
            if (!_handshakePool.TryRent(out var copy))
            {
                DropEarly(DropReason.HandshakeQueueFull, buffer);
                return;
            }
            copy.SetLength(data.Length);
            data.CopyTo(copy.Data);
            buffer.Return();
            if (!_handshakes.TryAdd((copy, from, local)))
            {
                copy.Return();
                CountDrop(DropReason.HandshakeQueueFull);
            }
            return;
        }
        if (_pipeline is not null && type == 4 && data.Length >= Messages.KeepaliveSize)
        {
            if (_engine.TryBeginTransport(buffer, now, out var peer, out var keypair, out ulong counter, out var reason))
                _pipeline.AddInbound(buffer, peer!, keypair, counter, from, local);
            else
                DropEarly(reason, buffer);
            return;
        }
        lock (_sync)
        {
            _engine.ReceiveDatagram(buffer, from, local, now);
            AfterEngine();
        }
    }

    [ThreadStatic] private static ReadOnlyMemory<byte>[]? s_gsoRun;

    private void SendOutboundBatch(CryptoPipeline.Batch b)
    {
        var udp = _udp;
        if (udp is LinuxUdpSocket { GsoSupported: true } gso)
        {
            SendOutboundBatchSegmented(b, gso);
            return;
        }
        for (int i = 0; i < b.Count; i++) SendOne(udp, b.Buffers[i], b.Endpoints[i], b.Locals[i], b.Lane.Peer);
    }

    /// <summary>
    /// Sends one datagram and returns its buffer. A cached source address that stopped working (address removed,
    /// route changed) is forgotten and the datagram goes again, routed by the kernel (kernel socket.c,
    /// wireguard-go sticky_linux.go). The tunnel lock is reentrant, so callers may hold it.
    /// </summary>
    private bool SendOne(IUdpTransport? udp, PacketBuffer datagram, NetEndpoint to, in PacketInfo source, Peer? peer)
    {
        if (udp is IPacketBufferUdp bufferUdp)
        {
            // Ownership passes to the transport (it wraps the datagram in place and passes the buffer on).
            var sent = bufferUdp.SendBuffer(datagram, to, source);
            if (sent != SendResult.Ok) CountDrop(DropReason.SendFailed);
            return sent == SendResult.Ok;
        }
        try
        {
            if (udp is null)
            {
                CountDrop(DropReason.DeviceDown);
                return false;
            }
            var result = udp.Send(datagram.Data, to, source);
            if (result == SendResult.SourceInvalid && peer is not null)
            {
                lock (_sync) _engine.ClearSource(peer);
                result = udp.Send(datagram.Data, to, default);
            }
            if (result != SendResult.Ok) CountDrop(DropReason.SendFailed);
            return result == SendResult.Ok;
        }
        catch (Exception ex)
        {
            CountDrop(DropReason.SendFailed);
            Log(TunnelLogLevel.Verbose, $"UDP send failed: {ex.Message}");
            return false;
        }
        finally
        {
            datagram.Return();
        }
    }

    // UDP GSO: a run of datagrams to the same destination from the same source leaves in one sendmsg with a
    // UDP_SEGMENT control message; each datagram stays in its own buffer (one iovec each, no concatenation).
    private void SendOutboundBatchSegmented(CryptoPipeline.Batch b, LinuxUdpSocket udp)
    {
        var run = s_gsoRun ??= new ReadOnlyMemory<byte>[CryptoPipeline.MaxBatch];
        int start = 0;
        try
        {
            while (start < b.Count)
            {
                int end = start + 1;
                while (end < b.Count && b.Endpoints[end] == b.Endpoints[start] && b.Locals[end] == b.Locals[start]) end++;
                for (int i = start; i < end; i++) run[i - start] = b.Buffers[i].DataMemory;
                SendResult result;
                try
                {
                    result = udp.SendSegmented(run.AsSpan(0, end - start), b.Endpoints[start], b.Locals[start], out int sent);
                    if (result == SendResult.SourceInvalid)
                    {
                        lock (_sync) _engine.ClearSource(b.Lane.Peer);
                        result = udp.SendSegmented(run.AsSpan(sent, end - start - sent), b.Endpoints[start], default, out _);
                    }
                }
                catch (Exception ex)
                {
                    result = SendResult.Error;
                    Log(TunnelLogLevel.Verbose, $"UDP send failed: {ex.Message}");
                }
                if (result != SendResult.Ok) CountDrop(DropReason.SendFailed);
                start = end;
            }
        }
        finally
        {
            Array.Clear(run, 0, Math.Min(run.Length, b.Count));
            for (int i = 0; i < b.Count; i++) b.Buffers[i].Return();
        }
    }

    // Runs on the one thread draining the peer's lane (CryptoPipeline), so the TUN writes after the lock still
    // keep the peer's order.
    private void CompleteInboundBatch(CryptoPipeline.Batch b)
    {
        var writer = t_tunWriter ??= new TunWriter();
        lock (_sync)
        {
            var now = _now();
            for (int i = 0; i < b.Count; i++)
                _engine.CompleteTransport(b.Buffers[i], b.Lane.Peer, b.Keypairs[i], b.Counters[i], b.Ok[i], b.Endpoints[i], b.Locals[i], now);
            _deferTunTo = writer;
            try
            {
                AfterEngine();
            }
            finally
            {
                _deferTunTo = null;
            }
        }
        WriteTun(writer.Pending, writer);
    }

    private void HandshakeLoop()
    {
        try
        {
            foreach (var (buffer, from, local) in _handshakes.GetConsumingEnumerable(_stop.Token))
            {
                var now = _now();
                // wireguard-go IsUnderLoad: a queue at 1/8 capacity means load, latched for one second.
                if (_handshakes.Count >= HandshakeQueueSize / 8) _underLoadUntil = now + Protocol.UnderLoadAfterTime;
                lock (_sync)
                {
                    _engine.UnderLoad = _underLoadUntil > now;
                    _engine.ReceiveDatagram(buffer, from, local, now);
                    AfterEngine();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        while (_handshakes.TryTake(out var left)) left.Buffer.Return();
    }

    private void TimerLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TimeSpan wait;
            lock (_sync)
            {
                var now = _now();
                _engine.Tick(now);
                AfterEngine();
                Keypair.ForgetWipedKeysOnThisThread(); // the timer thread may seal (keepalives without workers)
                var next = _engine.NextDeadline;
                wait = next == TimeSpan.MaxValue ? TimeSpan.FromMilliseconds(100) : next - now;
                if (wait > TimeSpan.FromMilliseconds(100)) wait = TimeSpan.FromMilliseconds(100);
                if (wait < TimeSpan.FromMilliseconds(1)) wait = TimeSpan.FromMilliseconds(1);
                _timerSleepUntil = (now + wait).Ticks;
            }
            WaitHandle.WaitAny([_timerWake, _stop.Token.WaitHandle], wait);
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
                    EventRaised?.Invoke(e);
                }
                catch (Exception ex)
                {
                    Log(TunnelLogLevel.Error, $"event handler threw: {ex.Message}");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Raise(TunnelEvent e)
    {
        if (!_events.IsAddingCompleted) _events.TryAdd(e);
    }

    private void Log(TunnelLogLevel level, string message) => _options.Log?.Invoke(level, message);

    private void CountDrop(DropReason reason) => Interlocked.Increment(ref _deviceDrops[(int)reason]);

    // ---- Stats --------------------------------------------------------------------------------------------

    /// <summary>Per-peer counters.</summary>
    public IReadOnlyList<PeerStats> GetPeerStats()
    {
        lock (_sync)
            return _engine.Peers.Select(p => new PeerStats(p.PublicKey, p.Endpoint.IsNone ? "(none)" : p.Endpoint.ToString(),
                p.LastHandshake, p.RxBytes, p.TxBytes)).ToArray();
    }

    /// <summary>Packets and datagrams dropped, by reason (zero counts omitted).</summary>
    public IReadOnlyDictionary<DropReason, long> GetDropCounts()
    {
        var result = new SortedDictionary<DropReason, long>();
        foreach (var reason in Enum.GetValues<DropReason>())
        {
            if (reason == DropReason.None) continue;
            long n = _engine.GetDropCount(reason) + Interlocked.Read(ref _deviceDrops[(int)reason]);
            if (reason == DropReason.InvalidLength)
                n += Interlocked.Read(ref _closedSocketDiscards) + (_udp is LinuxUdpSocket socket ? socket.DiscardedDatagrams : 0);
            if (n > 0) result[reason] = n;
        }
        return result;
    }

    /// <summary>Test hook into the crypto workers (see <see cref="CryptoPipeline.BeforeWork"/>).</summary>
    internal Action<CryptoPipeline.Batch>? BeforeCryptoWork
    {
        set
        {
            if (_pipeline is not null) _pipeline.BeforeWork = value;
        }
    }

    /// <summary>Buffers currently rented (for leak checks in tests).</summary>
    public int OutstandingBuffers => _pool.Outstanding + _smallPool.Outstanding + _handshakePool.Outstanding;

    /// <summary>Test hook: buffers created so far in the large and the small pool.</summary>
    internal (int Large, int Small) BuffersCreated => (_pool.Created, _smallPool.Created);

    // ---- Lifetime -----------------------------------------------------------------------------------------

    /// <summary>Stops every thread, wipes keys, closes the UDP transport and the TUN.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _tun.Event -= OnTunEvent;
        lock (_sync)
        {
            AfterEngine();
            CloseUdpLocked();
        }
        _stop.Cancel();
        _tun.Close();
        Thread[] readers;
        lock (_sync) readers = _udpReaders.ToArray();
        foreach (var t in _threads.Concat(readers))
            if (t != Thread.CurrentThread) t.Join(TimeSpan.FromSeconds(2));
        _pipeline?.Stop(b => b.Return());
        lock (_sync)
        {
            _engine.Down();
            _engine.RemoveAllPeers();
            _engine.SetPrivateKey(ReadOnlySpan<byte>.Empty);
            foreach (var b in _pendingTun) b.Return();
            _pendingTun.Clear();
        }
        _events.CompleteAdding();
        _tun.Dispose();
        _stoppedSource.TrySetResult();
    }

    /// <summary>The engine's output: sends and TUN writes happen on the calling thread, under the tunnel lock.</summary>
    private sealed class Output(Tunnel tunnel) : IProtocolOutput
    {
        public bool SendDatagram(PacketBuffer datagram, NetEndpoint destination, in PacketInfo source, Peer? peer) =>
            tunnel.SendOne(tunnel._udp, datagram, destination, source, peer);

        public bool SealAndSend(PacketBuffer packet, Keypair keypair, ulong nonce, Peer peer, int mtu)
        {
            if (tunnel._pipeline is { } pipeline)
            {
                pipeline.AddOutbound(packet, keypair, nonce, peer, mtu);
                return true;
            }
            ProtocolEngine.Encrypt(packet, keypair, nonce, mtu);
            return SendDatagram(packet, peer.Endpoint, peer.Source, peer);
        }

        public void DeliverPacket(PacketBuffer packet, Peer peer) => tunnel._pendingTun.Add(packet);

        public void OnEvent(in ProtocolEvent e)
        {
            switch (e.Kind)
            {
                case ProtocolEventKind.HandshakeCompleted:
                    tunnel.Log(TunnelLogLevel.Verbose, $"{e.Peer} - handshake completed");
                    tunnel.Raise(new TunnelEvent(TunnelEventKind.HandshakeCompleted, e.Peer?.PublicKey));
                    break;
                case ProtocolEventKind.EndpointChanged:
                    tunnel.Raise(new TunnelEvent(TunnelEventKind.EndpointChanged, e.Peer?.PublicKey, e.Peer?.Endpoint.ToString()));
                    break;
                case ProtocolEventKind.HandshakeInitiationSent:
                    tunnel.Log(TunnelLogLevel.Verbose, $"{e.Peer} - sending handshake initiation");
                    break;
                case ProtocolEventKind.HandshakeGaveUp:
                    tunnel.Log(TunnelLogLevel.Verbose, $"{e.Peer} - handshake did not complete after 20 attempts, giving up");
                    break;
                case ProtocolEventKind.Dropped when e.Reason == DropReason.Internal:
                    tunnel.Log(TunnelLogLevel.Error, $"internal error: {tunnel._engine.LastInternalError}");
                    break;
            }
        }
    }
}
