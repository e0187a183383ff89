using System.Buffers.Binary;
using VeilTun.Tun.Offload;
using Xunit;
using static VeilTun.Tests.Tun.Offload.OffloadPackets;

namespace VeilTun.Tests.Tun.Offload;

public sealed class GroCoalescerTests
{
    public static TheoryData<string> Kinds => GsoSplitterTests.Kinds;

    private static (ArrayBatch Batch, int[] ToWrite) Run(IReadOnlyList<byte[]> packets, GroCoalescer? gro = null,
        int capacity = ArrayBatch.Headroom + 65535, int largeBuffers = 0)
    {
        gro ??= new GroCoalescer();
        var batch = new ArrayBatch(packets, capacity, largeBuffers);
        var toWrite = new int[packets.Count];
        int n = gro.Coalesce(ref batch, toWrite);
        return (batch, toWrite[..n]);
    }

    /// <summary>Consecutive segments of one flow: <paramref name="sizes"/> payload bytes each, contiguous seq.</summary>
    private static List<byte[]> Segments(Flow f, int[] sizes, uint seq = 1000, ushort id = 7, int seed = 0, byte lastFlags = Ack)
    {
        var list = new List<byte[]>();
        for (int i = 0; i < sizes.Length; i++)
        {
            byte flags = i == sizes.Length - 1 ? lastFlags : Ack;
            list.Add(Packet(f, Payload(sizes[i], seed + i), seq, flags, (ushort)(id + i)));
            seq += (uint)sizes[i];
        }
        return list;
    }

    private static byte[][] SplitBack(ArrayBatch batch, int index)
    {
        var sink = new ArenaSink();
        GsoSplitter.Split(batch.Packet(index), batch.Header(index), ref sink, out var error);
        Assert.Equal(OffloadError.None, error);
        return sink.ToArrays();
    }

    private static void AssertLeftAlone(ArrayBatch batch, int index, byte[] original)
    {
        Assert.Equal(VirtioNetHeader.None, batch.Header(index));
        Assert.Equal(original, batch.Packet(index).ToArray());
    }

    // ---- Coalescing ----

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ConsecutiveSegmentsBecomeOneSuperPacket(string kind)
    {
        Flow f = GsoSplitterTests.FlowOf(kind);
        List<byte[]> packets = Segments(f, [1300, 1300, 1300, 500], lastFlags: Ack | Psh);
        var (batch, toWrite) = Run(packets);

        Assert.Equal([0], toWrite);
        byte[] super = batch.Packet(0).ToArray();
        Assert.Equal(f.HeaderLength + 4400, super.Length);
        byte gsoType = f.IsUdp ? VirtioNetHeader.GsoUdpL4 : f.IsV6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4;
        Assert.Equal(new VirtioNetHeader(VirtioNetHeader.FlagNeedsChecksum, gsoType, (ushort)f.HeaderLength, 1300,
            (ushort)f.IpHeaderLength, f.IsUdp ? (ushort)6 : (ushort)16), batch.Header(0));

        // IP and UDP lengths cover the whole super-packet; the IPv4 header checksum is valid for it; the transport
        // checksum field holds the folded pseudo-header sum for the whole length (CHECKSUM_PARTIAL).
        if (f.IsV6)
        {
            Assert.Equal(super.Length - 40, BinaryPrimitives.ReadUInt16BigEndian(super.AsSpan(4)));
        }
        else
        {
            Assert.Equal(super.Length, BinaryPrimitives.ReadUInt16BigEndian(super.AsSpan(2)));
            Assert.Equal(0xFFFF, NaiveFold(super.AsSpan(0, 20)));
            Assert.Equal(7, BinaryPrimitives.ReadUInt16BigEndian(super.AsSpan(4))); // the head's id
        }
        byte protocol = f.IsUdp ? (byte)17 : (byte)6;
        Assert.Equal(NaiveFold(PseudoHeaderBytes(super, f.IsV6, protocol, super.Length - f.IpHeaderLength)),
            BinaryPrimitives.ReadUInt16BigEndian(super.AsSpan(f.IpHeaderLength + (f.IsUdp ? 6 : 16))));
        if (f.IsUdp)
            Assert.Equal(super.Length - f.IpHeaderLength, BinaryPrimitives.ReadUInt16BigEndian(super.AsSpan(f.IpHeaderLength + 4)));
        else
            Assert.Equal(Ack | Psh, super[f.IpHeaderLength + 13]); // PSH of the last segment moves to the head

        // And the kernel's segmentation (here: ours) gives back exactly the packets that went in.
        Assert.Equal(packets, SplitBack(batch, 0));
    }

