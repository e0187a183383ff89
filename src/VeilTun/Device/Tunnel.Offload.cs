using VeilTun.Buffers;
using VeilTun.Noise;
using VeilTun.Tun;
using VeilTun.Tun.Offload;

namespace VeilTun.Device;

// TUN offloads (the wireguard-go 2023 design, performance.md §1-2), used when the TUN was opened with
// TunOptions.Offloads and the kernel accepted TUNSETOFFLOAD:
//   read:  one read() returns a TSO/USO super-packet of up to 64 KiB after a virtio_net_hdr; the read lands in
//          a pooled buffer so the header falls into the headroom; GSO_NONE packets stay where they are (zero
//          copy), super-packets are split into fresh small pooled buffers that get only the segment's headers:
//          the payload is spliced (PacketBuffer.Splice), summed for the checksum where it lies, and read from the
//          super-packet by the cipher, which writes the ciphertext into the segment's buffer (no copy but its own).
//   write: decrypted packets of one batch are collected, same-flow TCP/UDP segments are grouped behind their
//          head (GroCoalescer in gather mode: the head's headers describe the super-packet, nothing is copied), and
//          each group goes to the TUN in one writev(): virtio header (in the head's headroom) and head, then every
//          merged segment's payload from its own buffer.
public sealed partial class Tunnel
{
    private readonly List<PacketBuffer> _pendingTun = new();
    private long _splicedTunSegments; // written by the TUN reader only
    private long _splicedUdpDatagrams; // written by the UDP reader only

    /// <summary>Test hook: segments of TSO/USO reads and datagrams of GRO receives whose payload was spliced.</summary>
    internal (long Tun, long Udp) SplicedCounts => (Volatile.Read(ref _splicedTunSegments), Volatile.Read(ref _splicedUdpDatagrams));

    private LinuxTun? OffloadTun => _tun is LinuxTun { OffloadsEnabled: true } t ? t : null;

    /// <summary>
    /// Sink for <see cref="GsoSplitter"/>: each segment goes into its own pooled buffer after the headroom, its
    /// payload spliced onto <paramref name="source"/> (the super-packet) unless splicing is off.
    /// </summary>
    private struct PoolSink(Tunnel tunnel, List<PacketBuffer> output, PacketBuffer source) : ISegmentSink
    {
        private PacketBuffer? _current;

        public readonly bool SplicePayload => tunnel._options.SpliceSegments;

        public void CommitSpliced(int length, int payloadOffset, int payloadLength)
        {
            _current!.SetData(PacketBuffer.DefaultHeadroom, length);
            _current.Splice(source, source.Offset + payloadOffset, payloadLength);
            output.Add(_current);
            _current = null;
        }

