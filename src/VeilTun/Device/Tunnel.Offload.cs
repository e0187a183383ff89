using VeilTun.Buffers;
using VeilTun.Noise;
using VeilTun.Tun;
using VeilTun.Tun.Offload;

namespace VeilTun.Device;

// TUN offloads (the wireguard-go 2023 design, performance.md §1-2), used when the TUN was opened with
// TunOptions.Offloads and the kernel accepted TUNSETOFFLOAD:
//   read:  one read() returns a TSO/USO super-packet of up to 64 KiB after a virtio_net_hdr; the read lands in
//          a pooled buffer so the header falls into the headroom; GSO_NONE packets stay where they are (zero
//          copy), super-packets are split straight into fresh pooled buffers (one copy, checksums computed in it).
//   write: decrypted packets of one locked section are collected, same-flow TCP/UDP segments are coalesced into
//          super-packets in the head's buffer, and each goes to the TUN in one write() with its virtio header in
//          the 10 bytes of headroom before it.
public sealed partial class Tunnel
{
    private readonly List<PacketBuffer> _pendingTun = new();
    private GroCoalescer? _gro;
    private int[] _groOut = new int[CryptoPipeline.MaxBatch * 2];

    private LinuxTun? OffloadTun => _tun is LinuxTun { OffloadsEnabled: true } t ? t : null;

    /// <summary>Sink for <see cref="GsoSplitter"/>: each segment goes into its own pooled buffer after the headroom.</summary>
    private struct PoolSink(PacketPool pool, List<PacketBuffer> output) : ISegmentSink
    {
        private PacketBuffer? _current;

        public Span<byte> NextSegment(int length)
        {
            if (!pool.TryRent(out var b)) return Span<byte>.Empty;
            _current = b;
            return b.ReadArea()[..length];
        }

        public void Commit(int length)
        {
            _current!.SetData(PacketBuffer.DefaultHeadroom, length);
            output.Add(_current);
            _current = null;
        }
    }

    // Reads one packet or super-packet from an offload TUN into `burst` (as MTU-sized packets). Returns false
    // when the TUN is closed; `wait` false returns true with nothing added when nothing is queued.
    private bool ReadOffload(LinuxTun tun, List<PacketBuffer> burst, bool wait, out bool gotNothing)
    {
        gotNothing = true;
        if (!_pool.TryRent(out var buffer))
        {
            CountDrop(DropReason.PoolExhausted);
            if (!wait) return true;
            Thread.Sleep(1);
            return true;
        }
        int n = tun.ReadVnet(buffer.Raw[(PacketBuffer.DefaultHeadroom - VirtioNetHeader.Size)..], wait);
        if (n <= 0)
        {
            buffer.Return();
            return n != 0;
        }
        gotNothing = false;
        int packetLength = n - VirtioNetHeader.Size;
        if (!VirtioNetHeader.TryRead(buffer.Raw[(PacketBuffer.DefaultHeadroom - VirtioNetHeader.Size)..], out var header))
        {
            buffer.Return();
            CountDrop(DropReason.InvalidInnerPacket);
            return true;
        }
        buffer.SetData(PacketBuffer.DefaultHeadroom, packetLength);
        if (header.GsoType == VirtioNetHeader.GsoNone)
        {
            if (header.NeedsChecksum && !GsoSplitter.TryCompleteChecksum(buffer.Data, header, out _))
            {
                buffer.Return();
                CountDrop(DropReason.InvalidInnerPacket);
                return true;
            }
            burst.Add(buffer);
            return true;
        }
        var sink = new PoolSink(_pool, burst);
        GsoSplitter.Split(buffer.Data, header, ref sink, out var error);
        buffer.Return();
        if (error != OffloadError.None) CountDrop(error == OffloadError.SinkFull ? DropReason.PoolExhausted : DropReason.InvalidInnerPacket);
        return true;
    }

    private void TunReaderLoopOffload(LinuxTun tun)
    {
        var burst = new List<PacketBuffer>(256);
        bool open = true;
        while (!_stop.IsCancellationRequested && open)
        {
            open = ReadOffload(tun, burst, wait: true, out _);
            // Then whatever else is queued, up to about two batches of packets.
            while (open && burst.Count < CryptoPipeline.MaxBatch * 2)
            {
                open = ReadOffload(tun, burst, wait: false, out bool nothing);
                if (nothing) break;
            }
            if (burst.Count == 0) continue;
            SendBurst(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(burst));
            burst.Clear();
        }
        OnTunReaderEnded();
    }

    /// <summary>Batch view over the pending decrypted packets for <see cref="GroCoalescer"/>.</summary>
    private struct PendingBatch(List<PacketBuffer> packets) : IGroBatch
    {
        public readonly int Count => packets.Count;

