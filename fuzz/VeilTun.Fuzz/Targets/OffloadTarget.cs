using VeilTun.Tun.Offload;

namespace VeilTun.Fuzz;

/// <summary>
/// TUN offload. Byte 0, bit 0 clear: bytes 1-10 are a virtio header and the rest one TUN read, split by
/// <see cref="GsoSplitter.Split"/>; its segments are then coalesced again by <see cref="GroCoalescer"/>. Bit 1 picks the splitter's splice mode. Bit 0 set:
/// the rest is a batch of packets (each a 2-byte little-endian length, at most 4 KiB, then its bytes) for the
/// coalescer, bits 1-3 choosing UDP, UDP6 and gather mode. Every super-packet the coalescer writes (not in gather
/// mode, where it stays scattered) must split again without error, as the kernel would segment it.
/// </summary>
internal static class OffloadTarget
{
    private static readonly GroCoalescer s_gro = new(maxBatchSize: 128);

    public static void Run(byte[] input)
    {
        var r = new FuzzReader(input);
        byte mode = r.Byte();
        var batch = new Batch();
        if ((mode & 1) == 0)
        {
            if (!VirtioNetHeader.TryRead(r.Bytes(VirtioNetHeader.Size), out var header)) return;
            var packet = r.Rest();
            var sink = new Sink((mode & 2) != 0 ? packet.ToArray() : null);
            int n = GsoSplitter.Split(packet, header, ref sink, out var error);
            FuzzTargets.Check(n == sink.Segments.Count, $"split returned {n} but committed {sink.Segments.Count}");
            FuzzTargets.Check(error == OffloadError.None ? n >= 1 : n == 0, $"split returned {n} with {error}");
            foreach (var s in sink.Segments)
                FuzzTargets.Check(s.Length <= GsoSplitter.MaxSegmentLength, $"a segment of {s.Length} bytes");
            if (n > s_gro.MaxBatchSize) return;
            foreach (var s in sink.Segments) batch.Add(s);
            s_gro.CoalesceUdp = s_gro.CoalesceUdp6 = true;
            s_gro.Gather = false;
            s_gro.VerifyChecksums = true;
        }
        else
        {
            while (!r.IsEmpty && batch.Count < 64)
            {
                int length = r.UInt16() % 4096;
                batch.Add(r.Bytes(length));
            }
            s_gro.CoalesceUdp = (mode & 2) != 0;
            s_gro.CoalesceUdp6 = (mode & 4) != 0;
            s_gro.Gather = (mode & 8) != 0;
            s_gro.VerifyChecksums = !s_gro.Gather;
        }
        Coalesce(batch);
    }

    private static void Coalesce(Batch batch)
    {
        Span<int> toWrite = stackalloc int[batch.Count];
        int written = s_gro.Coalesce(ref batch, toWrite);
        FuzzTargets.Check(written >= 0 && written <= batch.Count, $"coalesce listed {written} of {batch.Count}");
        int previous = -1;
        for (int k = 0; k < written; k++)
        {
            int index = toWrite[k];
            FuzzTargets.Check(index > previous && index < batch.Count, "coalesce listed packets out of order");
            previous = index;
            var buffer = batch.GetBuffer(index, out int offset, out int length);
            FuzzTargets.Check(length <= GroCoalescer.MaxSuperPacketLength, $"a super-packet of {length} bytes");
            FuzzTargets.Check(VirtioNetHeader.TryRead(buffer[(offset - VirtioNetHeader.Size)..], out var header), "no virtio header");
            if (header.GsoType == VirtioNetHeader.GsoNone || s_gro.Gather) continue;
            var sink = new Sink();
            int n = GsoSplitter.Split(buffer.Slice(offset, length), header, ref sink, out var error);
            FuzzTargets.Check(error == OffloadError.None && n >= 2, $"a coalesced super-packet does not split: {error} ({header})");
        }
    }

    /// <summary>Collects segments; with a super-packet it works in splice mode and copies the payloads itself.</summary>
    private sealed class Sink(byte[]? superPacket = null) : ISegmentSink
    {
        private byte[] _current = [];

        public bool SplicePayload => superPacket is not null;

        public void CommitSpliced(int length, int payloadOffset, int payloadLength)
        {
            FuzzTargets.Check(superPacket is not null && payloadLength >= 0 && payloadLength <= length && length <= _current.Length
                && payloadOffset >= 0 && payloadOffset + payloadLength <= superPacket.Length,
                $"CommitSpliced({length}, {payloadOffset}, {payloadLength}) out of bounds");
            superPacket.AsSpan(payloadOffset, payloadLength).CopyTo(_current.AsSpan(length - payloadLength));
            Commit(length);
        }

        public List<byte[]> Segments { get; } = new();

        public Span<byte> NextSegment(int length)
        {
            _current = new byte[length];
            return _current;
        }

        public void Commit(int length) => Segments.Add(_current.AsSpan(0, length).ToArray());
    }

    /// <summary>Packets with 10 bytes of headroom and some tailroom; enlarging moves one into a 64 KiB buffer.</summary>
    private sealed class Batch : IGroBatch
    {
        private readonly List<(byte[] Buffer, int Length)> _packets = new();

        public int Count => _packets.Count;

        public void Add(ReadOnlySpan<byte> packet)
        {
            var buffer = new byte[VirtioNetHeader.Size + packet.Length + 2048];
            packet.CopyTo(buffer.AsSpan(VirtioNetHeader.Size));
            _packets.Add((buffer, packet.Length));
        }

        public Span<byte> GetBuffer(int index, out int offset, out int length)
        {
            offset = VirtioNetHeader.Size;
            length = _packets[index].Length;
            return _packets[index].Buffer;
        }

        public void SetLength(int index, int length)
        {
            FuzzTargets.Check(length >= 0 && VirtioNetHeader.Size + length <= _packets[index].Buffer.Length, $"SetLength({length}) outside the buffer");
            _packets[index] = (_packets[index].Buffer, length);
        }

        public bool TryEnlarge(int index, int capacity)
        {
            FuzzTargets.Check(capacity <= GroCoalescer.MaxSuperPacketLength, $"TryEnlarge to {capacity}");
            var (old, length) = _packets[index];
            var buffer = new byte[VirtioNetHeader.Size + capacity];
            old.AsSpan(0, VirtioNetHeader.Size + length).CopyTo(buffer);
            _packets[index] = (buffer, length);
            return true;
        }
    }
}
