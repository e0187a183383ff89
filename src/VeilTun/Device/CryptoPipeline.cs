using System.Collections.Concurrent;
using VeilTun.Buffers;
using VeilTun.Noise;
using VeilTun.Udp;

namespace VeilTun.Device;

// Parallel crypto with per-peer order (wireguard-go's design, in batches):
//
//   engine (under the tunnel lock) ──SealAndSend──▶ peer lane's open batch ──flush──▶ lane FIFO + work queue
//   UDP reader ──TryBeginTransport (lock-free)──▶ peer lane's inbound batch ──flush──▶ lane FIFO + work queue
//   workers (one per core) take batches, seal or open every packet in place, mark the batch done, then drain:
//   a lane's FIFO is emptied from the head while the head batch is done — outbound batches go to the UDP
//   socket, inbound batches go back through the engine (replay window, timers, source check) to the TUN.
//
// Order: nonces are taken in the engine in FIFO order and batches enter the lane FIFO in that same order, so
// a peer's packets leave (and arrive at the TUN) in order however the workers interleave. One lock per batch
// per peer, not per packet. Buffers are never copied: a batch holds the pooled buffers themselves.

/// <summary>Runs transport encryption and decryption on worker threads while keeping each peer's order.</summary>
internal sealed class CryptoPipeline : IDisposable
{
    public const int MaxBatch = 64;

    internal sealed class Batch
    {
        public readonly PacketBuffer[] Buffers = new PacketBuffer[MaxBatch];
        public readonly Keypair[] Keypairs = new Keypair[MaxBatch];
        public readonly ulong[] Counters = new ulong[MaxBatch];
        public readonly bool[] Ok = new bool[MaxBatch];
        public readonly NetEndpoint[] Endpoints = new NetEndpoint[MaxBatch]; // outbound: destination; inbound: source
        public readonly PacketInfo[] Locals = new PacketInfo[MaxBatch];
        public Lane Lane = null!;
        public bool Outbound;
        public int Mtu;
        public int Count;
        public volatile bool Done;

        public void Reset()
        {
            Array.Clear(Buffers, 0, Count);
            Array.Clear(Keypairs, 0, Count);
            Count = 0;
            Done = false;
            Lane = null!;
        }
    }

    /// <summary>
    /// One peer's ordered queues, kept in <see cref="Peer.Slot"/>. When the peer is removed the lane is forgotten
    /// as soon as nothing of it is queued (batches in flight still go out or reach the TUN, in order).
    /// </summary>
    internal sealed class Lane(Peer peer, CryptoPipeline pipeline) : IPeerSlot
    {
        public readonly Peer Peer = peer;
        public volatile bool Released;
        public readonly Queue<Batch> OutFifo = new();
        public readonly Queue<Batch> InFifo = new();
        public readonly object OutDrain = new();
        public readonly object InDrain = new();
        public Batch? OpenOut; // filled under the tunnel lock
        public Batch? OpenIn; // filled by the UDP reader

        public void Release()
        {
            Released = true;
            pipeline.ForgetIfIdle(this);
        }

        public bool IsIdle
        {
            get
            {
                if (OpenOut is not null || OpenIn is not null) return false;
                lock (OutFifo) if (OutFifo.Count > 0) return false;
                lock (InFifo) return InFifo.Count == 0;
            }
        }
    }

    // Unbounded on purpose: every batch holds pooled buffers and the pool is bounded, so the readers drop (and
    // count) at ingress when the workers fall behind; nothing here ever blocks a reader.
    private readonly BlockingCollection<Batch> _work = new(new ConcurrentQueue<Batch>());

    /// <summary>Test hook: runs on the worker before a batch is processed (e.g. a random delay).</summary>
    internal Action<Batch>? BeforeWork;
    private readonly ConcurrentBag<Batch> _spare = new();
    private int _spareCount; // batches in _spare (approximately, between a take and its decrement)
    private int _spareLowWater; // fewest spares since the last TrimSpares (the first call only learns)
    private readonly List<Lane> _dirtyOut = new();
    private readonly List<Lane> _dirtyIn = new();
    private readonly Thread[] _workers;
    private readonly Action<Batch> _sendOutbound;
    private readonly Action<Batch> _completeInbound;
    private readonly CancellationTokenSource _stop = new();

    /// <param name="workers">Worker threads (one per core is right for crypto).</param>
    /// <param name="sendOutbound">Sends a sealed outbound batch (called in order per peer, one drainer at a time).</param>
    /// <param name="completeInbound">Completes an opened inbound batch through the engine (in order per peer).</param>
    /// <param name="name">Prefix for thread names.</param>
    public CryptoPipeline(int workers, Action<Batch> sendOutbound, Action<Batch> completeInbound, string name)
    {
        _sendOutbound = sendOutbound;
        _completeInbound = completeInbound;
        _workers = new Thread[Math.Max(1, workers)];
        for (int i = 0; i < _workers.Length; i++)
            _workers[i] = new Thread(() => Tunnel.RunAndReleaseMagazines(WorkerLoop)) { IsBackground = true, Name = $"{name}/crypto-{i}" };
    }

