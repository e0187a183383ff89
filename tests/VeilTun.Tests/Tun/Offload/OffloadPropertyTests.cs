using System.Buffers.Binary;
using CsCheck;
using VeilTun.Tests.Fakes;
using VeilTun.Tun.Offload;
using Xunit;
using static VeilTun.Tests.Tun.Offload.OffloadPackets;

namespace VeilTun.Tests.Tun.Offload;

public sealed class OffloadPropertyTests
{
    private static readonly Gen<Flow> s_flow =
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, 10], Gen.Byte, Gen.Byte[1, 255], Gen.Bool).Select((kind, optionWords, tos, ttl, df) =>
        {
            Flow f = kind switch { 0 => Flow.V4Tcp(), 1 => Flow.V6Tcp(), 2 => Flow.V4Udp(), _ => Flow.V6Udp() };
            return f with
            {
                TcpOptions = f.IsUdp ? [] : Options(optionWords),
                Tos = tos,
                Ttl = ttl,
                DontFragment = df,
            };
        });

    // A kernel-style super-packet: flow, gso_size, payload length (1..128 segments, sometimes an exact multiple,
    // capped so the whole thing fits 65535 bytes), PSH, first seq (any, so wrap-around happens), first IPv4 id.
    private static readonly Gen<(Flow Flow, int GsoSize, int PayloadLength, bool Psh, uint Seq, ushort Id, int Seed)> s_super =
        Gen.Select(s_flow, Gen.Int[1, 9000], Gen.Int[1, 128], Gen.Bool, Gen.Bool, Gen.UInt, Gen.UShort, Gen.Int)
            .Select(t =>
            {
                var (f, gso, segments, exact, psh, seq, id, seed) = t;
                int max = 65535 - f.HeaderLength;
                gso = Math.Min(gso, max);
                int length = exact ? segments * gso : (segments - 1) * gso + 1 + (int)((uint)seed % (uint)gso);
                return (f, gso, Math.Clamp(length, 1, max), psh, seq, id, seed);
            });

    [Fact]
    public void SplitThenCoalesceGivesTheSuperPacketBack()
    {
        // Compared exactly: the virtio header (all six fields; hdr_len as the kernel would give it for a locally
        // generated packet, IP + transport header) and every byte of the super-packet, including the IPv4 id (the
        // head's), the IPv4 header checksum, IP/UDP lengths and the partial (pseudo-header) transport checksum.
        // Not covered: FIN, CWR and ECE super-packets (their segments are not coalesced, by design), and hdr_len
        // values other than the header length (the splitter ignores them, the coalescer writes the real one).
        s_super.Sample(t =>
        {
            var (f, gso, length, psh, seq, id, seed) = t;
            byte flags = psh ? (byte)(Ack | Psh) : Ack;
            var (super, header) = Super(f, Payload(length, seed), gso, seq, flags, id);

            var sink = new ArenaSink();
            int n = GsoSplitter.Split(super, header, ref sink, out var error);
            Assert.Equal(OffloadError.None, error);
            byte[][] segments = sink.ToArrays();
            Assert.Equal((length + gso - 1) / gso, n);
            foreach (byte[] s in segments)
                AssertValidPacket(s);

            // Splice mode (headers written, payload left in the super-packet) yields the same packets once the
            // payloads are read from where they lie.
            var spliceSink = new ArenaSink { SpliceFrom = super };
            Assert.Equal(n, GsoSplitter.Split(super, header, ref spliceSink, out error));
            Assert.Equal(OffloadError.None, error);
            Assert.Equal(segments, spliceSink.ToArrays());

            var batch = new ArrayBatch(segments, capacity: ArrayBatch.Headroom + 2048, largeBuffers: 1);
            var toWrite = new int[n];
            int written = new GroCoalescer(maxBatchSize: n).Coalesce(ref batch, toWrite);
            Assert.Equal(1, written);
            Assert.Equal(0, toWrite[0]);
            if (n == 1)
            {
                // One segment is one packet: written as it is, with its checksum complete.
                Assert.Equal(VirtioNetHeader.None, batch.Header(0));
                Assert.Equal(segments[0], batch.Packet(0).ToArray());
            }
            else
            {
                Assert.Equal(header, batch.Header(0));
                Assert.Equal(super, batch.Packet(0).ToArray());
            }
        }, iter: 300);
    }

    // One flow's packets as a sender produces them: mostly full segments, sometimes a short one, a PSH, a FIN,
    // a pure ACK, a seq jump, a new ack number, a corrupted checksum. IPv4 ids count up by one per packet.
    private static List<byte[]> FlowPackets(Flow f, int count, int mss, Random r)
    {
        var list = new List<byte[]>();
        uint seq = (uint)r.Next();
        ushort id = (ushort)r.Next();
        uint ack = f.Ack;
        for (int i = 0; i < count; i++)
        {
            int roll = r.Next(100);
            int size = roll < 8 ? r.Next(1, mss) : mss;
            byte flags = Ack;
            if (!f.IsUdp)
            {
                if (roll is >= 8 and < 12) flags |= Psh;
                else if (roll == 12) flags |= Fin;
                else if (roll == 13) size = 0; // pure ACK
                else if (roll == 14) seq += 1000;
                else if (roll == 15) ack++;
            }
            byte[] p = Packet(f with { Ack = ack }, Payload(size, r.Next()), seq, flags, id++);
            if (roll == 16)
                p[f.IpHeaderLength + (f.IsUdp ? 6 : 16)] ^= 0x40; // bad checksum: must go out unmerged and untouched
            list.Add(p);
            seq += (uint)size;
        }
        return list;
    }

    [Fact]
    public void CoalescingPreservesEveryFlowsPacketsInOrder()
    {
        // Interleave up to 4 flows into one batch; coalesce; then segment each GSO output again and read every
        // output packet back per flow. Each flow must get back exactly its own packets, byte for byte, in order.
        Gen.Select(s_flow.Array[1, 4], Gen.Int[1, 128], Gen.Int[1, 1500], Gen.Int, Gen.Bool).Sample((flows, total, mss, seed, smallBuffers) =>
        {
            var r = new Random(seed);
            for (int k = 0; k < flows.Length; k++)
                flows[k] = flows[k] with { SourcePort = (ushort)(1000 + k) }; // distinct flows
            var perFlow = flows.Select(f => new Queue<byte[]>(FlowPackets(f, total, mss, r))).ToArray();
            var batchPackets = new List<byte[]>();
            var flowOf = new List<int>();
            while (batchPackets.Count < total)
            {
                int k = r.Next(flows.Length);
                batchPackets.Add(perFlow[k].Dequeue());
                flowOf.Add(k);
            }

            var batch = new ArrayBatch(batchPackets, capacity: ArrayBatch.Headroom + (smallBuffers ? 1600 : 65535),
                largeBuffers: smallBuffers ? 8 : 0);
            var toWrite = new int[total];
            int written = new GroCoalescer().Coalesce(ref batch, toWrite);

            var got = flows.Select(_ => new List<byte[]>()).ToArray();
            int previous = -1;
            foreach (int index in toWrite[..written])
            {
                Assert.True(index > previous); // heads in input order
                previous = index;
                VirtioNetHeader h = batch.Header(index);
                byte[] p = batch.Packet(index).ToArray();
                if (h.GsoType == VirtioNetHeader.GsoNone)
                {
                    Assert.Equal(VirtioNetHeader.None, h);
                    Assert.Equal(batchPackets[index], p); // left alone means untouched
                    got[flowOf[index]].Add(p);
                    continue;
                }
                Assert.True(p.Length <= GroCoalescer.MaxSuperPacketLength);
                var sink = new ArenaSink();
                GsoSplitter.Split(p, h, ref sink, out var error);
                Assert.Equal(OffloadError.None, error);
                Assert.True(sink.Count >= 2);
                got[flowOf[index]].AddRange(sink.ToArrays());
            }
            for (int k = 0; k < flows.Length; k++)
            {
                var expected = batchPackets.Where((_, i) => flowOf[i] == k).ToList();
                Assert.Equal(expected, got[k]);
            }
        }, iter: 300);
    }

    [Fact]
    public void GatherModeWritesExactlyTheBytesCopyModeBuilds()
    {
        // The same interleaved batch coalesced twice without checksum checks: once copying payloads into the heads,
        // once gathering (the Tunnel's mode: the head's own bytes, then each merged packet's payload). Every write
        // must be the same bytes with the same virtio header, and gather must leave every merged packet untouched.
        Gen.Select(s_flow.Array[1, 4], Gen.Int[1, 128], Gen.Int[1, 1500], Gen.Int).Sample((flows, total, mss, seed) =>
        {
            var r = new Random(seed);
            for (int k = 0; k < flows.Length; k++)
                flows[k] = flows[k] with { SourcePort = (ushort)(1000 + k) };
            var perFlow = flows.Select(f => new Queue<byte[]>(FlowPackets(f, total, mss, r))).ToArray();
            var packets = new List<byte[]>();
            while (packets.Count < total) packets.Add(perFlow[r.Next(flows.Length)].Dequeue());

            var copied = new ArrayBatch(packets);
            var copyOut = new int[total];
            int copyWritten = new GroCoalescer { VerifyChecksums = false }.Coalesce(ref copied, copyOut);

            var gathered = new ArrayBatch(packets, capacity: ArrayBatch.Headroom + 1600);
            var gather = new GroCoalescer { VerifyChecksums = false, Gather = true };
            var gatherOut = new int[total];
            int gatherWritten = gather.Coalesce(ref gathered, gatherOut);

            Assert.Equal(copyOut[..copyWritten], gatherOut[..gatherWritten]);
            var mergedInto = new bool[total];
            foreach (int head in gatherOut[..gatherWritten])
            {
                Assert.Equal(copied.Header(head), gathered.Header(head));
                var bytes = new List<byte>(gathered.Packet(head).ToArray());
                for (int m = gather.FirstMerged(head); m >= 0; m = gather.NextMerged(m))
                {
                    mergedInto[m] = true;
                    Assert.Equal(packets[m], gathered.Packet(m).ToArray()); // untouched
                    bytes.AddRange(gathered.Packet(m)[gather.MergedPayloadOffset(head)..].ToArray());
                }
                if (gather.FirstMerged(head) >= 0) Assert.Equal(gather.SuperPacketLength(head), bytes.Count);
                Assert.Equal(copied.Packet(head).ToArray(), bytes.ToArray());
            }
            // Every packet is either written or merged into exactly one head.
            Assert.Equal(total, gatherWritten + mergedInto.Count(x => x));
        }, iter: 300);
    }

    [Fact]
    public void MalformedInputNeverThrowsInTheSplitter()
    {
        // Random headers over random bytes, and valid super-packets with one byte changed, one header field
        // changed, or cut short.
        var randomCase = Gen.Select(Gen.Byte.Array[0, 300], Gen.Byte, Gen.Byte, Gen.UShort, Gen.UShort, Gen.UShort, Gen.UShort)
            .Select(t => (t.Item1, new VirtioNetHeader(t.Item2, t.Item3, t.Item4, t.Item5, t.Item6, t.Item7)));
        var mutatedCase = Gen.Select(s_super, Gen.Int[0, 4], Gen.Int, Gen.UShort).Select(t =>
        {
            var ((f, gso, length, psh, seq, id, seed), how, where, value) = t;
            var (p, h) = Super(f, Payload(Math.Min(length, 3000), seed), Math.Min(gso, 1500), seq, Ack, id);
            int at = (int)((uint)where % (uint)p.Length);
            switch (how)
            {
                case 0: p[Math.Min(at, f.HeaderLength)] ^= (byte)(value | 1); break;
                case 1: p = p[..at]; break;
                case 2: h = h with { ChecksumStart = value }; break;
                case 3: h = h with { ChecksumOffset = value }; break;
                default: h = h with { GsoType = (byte)value, GsoSize = (ushort)(value >> 4) }; break;
            }
            return (p, h);
        });
        Gen.OneOf(randomCase, mutatedCase).Sample(t =>
        {
            var (packet, header) = t;
            var sink = new ArenaSink();
            int n = GsoSplitter.Split(packet, header, ref sink, out var error);
            Assert.Equal(sink.Count, n);
            Assert.True(n == 0 || error is OffloadError.None or OffloadError.SinkFull);
            for (int i = 0; i < n; i++)
                Assert.InRange(sink.Segment(i).Length, 1, GsoSplitter.MaxSegmentLength);
            if (header.GsoType == VirtioNetHeader.GsoNone)
                GsoSplitter.TryCompleteChecksum((byte[])packet.Clone(), header, out _);
        }, iter: 3000);
    }

    [Fact]
    public void MalformedInputNeverThrowsInTheCoalescer()
    {
        // Valid segments with random bytes flipped (headers mostly), mixed with random junk; every packet written
        // must carry a readable header, and packets written without GSO must be byte-for-byte what came in.
        Gen.Select(s_flow, Gen.Int[1, 64], Gen.Int, Gen.Int[0, 3]).Sample((f, count, seed, damage) =>
        {
            var r = new Random(seed);
            var packets = FlowPackets(f, count, 1 + r.Next(1400), r);
            for (int i = 0; i < packets.Count; i++)
            {
                if (r.Next(4) < damage)
                {
                    byte[] p = packets[i];
                    if (r.Next(5) == 0)
                        packets[i] = Payload(r.Next(0, 120), r.Next());
                    else
                        p[r.Next(Math.Min(p.Length, f.HeaderLength + 4))] ^= (byte)(1 << r.Next(8));
                }
            }
            var batch = new ArrayBatch(packets);
            var toWrite = new int[packets.Count];
            int written = new GroCoalescer().Coalesce(ref batch, toWrite);
            foreach (int index in toWrite[..written])
            {
                VirtioNetHeader h = batch.Header(index);
                if (h.GsoType == VirtioNetHeader.GsoNone)
                    Assert.Equal(packets[index], batch.Packet(index).ToArray());
                else
                    Assert.Equal(OffloadError.None, SplitError(batch.Packet(index).ToArray(), h));
            }
        }, iter: 1000);
    }

    private static OffloadError SplitError(byte[] packet, VirtioNetHeader header)
    {
        var sink = new ArenaSink();
        GsoSplitter.Split(packet, header, ref sink, out var error);
        return error;
    }

    // ---- No allocation per packet ----

    private struct CountingSink(byte[] arena) : ISegmentSink
    {
        private int _used;
        public int Count;

        public Span<byte> NextSegment(int length) =>
            _used + length <= arena.Length ? arena.AsSpan(_used, length) : Span<byte>.Empty;

        public void Commit(int length)
        {
            _used += length;
            Count++;
        }

        public readonly bool SplicePayload => false;

        public void CommitSpliced(int length, int payloadOffset, int payloadLength) => throw new NotSupportedException();
    }

    // A batch over preallocated arrays that can be reset to its original packets without allocating.
    private sealed class ResettableBatch : IGroBatch
    {
        private readonly byte[][] _originals;
        private readonly byte[][] _buffers;
        private readonly int[] _lengths;

        public ResettableBatch(byte[][] originals)
        {
            _originals = originals;
            _buffers = originals.Select(_ => new byte[16 + 65535]).ToArray();
            _lengths = new int[originals.Length];
            Reset();
        }

        public void Reset()
        {
            for (int i = 0; i < _originals.Length; i++)
            {
                _originals[i].CopyTo(_buffers[i], 16);
                _lengths[i] = _originals[i].Length;
            }
        }

        public int Count => _buffers.Length;

        public Span<byte> GetBuffer(int index, out int offset, out int length)
        {
            offset = 16;
            length = _lengths[index];
            return _buffers[index];
        }

        public void SetLength(int index, int length) => _lengths[index] = length;

        public bool TryEnlarge(int index, int capacity) => false;
    }

    [Fact]
    public void SplittingAndCoalescingAllocateNothing()
    {
        var (super, header) = Super(Flow.V4Tcp(), Payload(65535 - 40, 1), gsoSize: 1380);
        var arena = new byte[1 << 17];
        byte[][] segments = new byte[44][];
        var mixed = new List<byte[]>();
        List<byte[]> a = new(), b = new();
        for (int i = 0; i < 44; i++)
            segments[i] = Packet(Flow.V4Tcp(), Payload(1380, i), 1000 + (uint)(i * 1380), Ack, (ushort)i);
        for (int i = 0; i < 20; i++)
        {
            mixed.Add(Packet(Flow.V6Udp(), Payload(1200, i), id: (ushort)i));
            mixed.Add(Packet(Flow.V4Tcp(3), Payload(1000, i), 5000 + (uint)(i * 1000), Ack, (ushort)i));
        }
        var batch = new ResettableBatch(segments);
        var mixedBatch = new ResettableBatch([.. mixed]);
        var gro = new GroCoalescer();
        var toWrite = new int[128];

        // Returns the three counts as one number, so that no assertion (xunit's allocate) runs in the loop.
        int Once()
        {
            var sink = new CountingSink(arena);
            GsoSplitter.Split(super, header, ref sink, out _);
            batch.Reset();
            int merged = gro.Coalesce(ref batch, toWrite);
            mixedBatch.Reset();
            int mixedWritten = gro.Coalesce(ref mixedBatch, toWrite);
            return sink.Count * 10000 + merged * 100 + mixedWritten;
        }

        Assert.Equal(48_01_02, Once()); // 48 segments; 44 segments into 1; two flows into 2 (JIT warm-up too)
        int wrong = 0;
        long allocated = Allocations.InSteadyState(() =>
        {
            for (int i = 0; i < 100; i++)
                wrong += Once() == 48_01_02 ? 0 : 1;
        });
        Assert.Equal(0, wrong);
        Assert.Equal(0, allocated);
    }
}
