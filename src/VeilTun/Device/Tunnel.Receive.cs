using VeilTun.Buffers;
using VeilTun.Noise;
using VeilTun.Packets;
using VeilTun.Udp;

namespace VeilTun.Device;

// Inbound, UDP to TUN (wireguard-go device/receive.go):
//   1. UdpReaderLoop: the UDP transport hands over a burst of datagrams in pooled buffers (a GRO receive has
//      already been split into its datagrams, each transport message's sealed part spliced where it lies).
//   2. Dispatch, without the lock: transport messages are looked up lock-free (TryBeginTransport) and appended
//      to the peer's lane in the crypto pipeline; handshake messages pass a mac1 check and wait in a bounded queue
//      for the control thread (handshakes and timers); anything else goes through the engine under the lock.
//   3. A crypto worker opens the batch (in place, or from the GRO buffer into the datagram's own).
//   4. The worker draining the peer's lane calls CompleteOpenedBatch: under the lock the engine checks the
//      replay window and the inner source and delivers the packets; after the lock the TUN writes them (an
//      offload TUN coalesces them first) and returns the buffers.
public sealed partial class Tunnel
{
    private const int HandshakeQueueSize = 1024; // wireguard-go QueueHandshakeSize

    // Handshake messages are copied into their own small buffers: a flood of them must never hold the data path's
    // buffers (junk initiations starved real traffic before).
    private readonly PacketPool _handshakePool = new(PacketBuffer.DefaultHeadroom + Messages.InitiationSize + 64, HandshakeQueueSize);
    // Handshake messages wait here for the control thread, which also runs the timers (Tunnel.cs ControlLoop).
    private readonly ControlQueue<(PacketBuffer Buffer, NetEndpoint From, PacketInfo Local)> _handshakes = new(HandshakeQueueSize);
    private TimeSpan _underLoadUntil;

    // Packets the engine delivered in the current locked section; written to the TUN when it ends.
    private readonly List<PacketBuffer> _delivered = new();

    [ThreadStatic] private static List<PacketBuffer>? t_toTun;

    private void UdpReaderLoop(IUdpTransport udp)
    {
        var batch = new DatagramBatch(MaxBurstPackets * 2);
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try
            {
                n = udp.Receive(batch, MaxBurstPackets, _pools);
            }
            catch (Exception ex)
            {
                Log.UdpReceiveFailed(_log, ex);
                n = 0;
            }
            if (n == 0)
            {
                batch.ReturnAll(); // closed (rebind, down or stop)
                break;
            }
            var now = _now();
            var buffers = batch.Buffers;
            Interlocked.Add(ref _rxDatagrams, buffers.Length); // one add per batch (metrics)
            var from = batch.Endpoints;
            var local = batch.Locals;
            for (int i = 0; i < buffers.Length; i++) Dispatch(buffers[i], from[i], local[i], now);
            batch.Clear();
            _pipeline.FlushInbound();
        }
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
        var type = WireGuardMessage.PeekType(data);
        if (type is MessageType.HandshakeInitiation or MessageType.HandshakeResponse)
        {
            data = buffer.Data; // whole (handshake messages are never spliced; this only guards)
            // mac1 first, as cheap as one BLAKE2s: junk never reaches the queue (the engine checks again).
            if (!WireGuardMessage.TryClassify(data, out _, out var reason) || !_engine.CheckMac1(data))
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
        if (WireGuardMessage.IsTransportData(data))
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

    // On the control thread: one handshake message through the engine. left: messages still queued behind it.
    private void ProcessHandshake(PacketBuffer buffer, NetEndpoint from, in PacketInfo local, int left)
    {
        var now = _now();
        // wireguard-go IsUnderLoad: a queue at 1/8 capacity means load, latched for one second.
        if (left >= HandshakeQueueSize / 8) _underLoadUntil = now + Protocol.UnderLoadAfterTime;
        lock (_sync)
        {
            _engine.UnderLoad = _underLoadUntil > now;
            _engine.ReceiveDatagram(buffer, from, local, now);
            AfterEngine();
        }
    }

    // Runs on the one worker draining the peer's inbound lane, so the TUN writes after the lock keep the peer's
    // order (a 64 KiB TUN write is a long syscall to hold the engine lock for).
    private void CompleteOpenedBatch(CryptoPipeline.Batch b)
    {
        var toTun = t_toTun ??= new List<PacketBuffer>(CryptoPipeline.MaxBatch);
        lock (_sync)
        {
            var now = _now();
            for (int i = 0; i < b.Count; i++)
                _engine.CompleteTransport(b.Buffers[i], b.Lane.Peer, b.Keypairs[i], b.Counters[i], b.Ok[i], b.Endpoints[i], b.Locals[i], now);
            toTun.AddRange(_delivered);
            _delivered.Clear();
            AfterEngine();
        }
        WriteTun(toTun);
    }

    // Called at the end of every locked engine section: packets delivered outside CompleteOpenedBatch (none today)
    // are written at once.
    private void FlushDeliveredLocked()
    {
        if (_delivered.Count > 0) WriteTun(_delivered);
    }

    private void WriteTun(List<PacketBuffer> packets)
    {
        if (packets.Count == 0) return;
        try
        {
            _tun.Write(packets, _pools);
        }
        catch (Exception ex)
        {
            CountDrop(DropReason.TunWriteFailed);
            Log.TunWriteFailed(_log, ex);
            foreach (var p in packets) p.Return();
            packets.Clear();
        }
    }
}