    /// <summary>
    /// Drops the spare batches that lay unused since the previous call (their low-water mark), so a backlog's batches
    /// (a stall fills the pipeline) do not stay for the life of the tunnel; as <see cref="Buffers.PacketPool.Trim"/>
    /// does for buffers. Returns how many were dropped.
    /// </summary>
    public int TrimSpares()
    {
        int idle = Math.Min(Volatile.Read(ref _spareLowWater), Volatile.Read(ref _spareCount));
        int dropped = 0;
        while (dropped < idle && _spare.TryTake(out _))
        {
            Interlocked.Decrement(ref _spareCount);
            dropped++;
        }
        Volatile.Write(ref _spareLowWater, Volatile.Read(ref _spareCount));
        return dropped;
    }

    /// <summary>Spare batches kept now (a test hook).</summary>
    internal int SpareCount => Volatile.Read(ref _spareCount);

    /// <summary>Starts the workers (batches added before wait for them).</summary>
    public void Start()
    {
        foreach (var t in _workers) t.Start();
    }

    // Every lane with something queued, for Stop; a released lane leaves once idle.
    private readonly ConcurrentDictionary<Lane, byte> _lanes = new();

    /// <summary>Lanes currently kept (a test hook for peer churn).</summary>
    internal int LaneCount => _lanes.Count;

    public Lane LaneOf(Peer peer)
    {
        if (peer.Slot is Lane lane) return lane;
        lane = new Lane(peer, this);
        peer.Slot = lane;
        _lanes[lane] = 0;
        return lane;
    }

    private void ForgetIfIdle(Lane lane)
    {
        if (lane.Released && lane.IsIdle) _lanes.TryRemove(lane, out _);
    }

    private Batch Rent(Lane lane, bool outbound, int mtu)
    {
        if (_spare.TryTake(out var b))
        {
            int left = Interlocked.Decrement(ref _spareCount);
            if (left < Volatile.Read(ref _spareLowWater)) Volatile.Write(ref _spareLowWater, left); // a hint, races are harmless
        }
        else
        {
            b = new Batch();
        }
        b.Lane = lane;
        b.Outbound = outbound;
        b.Mtu = mtu;
        return b;
    }

    /// <summary>Adds a packet to seal. Call under the tunnel lock, in nonce order; then <see cref="FlushOutbound"/>.</summary>
    public void AddOutbound(PacketBuffer packet, Keypair keypair, ulong nonce, Peer peer, int mtu)
    {
        var lane = LaneOf(peer);
        var b = lane.OpenOut;
        if (b is null)
        {
            b = lane.OpenOut = Rent(lane, outbound: true, mtu);
            _dirtyOut.Add(lane);
        }
        int i = b.Count++;
        b.Buffers[i] = packet;
        b.Keypairs[i] = keypair;
        b.Counters[i] = nonce;
        b.Endpoints[i] = peer.Endpoint;
        b.Locals[i] = peer.Source;
        if (b.Count == MaxBatch) CloseOutbound(lane);
    }

    private void CloseOutbound(Lane lane)
    {
        var b = lane.OpenOut!;
        lane.OpenOut = null;
        lock (lane.OutFifo) lane.OutFifo.Enqueue(b);
        _work.Add(b);
    }

    /// <summary>Hands every open outbound batch to the workers. Call under the tunnel lock.</summary>
    public void FlushOutbound()
    {
        if (_dirtyOut.Count == 0) return;
        foreach (var lane in _dirtyOut)
            if (lane.OpenOut is not null) CloseOutbound(lane);
        _dirtyOut.Clear();
    }

    /// <summary>Adds a received transport message to open. Call from the (single) UDP reader; then <see cref="FlushInbound"/>.</summary>
    public void AddInbound(PacketBuffer datagram, Peer peer, Keypair keypair, ulong counter, NetEndpoint from, in PacketInfo local)
    {
        var lane = LaneOf(peer);
        var b = lane.OpenIn;
        if (b is null)
        {
            b = lane.OpenIn = Rent(lane, outbound: false, 0);
            _dirtyIn.Add(lane);
        }
        int i = b.Count++;
        b.Buffers[i] = datagram;
        b.Keypairs[i] = keypair;
        b.Counters[i] = counter;
        b.Endpoints[i] = from;
        b.Locals[i] = local;
        if (b.Count == MaxBatch) CloseInbound(lane);
    }

    private void CloseInbound(Lane lane)
    {
        var b = lane.OpenIn!;
        lane.OpenIn = null;
        lock (lane.InFifo) lane.InFifo.Enqueue(b);
        _work.Add(b);
    }