        public Span<byte> NextSegment(int length)
        {
            if (!tunnel.TryRentFor(length, out var b)) return Span<byte>.Empty;
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
        var sink = new PoolSink(this, burst, buffer);
        int segments = GsoSplitter.Split(buffer.Data, header, ref sink, out var error);
        if (sink.SplicePayload) _splicedTunSegments += segments;
        buffer.Return(); // the reader's reference: the buffer stays rented while segments spliced onto it live
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
            while (open && burst.Count < MaxBurstPackets)
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

    /// <summary>Batch view over a run of pending decrypted packets for <see cref="GroCoalescer"/> in gather mode.</summary>
    private readonly struct PendingBatch(List<PacketBuffer> packets, int start, int count) : IGroBatch
    {
        public int Count => count;

        public Span<byte> GetBuffer(int index, out int offset, out int length)
        {
            var b = packets[start + index];
            offset = b.Offset;
            length = b.Length;
            return b.Raw;
        }

        // Gather mode never grows a head in place, so these are not called; were the mode off, a head would grow
        // only within its own buffer (no move), which is still correct.
        public void SetLength(int index, int length) => packets[start + index].SetLength(length);

        public bool TryEnlarge(int index, int capacity) => packets[start + index].Raw.Length - packets[start + index].Offset >= capacity;
    }

    /// <summary>
    /// A thread's own coalescing state, for TUN writes made after the engine lock is released (inbound batches:
    /// the pipeline drains each peer's lane on one thread at a time, so a peer's packets still reach the TUN in order).
    /// </summary>
    private sealed class TunWriter
    {
        public readonly List<PacketBuffer> Pending = new(CryptoPipeline.MaxBatch);
        public GroCoalescer? Gro;
        public readonly int[] Out = new int[MaxBurstPackets];
        public readonly (byte[] Array, int Offset, int Length)[] Parts = new (byte[], int, int)[MaxBurstPackets];
    }

    [ThreadStatic] private static TunWriter? t_tunWriter;

    // Set (under the engine lock) by a caller that writes the TUN itself once it has let go of the lock.
    private TunWriter? _deferTunTo;

    // Called at the end of every locked engine section: coalesce and write what was delivered, or hand it to the
    // caller that asked to write it after the lock (a 64 KiB TUN write is a long syscall to hold the engine for).
    private void FlushTunLocked()
    {
        if (_pendingTun.Count == 0) return;
        if (_deferTunTo is { } writer && _tun is LinuxTun)
        {
            writer.Pending.AddRange(_pendingTun);
            _pendingTun.Clear();
            return;
        }
        _sharedTunWriter ??= new TunWriter();
        WriteTun(_pendingTun, _sharedTunWriter);
    }

    private TunWriter? _sharedTunWriter; // used under the engine lock only

    // Writes `pending` to the TUN (coalesced when the TUN has offloads), returns every buffer and clears the list.
    private void WriteTun(List<PacketBuffer> pending, TunWriter writer)
    {
        if (pending.Count == 0) return;
        if (_tun is IPacketBufferTun bufferTun)
        {
            foreach (var b in pending)
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
            pending.Clear();
            return;
        }
        var tun = OffloadTun;
        if (tun is null)
        {
            foreach (var b in pending) WriteTunPlain(b);
            pending.Clear();
            return;
        }
        // Decrypted packets were authenticated by Poly1305, a far stronger check than the inner TCP checksum: the
        // kernel module marks them CHECKSUM_UNNECESSARY (receive.c) and so do we, by not re-summing them while
        // coalescing (the virtio header's NEEDS_CSUM makes the kernel trust the super-packet).
        // UDP is merged only when the kernel accepted USO on this TUN (it rejects GSO_UDP_L4 writes otherwise), and
        // only IPv4 unless TunnelOptions.CoalesceUdp6: with IPv6 super-packets tests/interop/offload.sh saw
        // datagrams of one flow arrive out of order (1-4 in 1800, inside the kernel; docs/status.md).
        var gro = writer.Gro ??= new GroCoalescer(MaxBurstPackets) { VerifyChecksums = false, Gather = true };
        gro.CoalesceUdp = tun.UdpOffloadsEnabled;
        gro.CoalesceUdp6 = _options.CoalesceUdp6;
        int start = 0;
        while (start < pending.Count)
        {
            int count = Math.Min(gro.MaxBatchSize, pending.Count - start);
            var batch = new PendingBatch(pending, start, count);
            int written;
            try
            {
                written = gro.Coalesce(ref batch, writer.Out);
            }
            catch (InvalidOperationException)
            {
                written = -1;
            }
            if (written < 0)
            {
                // Never expected; fall back to plain writes with an empty header.
                for (int i = start; i < start + count; i++) WriteVnetPlain(tun, pending[i]);
            }
            else
            {
                for (int i = 0; i < written; i++)
                {
                    int head = writer.Out[i];
                    var b = pending[start + head];
                    try
                    {
                        var headBytes = b.Raw.Slice(b.Offset - VirtioNetHeader.Size, b.Length + VirtioNetHeader.Size);
                        int merged = gro.FirstMerged(head);
                        if (merged < 0)
                        {
                            tun.WriteVnet(headBytes);
                            continue;
                        }
                        // Gather: the merged segments' payloads go out from their own buffers (the kernel's copy only).
                        int skip = gro.MergedPayloadOffset(head);
                        int parts = 0;
                        for (int m = merged; m >= 0; m = gro.NextMerged(m))
                        {
                            var t = pending[start + m];
                            writer.Parts[parts++] = (t.RawArray, t.Offset + skip, t.Length - skip);
                        }
                        tun.WriteVnetGather(headBytes, writer.Parts.AsSpan(0, parts));
                    }
                    catch (Exception)
                    {
                        CountDrop(DropReason.TunWriteFailed);
                    }
                }
                for (int i = start; i < start + count; i++) pending[i].Return();
            }
            start += count;
        }
        pending.Clear();
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
