using System.Runtime.InteropServices;
using VeilTun.Buffers;
using VeilTun.Noise;
using VeilTun.Tun.Offload;

namespace VeilTun.Tun;

// Batches and offloads. With offloads on (TunOptions.Offloads, kernel accepted TUNSETOFFLOAD), the same design as
// wireguard-go's tun_linux.go since 2023:
//   read:  one read() returns a TSO/USO super-packet of up to 64 KiB after a virtio_net_hdr; it lands in a large
//          pooled buffer so the header falls into the headroom. A GSO_NONE packet stays where it is (zero copy); a
//          super-packet is split into small pooled buffers that get only the segment's headers: the payload is
//          spliced (PacketBuffer.Splice), summed for the checksum where it lies, and read from the super-packet by
//          the cipher, which writes the ciphertext into the segment's own buffer.
//   write: same-flow TCP/UDP segments of one batch are grouped behind their head (GroCoalescer in gather mode: the
//          head's headers describe the super-packet, nothing is copied), and each group goes to the TUN in one
//          writev(): virtio header (in the head's headroom) and head, then every merged segment's payload from
//          its own buffer.
// Without offloads every packet is read into and written from its own buffer, one syscall each.
public sealed partial class LinuxTun
{
    private long _splicedSegments; // written by the reader only

    /// <summary>Segments of TSO/USO super-packets whose payload was spliced (not copied) so far.</summary>
    internal long SplicedSegments => Volatile.Read(ref _splicedSegments);

    /// <summary>
    /// Also coalesce IPv6 UDP into USO super-packets on writes (see <see cref="TunOptions.CoalesceUdp6"/>).
    /// </summary>
    public bool CoalesceUdp6 { get; set; }

    [ThreadStatic] private static byte[]? t_scratch;

    /// <inheritdoc/>
    public int Read(List<PacketBuffer> packets, int max, BufferPools pools)
    {
        int start = packets.Count;
        bool wait = true;
        while (packets.Count - start < max)
        {
            bool open = OffloadsEnabled ? ReadOffloaded(packets, pools, wait) : ReadPlain(packets, pools, wait);
            if (!open) break;
            if (packets.Count > start) wait = false; // then only what is queued right now
            else if (!wait) break;
        }
        return packets.Count - start;
    }

    // One packet into its own large buffer. False when closed, or (wait false) when nothing is queued.
    private bool ReadPlain(List<PacketBuffer> packets, BufferPools pools, bool wait)
    {
        if (!pools.Large.TryRent(out var buffer))
        {
            if (!wait) return false;
            // Exhausted: read into scratch and drop, so the TUN never stalls (counted).
            if (ReadCore(t_scratch ??= new byte[BufferPools.LargeBufferSize], wait: true, raw: false) == 0) return false;
            pools.Drops.Count(DropReason.PoolExhausted);
            return true;
        }
        int n = ReadOrReturn(buffer, buffer.ReadArea(), wait, raw: false);
        if (n <= 0) return false;
        buffer.SetData(PacketBuffer.DefaultHeadroom, n);
        packets.Add(buffer);
        return true;
    }

    // Reads into `area` of `buffer`; when nothing was read (closed, nothing queued) or the read threw, the buffer
    // goes back to its pool.
    private int ReadOrReturn(PacketBuffer buffer, Span<byte> area, bool wait, bool raw)
    {
        int n;
        try
        {
            n = ReadCore(area, wait, raw);
        }
        catch
        {
            buffer.Return();
            throw;
        }
        if (n <= 0) buffer.Return();
        return n;
    }

    // One packet or super-packet (split into MTU-sized packets). False when closed, or (wait false) when nothing
    // is queued; true with nothing added when what was read had to be dropped.
    private bool ReadOffloaded(List<PacketBuffer> packets, BufferPools pools, bool wait)
    {
        if (!pools.Large.TryRent(out var buffer))
        {
            pools.Drops.Count(DropReason.PoolExhausted);
            if (!wait) return false;
            Thread.Sleep(1); // the kernel queues meanwhile; buffers come back as the workers finish
            return true;
        }
        int n = ReadOrReturn(buffer, buffer.Raw[(PacketBuffer.DefaultHeadroom - VirtioNetHeader.Size)..], wait, raw: true);
        if (n <= 0) return false;
        if (!VirtioNetHeader.TryRead(buffer.Raw[(PacketBuffer.DefaultHeadroom - VirtioNetHeader.Size)..], out var header))
        {
            buffer.Return();
            pools.Drops.Count(DropReason.InvalidInnerPacket);
            return true;
        }
        buffer.SetData(PacketBuffer.DefaultHeadroom, n - VirtioNetHeader.Size);
        if (header.GsoType == VirtioNetHeader.GsoNone)
        {
            if (header.NeedsChecksum && !GsoSplitter.TryCompleteChecksum(buffer.Data, header, out _))
            {
                buffer.Return();
                pools.Drops.Count(DropReason.InvalidInnerPacket);
                return true;
            }
            packets.Add(buffer);
            return true;
        }
        var sink = new SpliceSink(pools, packets, buffer);
        int segments = GsoSplitter.Split(buffer.Data, header, ref sink, out var error);
        _splicedSegments += segments;
        buffer.Return(); // the reader's reference: the buffer stays rented while segments spliced onto it live
        if (error != OffloadError.None)
            pools.Drops.Count(error == OffloadError.SinkFull ? DropReason.PoolExhausted : DropReason.InvalidInnerPacket);
        return true;
    }

    /// <summary>
    /// Sink for <see cref="GsoSplitter"/>: each segment goes into its own pooled buffer after the headroom, with its
    /// payload spliced onto <paramref name="source"/> (the super-packet).
    /// </summary>
    private struct SpliceSink(BufferPools pools, List<PacketBuffer> output, PacketBuffer source) : ISegmentSink
    {
        private PacketBuffer? _current;

