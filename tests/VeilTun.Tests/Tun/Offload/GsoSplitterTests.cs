using System.Buffers.Binary;
using VeilTun.Tun.Offload;
using Xunit;
using static VeilTun.Tests.Tun.Offload.OffloadPackets;

namespace VeilTun.Tests.Tun.Offload;

public sealed class GsoSplitterTests
{
    public static TheoryData<string> Kinds => new() { "v4tcp", "v6tcp", "v4udp", "v6udp" };

    internal static Flow FlowOf(string kind) => kind switch
    {
        "v4tcp" => Flow.V4Tcp(),
        "v6tcp" => Flow.V6Tcp(),
        "v4udp" => Flow.V4Udp(),
        _ => Flow.V6Udp(),
    };

    private static byte[][] Split(byte[] packet, VirtioNetHeader header, out OffloadError error, ArenaSink? sink = null)
    {
        sink ??= new ArenaSink();
        int n = GsoSplitter.Split(packet, header, ref sink, out error);
        Assert.Equal(sink.Count, n);
        return sink.ToArrays();
    }

    // Checks every segment on its own (lengths, checksums by the naive reference), the per-segment header
    // rewrites, and that the payloads concatenate to the super-packet's payload.
    private static void AssertSegmentsOf(Flow f, byte[] super, int gsoSize, byte[][] segments, uint seq, ushort id, byte flags)
    {
        int payloadLength = super.Length - f.HeaderLength;
        Assert.Equal((payloadLength + gsoSize - 1) / gsoSize, segments.Length);
        var payload = new List<byte>();
        for (int i = 0; i < segments.Length; i++)
        {
            byte[] s = segments[i];
            bool last = i == segments.Length - 1;
            AssertValidPacket(s);
            Assert.Equal(last ? payloadLength - i * gsoSize : gsoSize, s.Length - f.HeaderLength);
            if (!f.IsV6)
                Assert.Equal((ushort)(id + i), BinaryPrimitives.ReadUInt16BigEndian(s.AsSpan(4)));
            if (!f.IsUdp)
            {
                Assert.Equal(seq + (uint)(i * gsoSize), BinaryPrimitives.ReadUInt32BigEndian(s.AsSpan(f.IpHeaderLength + 4)));
                byte expected = flags;
                if (!last) expected &= unchecked((byte)~(Fin | Psh));
                if (i > 0) expected &= unchecked((byte)~Cwr);
                Assert.Equal(expected, s[f.IpHeaderLength + 13]);
                // Options and everything else in the TCP header after the flags (window, urgent) are copied.
                Assert.Equal(super.AsSpan(f.IpHeaderLength + 14, 2).ToArray(), s.AsSpan(f.IpHeaderLength + 14, 2).ToArray());
                Assert.Equal(super.AsSpan(f.IpHeaderLength + 18, f.TransportHeaderLength - 18).ToArray(),
                    s.AsSpan(f.IpHeaderLength + 18, f.TransportHeaderLength - 18).ToArray());
            }
            // Version/TOS/flow label, flags/fragment, TTL/hop limit, protocol, addresses, ports: unchanged.
            int[] same = f.IsV6 ? [0, 1, 2, 3, .. Enumerable.Range(6, 34)] : [0, 1, 6, 7, 8, 9, .. Enumerable.Range(12, 8)];
            Assert.Equal(same.Select(k => super[k]), same.Select(k => s[k]));
            Assert.Equal(super.AsSpan(f.IpHeaderLength, 4).ToArray(), s.AsSpan(f.IpHeaderLength, 4).ToArray());
            payload.AddRange(s.AsSpan(f.HeaderLength).ToArray());
        }
        Assert.Equal(super.AsSpan(f.HeaderLength).ToArray(), payload.ToArray());
    }

    // ---- Splitting ----