        public readonly Span<byte> GetBuffer(int index, out int offset, out int length)
        {
            var b = packets[index];
            offset = b.Offset;
            length = b.Length;
            return b.Raw;
        }

        public readonly void SetLength(int index, int length) => packets[index].SetLength(length);

        // Pool buffers hold 64 KiB after the headroom already: a super-packet always fits where the head is.
        public readonly bool TryEnlarge(int index, int capacity) => packets[index].Raw.Length - packets[index].Offset >= capacity;
    }

    // Called at the end of every locked engine section: coalesce and write what was delivered.
    private void FlushTunLocked()
    {
        if (_pendingTun.Count == 0) return;
        if (_tun is IPacketBufferTun bufferTun)
        {
            foreach (var b in _pendingTun)
            {
                try
                {
                    bufferTun.WriteBuffer(b);
                }
                catch (Exception ex)
                {
                    CountDrop(DropReason.TunWriteFailed);
                    Log(TunnelLogLevel.Verbose, $"TUN write failed: {ex.Message}");
                }
            }
            _pendingTun.Clear();
            return;
        }
        var tun = OffloadTun;
        if (tun is null)
        {
            foreach (var b in _pendingTun) WriteTunPlain(b);
            _pendingTun.Clear();
            return;
        }
        // Decrypted packets were authenticated by Poly1305, a far stronger check than the inner TCP checksum: the
        // kernel module marks them CHECKSUM_UNNECESSARY (receive.c) and so do we, by not re-summing them while
        // coalescing (the virtio header's NEEDS_CSUM makes the kernel trust the super-packet).
        // UDP is merged only when the kernel accepted USO on this TUN (it rejects GSO_UDP_L4 writes otherwise), and
        // only IPv4: with IPv6 super-packets tests/interop/offload.sh saw datagrams of one flow arrive out of order
        // (1-2 in 1800, receiver-side only; not understood yet, docs/status.md).
        _gro ??= new GroCoalescer(CryptoPipeline.MaxBatch * 2)
        {
            CoalesceUdp = tun.UdpOffloadsEnabled, CoalesceUdp6 = _options.CoalesceUdp6, VerifyChecksums = false,
        };
        int start = 0;
        while (start < _pendingTun.Count)
        {
            int count = Math.Min(_gro.MaxBatchSize, _pendingTun.Count - start);
            var slice = _pendingTun.GetRange(start, count);
            var batch = new PendingBatch(slice);
            if (_groOut.Length < count) _groOut = new int[count];
            int written;
            try
            {
                written = _gro.Coalesce(ref batch, _groOut);
            }
            catch (InvalidOperationException)
            {
                written = -1;
            }
            if (written < 0)
            {
                // Never expected; fall back to plain writes with an empty header.
                foreach (var b in slice) WriteVnetPlain(tun, b);
            }
            else
            {
                for (int i = 0; i < written; i++)
                {
                    var b = slice[_groOut[i]];
                    try
                    {
                        tun.WriteVnet(b.Raw.Slice(b.Offset - VirtioNetHeader.Size, b.Length + VirtioNetHeader.Size));
                    }
                    catch (Exception)
                    {
                        CountDrop(DropReason.TunWriteFailed);
                    }
                }
                foreach (var b in slice) b.Return();
            }
            start += count;
        }
        _pendingTun.Clear();
    }

    private void WriteVnetPlain(LinuxTun tun, PacketBuffer b)
    {
        try
        {
            VirtioNetHeader.None.Write(b.Raw.Slice(b.Offset - VirtioNetHeader.Size, VirtioNetHeader.Size));
            tun.WriteVnet(b.Raw.Slice(b.Offset - VirtioNetHeader.Size, b.Length + VirtioNetHeader.Size));
        }
        catch (Exception)
        {
            CountDrop(DropReason.TunWriteFailed);
        }
        finally
        {
            b.Return();
        }
    }

    private void WriteTunPlain(PacketBuffer b)
    {
        try
        {
            _tun.Write(b.Data);
        }
        catch (Exception ex)
        {
            CountDrop(DropReason.TunWriteFailed);
            Log(TunnelLogLevel.Verbose, $"TUN write failed: {ex.Message}");
        }
        finally
        {
            b.Return();
        }
    }

    /// <summary>Everything that must follow a locked engine section: hand sealed batches over, write the TUN.</summary>
    private void AfterEngine()
    {
        _pipeline?.FlushOutbound();
        FlushTunLocked();
        // A DAITA timer set for earlier than the timer thread's wake-up: wake it now.
        if (_engine.TakeNewDaitaDeadline().Ticks < _timerSleepUntil) _timerWake.Set();
    }
}