    [Fact]
    public void InterleavedFlowsCoalesceSeparatelyKeepingEachFlowsOrder()
    {
        Flow a = Flow.V4Tcp(2), b = Flow.V6Udp(3);
        List<byte[]> sa = Segments(a, [1000, 1000, 1000], seed: 10);
        List<byte[]> sb = Segments(b, [800, 800], seed: 20);
        var (batch, toWrite) = Run([sa[0], sb[0], sa[1], sb[1], sa[2]]);
        Assert.Equal([0, 1], toWrite);
        Assert.Equal(sa, SplitBack(batch, 0));
        Assert.Equal(sb, SplitBack(batch, 1));
    }

    [Fact]
    public void AnotherPacketOfTheFlowClosesItsGroup()
    {
        Flow f = Flow.V4Tcp();
        List<byte[]> s = Segments(f, [1000, 1000, 1000, 1000], seed: 30);
        byte[] pureAck = Packet(f, [], seq: 3000); // same flow, no payload: passes through between
        var (batch, toWrite) = Run([s[0], s[1], pureAck, s[2], s[3]]);
        Assert.Equal([0, 2, 3], toWrite);
        Assert.Equal(s[..2], SplitBack(batch, 0));
        AssertLeftAlone(batch, 2, pureAck);
        Assert.Equal(s[2..], SplitBack(batch, 3));
    }

    [Fact]
    public void SuperPacketsStayWithin64KiB()
    {
        Flow f = Flow.V4Tcp();
        List<byte[]> packets = Segments(f, Enumerable.Repeat(1400, 60).ToArray());
        var (batch, toWrite) = Run(packets);
        int perGroup = (65535 - 40) / 1400; // 46 segments fit
        Assert.Equal([0, perGroup], toWrite);
        Assert.Equal(40 + perGroup * 1400, batch.Packet(0).Length);
        Assert.Equal(packets[..perGroup], SplitBack(batch, 0));
        Assert.Equal(packets[perGroup..], SplitBack(batch, perGroup));
    }

    [Fact]
    public void ExactlyMaximumSizeIsAllowed()
    {
        Flow f = Flow.V6Tcp();
        int payload = 65535 - 60; // 65475 = 5 * 13095
        List<byte[]> packets = Segments(f, Enumerable.Repeat(payload / 5, 5).ToArray());
        var (batch, toWrite) = Run(packets);
        Assert.Equal([0], toWrite);
        Assert.Equal(65535, batch.Packet(0).Length);
        Assert.Equal(packets, SplitBack(batch, 0));
    }

    [Fact]
    public void SmallHeadBufferMovesOnceIntoALargeOne()
    {
        Flow f = Flow.V4Udp();
        List<byte[]> packets = Segments(f, [1200, 1200, 1200, 1200, 1200], seed: 40);
        var (batch, toWrite) = Run(packets, capacity: ArrayBatch.Headroom + 2048, largeBuffers: 1);
        Assert.Equal([0], toWrite);
        Assert.Equal(1, batch.EnlargeCalls);
        Assert.Equal(packets, SplitBack(batch, 0));
    }

    [Fact]
    public void WithoutALargeBufferSmallBuffersStayAsTheyAre()
    {
        Flow f = Flow.V4Tcp();
        List<byte[]> packets = Segments(f, [1200, 1200, 1200], seed: 50);
        var (batch, toWrite) = Run(packets, capacity: ArrayBatch.Headroom + 1300, largeBuffers: 0);
        Assert.Equal([0, 1, 2], toWrite);
        for (int i = 0; i < 3; i++)
            AssertLeftAlone(batch, i, packets[i]);
    }

    [Fact]
    public void HeadBufferWithRoomForTwoMergesTwoThenAsksForMore()
    {
        Flow f = Flow.V4Tcp();
        List<byte[]> packets = Segments(f, [1000, 1000, 1000, 1000], seed: 60);
        var (batch, toWrite) = Run(packets, capacity: ArrayBatch.Headroom + 2100, largeBuffers: 0);
        Assert.Equal([0, 2], toWrite); // 40 + 2000 fits, 3040 does not; the next group starts at packet 2
        Assert.Equal(packets[..2], SplitBack(batch, 0));
        Assert.Equal(packets[2..], SplitBack(batch, 2));
    }

    [Fact]
    public void UdpIsLeftAloneWhenTheTunHasNoUso()
    {
        Flow f = Flow.V6Udp();
        List<byte[]> packets = Segments(f, [500, 500], seed: 70);
        var (batch, toWrite) = Run(packets, new GroCoalescer { CoalesceUdp = false });
        Assert.Equal([0, 1], toWrite);
        AssertLeftAlone(batch, 0, packets[0]);
        AssertLeftAlone(batch, 1, packets[1]);
    }