    /// <summary>Hands every open inbound batch to the workers. Call from the UDP reader.</summary>
    public void FlushInbound()
    {
        if (_dirtyIn.Count == 0) return;
        foreach (var lane in _dirtyIn)
            if (lane.OpenIn is not null) CloseInbound(lane);
        _dirtyIn.Clear();
    }

    /// <summary>Test hook: runs on a worker just before it parks (blocks with no work), its contexts already wiped.</summary>
    internal Action? BeforePark;

    private void WorkerLoop()
    {
        if (_stop.IsCancellationRequested) return;
        try
        {
            while (true)
            {
                if (!_work.TryTake(out var b))
                {
                    // Out of work: park until some comes, with no key in this thread's cipher contexts, so a keypair
                    // wiped meanwhile leaves no copy behind here and no timer has to wake the worker to wipe it.
                    Keypair.ForgetKeysOnThisThread();
                    BeforePark?.Invoke();
                    b = _work.Take(_stop.Token);
                }
                BeforeWork?.Invoke(b);
                Process(b);
                // Read what Drain needs before publishing Done: from then on another worker may send this batch,
                // reset it and hand it out again (found by tests/interop/interop.sh: a NullReferenceException).
                var lane = b.Lane;
                bool outbound = b.Outbound;
                b.Done = true;
                Drain(lane, outbound);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    // Seals or opens every packet of the batch. One lease per run of packets under one keypair keeps the keys from
    // being wiped meanwhile; a packet whose keypair was wiped before its turn is marked not Ok (then dropped).
    private static void Process(Batch b)
    {
        Keypair? leased = null;
        try
        {
            for (int i = 0; i < b.Count; i++)
            {
                var keypair = b.Keypairs[i];
                if (!ReferenceEquals(keypair, leased))
                {
                    leased?.Release();
                    leased = keypair.TryAcquire() ? keypair : null;
                }
                if (leased is null)
                {
                    b.Ok[i] = false;
                    continue;
                }
                if (b.Outbound)
                {
                    ProtocolEngine.EncryptLeased(b.Buffers[i], leased, b.Counters[i], b.Mtu);
                    b.Ok[i] = true;
                }
                else
                {
                    b.Ok[i] = ProtocolEngine.TryOpenTransportLeased(b.Buffers[i], leased, b.Counters[i]);
                }
            }
        }
        finally
        {
            leased?.Release();
        }
    }

    // Empties the lane's FIFO from the head while the head batch is done. One drainer per lane and direction at a
    // time; a worker that finds another draining leaves, and the drainer re-checks after letting go, so a batch
    // finished in between is never stranded.
    private void Drain(Lane lane, bool outbound)
    {
        var fifo = outbound ? lane.OutFifo : lane.InFifo;
        var drainLock = outbound ? lane.OutDrain : lane.InDrain;
        while (true)
        {
            if (!Monitor.TryEnter(drainLock)) return;
            try
            {
                while (true)
                {
                    Batch b;
                    lock (fifo)
                    {
                        if (fifo.Count == 0 || !fifo.Peek().Done) break;
                        b = fifo.Dequeue();
                    }
                    try
                    {
                        if (outbound) _sendOutbound(b);
                        else _completeInbound(b);
                    }
                    finally
                    {
                        b.Reset();
                        _spare.Add(b);
                        Interlocked.Increment(ref _spareCount);
                    }
                }
            }
            finally
            {
                Monitor.Exit(drainLock);
            }
            lock (fifo)
            {
                if (fifo.Count > 0 && fifo.Peek().Done) continue;
            }
            if (lane.Released) ForgetIfIdle(lane);
            return;
        }
    }

    /// <summary>
    /// Stops the workers, then returns the buffers of every batch not yet sent or completed (every batch is in
    /// exactly one lane FIFO or open slot until drained, so nothing is returned twice).
    /// </summary>
    public void Stop(Action<PacketBuffer> release)
    {
        _stop.Cancel();
        foreach (var t in _workers)
            if (t.IsAlive) t.Join(TimeSpan.FromSeconds(2));
        while (_work.TryTake(out _)) { }
        foreach (var lane in _lanes.Keys) ReleaseLane(lane, release);
    }

    private static void ReleaseLane(Lane lane, Action<PacketBuffer> release)
    {
        foreach (var fifo in new[] { lane.OutFifo, lane.InFifo })
        {
            lock (fifo)
            {
                while (fifo.TryDequeue(out var b))
                    for (int i = 0; i < b.Count; i++) release(b.Buffers[i]);
            }
        }

        foreach (var b in new[] { lane.OpenOut, lane.OpenIn })
        {
            if (b is not null)
                for (int i = 0; i < b.Count; i++) release(b.Buffers[i]);
        }

        lane.OpenOut = lane.OpenIn = null;
    }

    public void Dispose() => _stop.Cancel();
}
