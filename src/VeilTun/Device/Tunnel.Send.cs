using VeilTun.Buffers;
using VeilTun.Noise;
using VeilTun.Udp;

namespace VeilTun.Device;

// Outbound, TUN to UDP (wireguard-go device/send.go):
//   1. TunReaderLoop: the TUN hands over a burst of IP packets in pooled buffers (an offload TUN has already split
//      its super-packets into MTU-sized packets).
//   2. Under the lock, the engine routes each packet to its peer, pads it, takes a nonce and calls SealAndSend,
//      which appends it to the peer's lane in the crypto pipeline; AfterEngine hands the lanes' batches over.
//   3. A crypto worker seals the batch in place (the 16-byte header goes into the headroom).
//   4. The worker draining the peer's lane calls SendSealedBatch: the UDP transport sends the batch (runs to one
//      endpoint as GSO messages) and returns the buffers.
// Handshake messages, cookie replies and other single datagrams the engine makes go straight to SendDatagram.
public sealed partial class Tunnel
{
    private void TunReaderLoop()
    {
        var burst = new List<PacketBuffer>(MaxBurstPackets * 2);
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try
            {
                n = _tun.Read(burst, MaxBurstPackets, _pools);
            }
            catch (Exception ex)
            {
                Log.TunReadFailed(_log, ex);
                n = 0;
            }
            if (n == 0)
            {
                foreach (var b in burst) b.Return();
                break;
            }
            // One locked engine section per burst: one clock read, one batch per peer.
            lock (_sync)
            {
                // The kernel hands over packets of an up link only. Its first ones (IPv6 router solicitations, DAD)
                // can come before the link-up event: then the link is up already, and the tunnel comes up now.
                if (!_engine.IsUp && _followLink && _tun.IsUp) SetUp(true, followLink: true);
                var now = _now();
                foreach (var packet in burst) _engine.SendPacket(packet, now);
                AfterEngine();
            }
            burst.Clear();
        }
        // Unless we are stopping anyway, the TUN went away and takes the tunnel with it.
        if (_stop.IsCancellationRequested) return;
        Raise(new TunnelEvent(TunnelEventKind.Closed, Message: "TUN closed"));
        ThreadPool.QueueUserWorkItem(_ => Dispose());
    }

    // Runs on the one worker draining the peer's outbound lane, in nonce order.
    private void SendSealedBatch(CryptoPipeline.Batch b)
    {
        // Packets whose keypair was wiped before a worker sealed them are dropped (they were never sealed). Rare:
        // the batch is only compacted when there are any.
        int first = Array.IndexOf(b.Ok, false, 0, b.Count);
        if (first >= 0) DropUnsealed(b, first);
        Transmit(b.Buffers.AsSpan(0, b.Count), b.Endpoints.AsSpan(0, b.Count), b.Locals.AsSpan(0, b.Count), b.Lane.Peer);
    }

    private void DropUnsealed(CryptoPipeline.Batch b, int first)
    {
        int count = first;
        for (int i = first; i < b.Count; i++)
        {
            if (!b.Ok[i])
            {
                b.Buffers[i].Return();
                CountDrop(DropReason.KeypairExpired);
                continue;
            }
            b.Buffers[count] = b.Buffers[i];
            b.Endpoints[count] = b.Endpoints[i];
            b.Locals[count] = b.Locals[i];
            count++;
        }
        Array.Clear(b.Buffers, count, b.Count - count);
        b.Count = count;
    }

    /// <summary>Sends one datagram the engine made (a handshake message, a cookie reply).</summary>
    private bool SendDatagram(PacketBuffer datagram, NetEndpoint to, in PacketInfo source, Peer? peer) =>
        Transmit(new ReadOnlySpan<PacketBuffer>(in datagram), new ReadOnlySpan<NetEndpoint>(in to), new ReadOnlySpan<PacketInfo>(in source), peer) == 1;

    /// <summary>
    /// Hands datagrams to the UDP transport, which returns their buffers; counts what did not go out. A cached source
    /// address that stopped working (address removed, route changed) is forgotten for <paramref name="peer"/>; the
    /// transport already sent again without it. Returns how many went out.
    /// </summary>
    private int Transmit(ReadOnlySpan<PacketBuffer> datagrams, ReadOnlySpan<NetEndpoint> destinations, ReadOnlySpan<PacketInfo> sources, Peer? peer)
    {
        var udp = _udp;
        if (udp is null)
        {
            foreach (var d in datagrams) d.Return();
            _pools.Drops.Count(DropReason.DeviceDown, datagrams.Length);
            return 0;
        }
        int sent;
        bool sourceInvalid;
        try
        {
            sent = udp.Send(datagrams, destinations, sources, out sourceInvalid);
        }
        catch (Exception ex)
        {
            Log.UdpSendFailed(_log, ex);
            sent = 0;
            sourceInvalid = false;
        }
        if (sourceInvalid && peer is not null)
        {
            lock (_sync) _engine.ClearSource(peer);
        }
        _pools.Drops.Count(DropReason.SendFailed, datagrams.Length - sent);
        if (sent > 0) Interlocked.Add(ref _txDatagrams, sent); // one add per batch (metrics)
        return sent;
    }
}