        public readonly bool SplicePayload => true;

        public Span<byte> NextSegment(int length)
        {
            if (!pools.TryRentFor(length, out var b)) return Span<byte>.Empty;
            _current = b;
            return b.ReadArea()[..length];
        }

        public void CommitSpliced(int length, int payloadOffset, int payloadLength)
        {
            _current!.SetData(PacketBuffer.DefaultHeadroom, length);
            _current.Splice(source, source.Offset + payloadOffset, payloadLength);
            output.Add(_current);
            _current = null;
        }

        public void Commit(int length)
        {
            _current!.SetData(PacketBuffer.DefaultHeadroom, length);
            output.Add(_current);
            _current = null;
        }
    }

    /// <inheritdoc/>
    public void Write(List<PacketBuffer> packets, BufferPools pools)
    {
        if (packets.Count == 0) return;
        try
        {
            if (OffloadsEnabled)
            {
                WriteCoalesced(packets, pools);
            }
            else
            {
                foreach (var b in packets)
                {
                    try
                    {
                        Write(b.Data);
                    }
                    catch (Exception)
                    {
                        pools.Drops.Count(DropReason.TunWriteFailed);
                    }
                }
            }
        }
        finally
        {
            foreach (var b in packets) b.Return();
            packets.Clear();
        }
    }

    /// <summary>A writing thread's coalescing state (several threads may write at once).</summary>
    private sealed class CoalesceState
    {
        public const int MaxBatch = 128;
        public readonly GroCoalescer Gro = new(MaxBatch) { VerifyChecksums = false, Gather = true };
        public readonly int[] Out = new int[MaxBatch];
        public readonly (NativeBufferMemory Memory, int Offset, int Length)[] Parts = new (NativeBufferMemory, int, int)[MaxBatch];
    }

    [ThreadStatic] private static CoalesceState? t_coalesce;

    /// <summary>Batch view over a run of decrypted packets for <see cref="GroCoalescer"/> in gather mode.</summary>
    private readonly struct PacketRun(List<PacketBuffer> packets, int start, int count) : IGroBatch
    {
        public int Count => count;

        public Span<byte> GetBuffer(int index, out int offset, out int length)
        {
            var b = packets[start + index];
            offset = b.Offset;
            length = b.Length;
            return b.Raw;
        }

        // Gather mode never grows a head, so these are not called; were it to, a head would grow only within its
        // own buffer (no move), which is still correct.
        public void SetLength(int index, int length) => packets[start + index].SetLength(length);

        public bool TryEnlarge(int index, int capacity) => packets[start + index].Raw.Length - packets[start + index].Offset >= capacity;
    }

    // Decrypted packets were authenticated by Poly1305, a far stronger check than the inner TCP checksum: the kernel
    // module marks them CHECKSUM_UNNECESSARY (receive.c) and so do we, by not re-summing them while coalescing (the
    // virtio header's NEEDS_CSUM makes the kernel trust the super-packet). UDP is merged only when the kernel
    // accepted USO on this TUN (it rejects GSO_UDP_L4 writes otherwise), and IPv6 UDP only with CoalesceUdp6 (with
    // IPv6 UDP super-packets Linux 6.18 delivered a few datagrams of a flow out of order; docs/status.md).
    private void WriteCoalesced(List<PacketBuffer> packets, BufferPools pools)
    {
        var state = t_coalesce ??= new CoalesceState();
        var gro = state.Gro;
        gro.CoalesceUdp = UdpOffloadsEnabled;
        gro.CoalesceUdp6 = CoalesceUdp6;
        for (int start = 0; start < packets.Count; start += gro.MaxBatchSize)
        {
            int count = Math.Min(gro.MaxBatchSize, packets.Count - start);
            var run = new PacketRun(packets, start, count);
            int groups;
            try
            {
                groups = gro.Coalesce(ref run, state.Out);
            }
            catch (InvalidOperationException)
            {
                groups = -1;
            }
            if (groups < 0)
            {
                // Never expected; fall back to plain writes with an empty header.
                for (int i = start; i < start + count; i++) WriteWithEmptyHeader(packets[i], pools);
                continue;
            }
            for (int g = 0; g < groups; g++)
            {
                int head = state.Out[g];
                var b = packets[start + head];
                try
                {
                    var headBytes = b.Raw.Slice(b.Offset - VirtioNetHeader.Size, b.Length + VirtioNetHeader.Size);
                    int merged = gro.FirstMerged(head);
                    if (merged < 0)
                    {
                        WriteVnet(headBytes);
                        continue;
                    }
                    // Gather: the merged segments' payloads go out from their own buffers (the kernel's copy only).
                    int skip = gro.MergedPayloadOffset(head);
                    int parts = 0;
                    for (int m = merged; m >= 0; m = gro.NextMerged(m))
                    {
                        var t = packets[start + m];
                        state.Parts[parts++] = (t.NativeMemory, t.Offset + skip, t.Length - skip);
                    }
                    WriteVnetGather(headBytes, state.Parts.AsSpan(0, parts));
                }
                catch (Exception)
                {
                    pools.Drops.Count(DropReason.TunWriteFailed);
                }
            }
        }
    }

    private void WriteWithEmptyHeader(PacketBuffer b, BufferPools pools)
    {
        try
        {
            VirtioNetHeader.None.Write(b.Raw.Slice(b.Offset - VirtioNetHeader.Size, VirtioNetHeader.Size));
            WriteVnet(b.Raw.Slice(b.Offset - VirtioNetHeader.Size, b.Length + VirtioNetHeader.Size));
        }
        catch (Exception)
        {
            pools.Drops.Count(DropReason.TunWriteFailed);
        }
    }
}