    [Theory]
    [MemberData(nameof(Kinds))]
    public void SuperPacketSplitsIntoSegmentsThatVerifyIndependently(string kind)
    {
        Flow f = FlowOf(kind);
        byte[] payload = Payload(3500, 1);
        var (super, header) = Super(f, payload, gsoSize: 1400, seq: 0xFFFFF000, flags: Ack | Psh, id: 0xFFFE);
        byte[][] segments = Split(super, header, out var error);
        Assert.Equal(OffloadError.None, error);
        Assert.Equal(3, segments.Length);
        AssertSegmentsOf(f, super, 1400, segments, 0xFFFFF000, 0xFFFE, Ack | Psh); // seq and id wrap around
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void PayloadOfExactlyKSegmentsGivesKFullSegments(string kind)
    {
        Flow f = FlowOf(kind);
        var (super, header) = Super(f, Payload(5 * 1000, 2), gsoSize: 1000);
        byte[][] segments = Split(super, header, out var error);
        Assert.Equal(OffloadError.None, error);
        Assert.Equal(5, segments.Length);
        Assert.All(segments, s => Assert.Equal(f.HeaderLength + 1000, s.Length));
        AssertSegmentsOf(f, super, 1000, segments, 1000, 7, Ack);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void OneBytePayloadGivesOneSegment(string kind)
    {
        Flow f = FlowOf(kind);
        var (super, header) = Super(f, [0x42], gsoSize: 1400);
        byte[][] segments = Split(super, header, out var error);
        Assert.Equal(OffloadError.None, error);
        Assert.Single(segments);
        AssertSegmentsOf(f, super, 1400, segments, 1000, 7, Ack);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void LargestSuperPacketSplits(string kind)
    {
        Flow f = FlowOf(kind);
        var (super, header) = Super(f, Payload(65535 - f.HeaderLength, 3), gsoSize: 1380);
        Assert.Equal(65535, super.Length);
        byte[][] segments = Split(super, header, out var error);
        Assert.Equal(OffloadError.None, error);
        AssertSegmentsOf(f, super, 1380, segments, 1000, 7, Ack);
    }

    [Fact]
    public void TcpOptionsAreCopiedToEverySegment()
    {
        Flow f = Flow.V4Tcp() with { TcpOptions = Options(10) }; // 60-byte TCP header
        var (super, header) = Super(f, Payload(4000, 4), gsoSize: 1388);
        byte[][] segments = Split(super, header, out var error);
        Assert.Equal(OffloadError.None, error);
        AssertSegmentsOf(f, super, 1388, segments, 1000, 7, Ack);
        Assert.All(segments, s => Assert.Equal(f.TcpOptions, s.AsSpan(40, 40).ToArray()));
    }

    [Fact]
    public void FinAndPshStayOnTheLastSegmentAndCwrOnTheFirst()
    {
        // net/ipv4/tcp_offload.c tcp_gso_segment: "th->fin = th->psh = 0" on all but the last, "th->cwr = 0" on all
        // but the first; the kernel marks such a super-packet VIRTIO_NET_HDR_GSO_ECN.
        Flow f = Flow.V6Tcp();
        var (super, header) = Super(f, Payload(3000, 5), gsoSize: 1000, flags: Ack | Psh | Fin | Cwr | Ece);
        header = header with { GsoType = VirtioNetHeader.GsoTcpV6 | VirtioNetHeader.GsoEcn };
        byte[][] segments = Split(super, header, out var error);
        Assert.Equal(OffloadError.None, error);
        Assert.Equal(Ack | Cwr | Ece, segments[0][53]);
        Assert.Equal(Ack | Ece, segments[1][53]);
        Assert.Equal(Ack | Ece | Psh | Fin, segments[2][53]);
        AssertSegmentsOf(f, super, 1000, segments, 1000, 7, Ack | Psh | Fin | Cwr | Ece);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(54 + 1400)] // the whole first packet, as the kernel reports on the forwarding path
    [InlineData(65535)]
    public void HdrLenFromTheKernelIsIgnored(int hdrLen)
    {
        Flow f = Flow.V4Tcp() with { TcpOptions = Options(3) };
        var (super, header) = Super(f, Payload(2800, 6), gsoSize: 1400);
        byte[][] expected = Split(super, header, out _);
        byte[][] actual = Split(super, header with { HeaderLength = (ushort)hdrLen }, out var error);
        Assert.Equal(OffloadError.None, error);
        Assert.Equal(expected, actual);
    }

    // ---- Single packets ----

    [Fact]
    public void PacketWithoutOffloadIsCopiedUnchanged()
    {
        byte[] packet = Payload(100, 8); // not even IP: a non-GSO packet is not parsed
        byte[][] segments = Split(packet, VirtioNetHeader.None, out var error);
        Assert.Equal(OffloadError.None, error);
        Assert.Equal(packet, Assert.Single(segments));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void PartialChecksumOfASinglePacketIsCompleted(string kind)
    {
        Flow f = FlowOf(kind);
        byte[] complete = Packet(f, Payload(300, 9));
        // What the kernel hands over for CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
        var (partial, gsoHeader) = Super(f, Payload(300, 9), gsoSize: 1400);
        var header = gsoHeader with { GsoType = VirtioNetHeader.GsoNone, GsoSize = 0 };
        Assert.NotEqual(complete, partial);

        byte[][] segments = Split(partial, header, out var error);
        Assert.Equal(OffloadError.None, error);
        Assert.Equal(complete, Assert.Single(segments));

        byte[] inPlace = (byte[])partial.Clone();
        Assert.True(GsoSplitter.TryCompleteChecksum(inPlace, header, out error));
        Assert.Equal(complete, inPlace);
    }

    [Fact]
    public void CompletedUdpChecksumIsNeverZero()
    {
        // Choose the 2-byte payload so that the UDP checksum comes out as 0: RFC 768 then requires 0xFFFF
        // (the kernel's skb_checksum_help writes CSUM_MANGLED_0).
        Flow f = Flow.V4Udp();
        byte[] probe = Packet(f, [0, 0]);
        probe[26] = probe[27] = 0;
        ushort rest = NaiveTransportSum(probe, false, 17, 20);
        ushort word = (ushort)(0xFFFF - rest);
        var (partial, h) = Super(f, [(byte)(word >> 8), (byte)word], 1400);
        Assert.True(GsoSplitter.TryCompleteChecksum(partial, h with { GsoType = 0 }, out _));
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(partial.AsSpan(26)));
        AssertValidPacket(partial);
    }

    // ---- Malformed input: an error, nothing written ----

    public static TheoryData<string, object> Malformed => new()
    {
        { "gso_size 0", OffloadError.InvalidGsoSize },
        { "UFO", OffloadError.UnsupportedGsoType },
        { "unknown gso type", OffloadError.UnsupportedGsoType },
        { "ECN on UDP", OffloadError.UnsupportedGsoType },
        { "TCPV6 on IPv4", OffloadError.GsoTypeMismatch },
        { "UDP_L4 on TCP", OffloadError.GsoTypeMismatch },
        { "no NEEDS_CSUM", OffloadError.ChecksumNotPartial },
        { "csum_start not IHL", OffloadError.InvalidChecksumLocation },
        { "csum_offset not 16", OffloadError.InvalidChecksumLocation },
        { "TCP data offset 4", OffloadError.InvalidTcpHeaderLength },
        { "IP version 5", OffloadError.InvalidIpVersion },
        { "headers only", OffloadError.PacketTooShort },
        { "truncated TCP header", OffloadError.PacketTooShort },
        { "empty", OffloadError.PacketTooShort },
        { "segment over 64 KiB", OffloadError.SegmentTooLong },
        { "NONE with csum beyond end", OffloadError.InvalidChecksumLocation },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedInputIsRefusedWithAReasonAndWritesNothing(string what, object expectedArg)
    {
        var expected = (OffloadError)expectedArg;
        Flow f = Flow.V4Tcp();
        var (p, h) = Super(f, Payload(3000, 10), gsoSize: 1000);
        switch (what)
        {
            case "gso_size 0": h = h with { GsoSize = 0 }; break;
            case "UFO": h = h with { GsoType = VirtioNetHeader.GsoUdp }; break;
            case "unknown gso type": h = h with { GsoType = 2 }; break;
            case "ECN on UDP": (p, h) = Super(Flow.V4Udp(), Payload(3000, 10), 1000); h = h with { GsoType = 0x85 }; break;
            case "TCPV6 on IPv4": h = h with { GsoType = VirtioNetHeader.GsoTcpV6 }; break;
            case "UDP_L4 on TCP": h = h with { GsoType = VirtioNetHeader.GsoUdpL4, ChecksumOffset = 6 }; break;
            case "no NEEDS_CSUM": h = h with { Flags = 0 }; break;
            case "csum_start not IHL": h = h with { ChecksumStart = 24 }; break;
            case "csum_offset not 16": h = h with { ChecksumOffset = 6 }; break;
            case "TCP data offset 4": p[32] = 0x40; break;
            case "IP version 5": p[0] = 0x55; break;
            case "headers only": p = p[..40]; break;
            case "truncated TCP header": p = p[..30]; break;
            case "empty": p = []; break;
            case "segment over 64 KiB":
                (p, h) = Super(Flow.V6Udp(), Payload(65535, 10), gsoSize: 65535);
                break;
            case "NONE with csum beyond end": h = h with { GsoType = 0, ChecksumStart = 3030, ChecksumOffset = 16 }; break;
        }
        var sink = new ArenaSink();
        int n = GsoSplitter.Split(p, h, ref sink, out var error);
        Assert.Equal(expected, error);
        Assert.Equal(0, n);
        Assert.Equal(0, sink.Count);
    }

    [Fact]
    public void FullSinkStopsTheSplitKeepingWhatWasCommitted()
    {
        var (p, h) = Super(Flow.V4Tcp(), Payload(5000, 11), gsoSize: 1000);
        var sink = new ArenaSink(maxSegmentsAccepted: 2);
        int n = GsoSplitter.Split(p, h, ref sink, out var error);
        Assert.Equal(OffloadError.SinkFull, error);
        Assert.Equal(2, n);
        AssertValidPacket(sink.Segment(0));
        AssertValidPacket(sink.Segment(1));
    }

    [Fact]
    public void CompletingTheChecksumOfAGsoPacketIsRefused()
    {
        var (p, h) = Super(Flow.V4Tcp(), Payload(100, 12), gsoSize: 50);
        Assert.False(GsoSplitter.TryCompleteChecksum(p, h, out var error));
        Assert.Equal(OffloadError.UnsupportedGsoType, error);
    }
}