    [Fact]
    public void UnverifiedModeMergesEvenABadChecksum()
    {
        Flow f = Flow.V4Tcp();
        List<byte[]> packets = Segments(f, [500, 500], seed: 80);
        packets[1][36] ^= 0xFF; // corrupt the TCP checksum
        var (_, toWrite) = Run(packets, new GroCoalescer { VerifyChecksums = false });
        Assert.Equal([0], toWrite);
    }

    // ---- Packets left alone ----

    // Each case: two packets that would coalesce, with the second (or first) changed as named. Both must be
    // written as they are, with the all-zero virtio header.
    public static TheoryData<string> Unmergeable => new()
    {
        "SYN", "FIN", "RST", "URG", "ECE", "CWR", "no ACK", "pure ACK", "IPv4 options", "more fragments",
        "fragment offset", "TTL differs", "TOS differs", "DF differs", "flow label differs", "hop limit differs",
        "traffic class differs", "seq gap", "seq overlap", "ack differs", "options differ", "header length differs",
        "larger after smaller", "after PSH", "bad checksum", "bad head checksum", "UDP checksum 0", "UDP length wrong",
        "ICMP", "IPv6 extension header", "IPv4 total length wrong", "IPv6 payload length wrong", "ports differ",
        "address differs", "TCP then UDP",
    };

    [Theory]
    [MemberData(nameof(Unmergeable))]
    public void PacketsThatMustNotMergeAreLeftAlone(string what)
    {
        bool v6 = what is "flow label differs" or "hop limit differs" or "traffic class differs" or "IPv6 extension header"
            or "IPv6 payload length wrong";
        bool udp = what is "UDP checksum 0" or "UDP length wrong";
        Flow f = (v6, udp) switch
        {
            (true, _) => Flow.V6Tcp(),
            (false, true) => Flow.V4Udp(),
            _ => Flow.V4Tcp() with { TcpOptions = Options(3) },
        };
        byte[] p0 = Packet(f, Payload(1000, 1), 1000, Ack, 7);
        byte[] p1 = Packet(f, Payload(1000, 2), 2000, Ack, 8);
        int t = f.IpHeaderLength;
        switch (what)
        {
            case "SYN": p1 = Packet(f, Payload(1000, 2), 2000, Ack | Syn, 8); break;
            case "FIN": p1 = Packet(f, Payload(1000, 2), 2000, Ack | Fin, 8); break;
            case "RST": p1 = Packet(f, Payload(1000, 2), 2000, Ack | Rst, 8); break;
            case "URG": p1 = Packet(f, Payload(1000, 2), 2000, Ack | Urg, 8); break;
            case "ECE": p1 = Packet(f, Payload(1000, 2), 2000, Ack | Ece, 8); break;
            case "CWR": p1 = Packet(f, Payload(1000, 2), 2000, Ack | Cwr, 8); break;
            case "no ACK": p1 = Packet(f, Payload(1000, 2), 2000, Psh, 8); break;
            case "pure ACK": p1 = Packet(f, [], 2000, Ack, 8); break;
            case "IPv4 options": p1 = WithIpv4Option(p1); break;
            case "more fragments": p1 = Reheader(p1, p => p[6] |= 0x20); break;
            case "fragment offset": p1 = Reheader(p1, p => p[7] = 0x10); break;
            case "TTL differs": p1 = Packet(f with { Ttl = 63 }, Payload(1000, 2), 2000, Ack, 8); break;
            case "TOS differs": p1 = Packet(f with { Tos = 0x11 }, Payload(1000, 2), 2000, Ack, 8); break; // ECN CE vs ECT
            case "DF differs": p1 = Packet(f with { DontFragment = false }, Payload(1000, 2), 2000, Ack, 8); break;
            case "flow label differs": p1 = Packet(f with { FlowLabel = 0x54321 }, Payload(1000, 2), 2000, Ack, 8); break;
            case "hop limit differs": p1 = Packet(f with { Ttl = 1 }, Payload(1000, 2), 2000, Ack, 8); break;
            case "traffic class differs": p1 = Packet(f with { Tos = 0xb8 }, Payload(1000, 2), 2000, Ack, 8); break;
            case "seq gap": p1 = Packet(f, Payload(1000, 2), 2001, Ack, 8); break;
            case "seq overlap": p1 = Packet(f, Payload(1000, 2), 1999, Ack, 8); break;
            case "ack differs": p1 = Packet(f with { Ack = 1 }, Payload(1000, 2), 2000, Ack, 8); break;
            case "options differ": p1 = Packet(f with { TcpOptions = Options(3, tsval: 99) }, Payload(1000, 2), 2000, Ack, 8); break;
            case "header length differs": p1 = Packet(f with { TcpOptions = Options(4) }, Payload(1000, 2), 2000, Ack, 8); break;
            case "larger after smaller": p0 = Packet(f, Payload(999, 1), 1001, Ack, 7); p1 = Packet(f, Payload(1000, 2), 2000, Ack, 8); break;
            case "after PSH": p0 = Packet(f, Payload(1000, 1), 1000, Ack | Psh, 7); break;
            case "bad checksum": p1[t + 16] ^= 0x01; break;
            case "bad head checksum": p0[t + 16] ^= 0x01; break;
            case "UDP checksum 0": p0[t + 6] = p0[t + 7] = 0; p1[t + 6] = p1[t + 7] = 0; break;
            case "UDP length wrong": p1 = Reheader(p1, p => p[t + 5]--); break;
            case "ICMP": p0 = Reheader(p0, p => p[9] = 1); p1 = Reheader(p1, p => p[9] = 1); break;
            case "IPv6 extension header": p1[6] = 0; break; // hop-by-hop options in front of TCP
            case "IPv4 total length wrong": p1 = Reheader(p1, p => p[3]--); break;
            case "IPv6 payload length wrong": p1[5]--; break;
            case "ports differ": p1 = Packet(f with { SourcePort = 40001 }, Payload(1000, 2), 2000, Ack, 8); break;
            case "address differs": p1 = Packet(f with { Destination = [10, 0, 0, 3] }, Payload(1000, 2), 2000, Ack, 8); break;
            case "TCP then UDP": p1 = Packet(Flow.V4Udp() with { Source = f.Source, Destination = f.Destination, SourcePort = f.SourcePort, DestinationPort = f.DestinationPort }, Payload(1000, 2)); break;
            default: throw new ArgumentException(what);
        }
        var (batch, toWrite) = Run([p0, p1]);
        Assert.Equal([0, 1], toWrite);
        AssertLeftAlone(batch, 0, p0);
        AssertLeftAlone(batch, 1, p1);
    }

    [Fact]
    public void GarbageAndNonIpPacketsPassThroughUntouched()
    {
        byte[][] packets = [[], [0x45], Payload(19, 1), Payload(1500, 2), [0x60, .. new byte[39]]];
        var (batch, toWrite) = Run(packets);
        Assert.Equal([0, 1, 2, 3, 4], toWrite);
        for (int i = 0; i < packets.Length; i++)
            AssertLeftAlone(batch, i, packets[i]);
    }

    [Fact]
    public void MisusedBatchesThrowEarly()
    {
        var gro = new GroCoalescer(maxBatchSize: 2);
        var three = new ArrayBatch([[1], [2], [3]]);
        Assert.Throws<ArgumentException>(() => gro.Coalesce(ref three, new int[3]));
        var two = new ArrayBatch([[1], [2]]);
        Assert.Throws<ArgumentException>(() => gro.Coalesce(ref two, new int[1]));
        var noHeadroom = new NoHeadroomBatch();
        Assert.Throws<ArgumentException>(() => gro.Coalesce(ref noHeadroom, new int[1]));
    }

    private sealed class NoHeadroomBatch : IGroBatch
    {
        private readonly byte[] _buffer = new byte[100];
        public int Count => 1;
        public Span<byte> GetBuffer(int index, out int offset, out int length)
        {
            offset = 4;
            length = 50;
            return _buffer;
        }
        public void SetLength(int index, int length) { }
        public bool TryEnlarge(int index, int capacity) => false;
    }

    // Packet with one 4-byte IPv4 option (NOP x4) and recomputed checksums.
    private static byte[] WithIpv4Option(byte[] p)
    {
        byte[] q = [.. p[..20], 1, 1, 1, 1, .. p[20..]];
        q[0] = 0x46;
        BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(2), (ushort)q.Length);
        q[10] = q[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(10), (ushort)~NaiveFold(q.AsSpan(0, 24)));
        return q;
    }

    // Applies a change to the IP/UDP header and fixes the IPv4 header checksum (so only the change matters).
    private static byte[] Reheader(byte[] p, Action<byte[]> change)
    {
        byte[] q = (byte[])p.Clone();
        change(q);
        if (q[0] >> 4 == 4)
        {
            q[10] = q[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(q.AsSpan(10), (ushort)~NaiveFold(q.AsSpan(0, (q[0] & 15) * 4)));
        }
        return q;
    }
}
