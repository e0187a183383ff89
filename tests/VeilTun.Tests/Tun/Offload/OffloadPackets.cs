using System.Buffers.Binary;
using VeilTun.Tun.Offload;
using Xunit;

namespace VeilTun.Tests.Tun.Offload;

/// <summary>A TCP or UDP flow over IPv4 or IPv6, with the header fields the offload code cares about.</summary>
internal sealed record Flow(bool IsV6, bool IsUdp, byte[] Source, byte[] Destination, ushort SourcePort, ushort DestinationPort)
{
    public byte Tos { get; init; } = 0x10;
    public byte Ttl { get; init; } = 64;
    public uint FlowLabel { get; init; } = 0x12345;
    public bool DontFragment { get; init; } = true;
    public ushort Window { get; init; } = 501;
    public byte[] TcpOptions { get; init; } = [];
    public uint Ack { get; init; } = 0x0BADF00D;

    public int IpHeaderLength => IsV6 ? 40 : 20;
    public int TransportHeaderLength => IsUdp ? 8 : 20 + TcpOptions.Length;
    public int HeaderLength => IpHeaderLength + TransportHeaderLength;

    public static Flow V4Tcp(byte last = 2) => new(false, false, [10, 0, 0, 1], [10, 0, 0, last], 40000, 5201);
    public static Flow V6Tcp(byte last = 2) => new(true, false, V6(1), V6(last), 40000, 5201);
    public static Flow V4Udp(byte last = 2) => new(false, true, [192, 168, 7, 1], [192, 168, 7, last], 4433, 443);
    public static Flow V6Udp(byte last = 2) => new(true, true, V6(1), V6(last), 4433, 443);

    public static byte[] V6(byte last)
    {
        var a = new byte[16];
        a[0] = 0xfd;
        a[1] = 0x7a;
        a[15] = last;
        return a;
    }

    public override string ToString() =>
        $"{(IsV6 ? "v6" : "v4")}/{(IsUdp ? "udp" : "tcp")} opts={TcpOptions.Length}";
}

/// <summary>
/// Builds packets and super-packets by hand and checks them with a deliberately naive RFC 1071 checksum (one
/// 16-bit big-endian word at a time, pseudo-header assembled as bytes), independent of <see cref="Checksum"/>.
/// </summary>
internal static class OffloadPackets
{
    public const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20, Ece = 0x40, Cwr = 0x80;

    // ---- naive reference checksum ----

    public static ushort NaiveFold(ReadOnlySpan<byte> data)
    {
        ulong s = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
            s += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length)
            s += (uint)data[i] << 8;
        while (s >> 16 != 0)
            s = (s & 0xFFFF) + (s >> 16);
        return (ushort)s;
    }

    public static byte[] PseudoHeaderBytes(ReadOnlySpan<byte> packet, bool isV6, byte protocol, int transportLength)
    {
        if (isV6)
        {
            var ph = new byte[40];
            packet.Slice(8, 32).CopyTo(ph);
            BinaryPrimitives.WriteUInt32BigEndian(ph.AsSpan(32), (uint)transportLength);
            ph[39] = protocol;
            return ph;
        }
        var p4 = new byte[12];
        packet.Slice(12, 8).CopyTo(p4);
        p4[9] = protocol;
        BinaryPrimitives.WriteUInt16BigEndian(p4.AsSpan(10), (ushort)transportLength);
        return p4;
    }

    /// <summary>Naive sum of pseudo-header + transport bytes, folded (0xFFFF means a valid checksum inside).</summary>
    public static ushort NaiveTransportSum(ReadOnlySpan<byte> packet, bool isV6, byte protocol, int ipHeaderLength)
    {
        byte[] all = [.. PseudoHeaderBytes(packet, isV6, protocol, packet.Length - ipHeaderLength), .. packet[ipHeaderLength..]];
        return NaiveFold(all);
    }

    /// <summary>Asserts that a plain IP packet is self-consistent: lengths, IPv4 header checksum, TCP/UDP checksum.</summary>
    public static void AssertValidPacket(ReadOnlySpan<byte> p)
    {
        bool isV6 = p[0] >> 4 == 6;
        int ipLength = isV6 ? 40 : (p[0] & 0x0F) * 4;
        byte protocol = isV6 ? p[6] : p[9];
        if (isV6)
        {
            Assert.Equal(p.Length - 40, BinaryPrimitives.ReadUInt16BigEndian(p[4..]));
        }
        else
        {
            Assert.Equal(p.Length, BinaryPrimitives.ReadUInt16BigEndian(p[2..]));
            Assert.Equal(0xFFFF, NaiveFold(p[..ipLength]));
        }
        if (protocol == 17)
        {
            Assert.Equal(p.Length - ipLength, BinaryPrimitives.ReadUInt16BigEndian(p[(ipLength + 4)..]));
            Assert.NotEqual(0, BinaryPrimitives.ReadUInt16BigEndian(p[(ipLength + 6)..]));
        }
        Assert.Equal(0xFFFF, NaiveTransportSum(p, isV6, protocol, ipLength));
    }

    // ---- builders ----

    /// <summary>One complete packet with valid checksums.</summary>
    public static byte[] Packet(Flow f, ReadOnlySpan<byte> payload, uint seq = 1000, byte flags = Ack, ushort id = 7)
    {
        byte[] p = Headers(f, f.HeaderLength + payload.Length, seq, flags, id);
        payload.CopyTo(p.AsSpan(f.HeaderLength));
        ushort c = (ushort)~NaiveTransportSum(p, f.IsV6, f.IsUdp ? (byte)17 : (byte)6, f.IpHeaderLength);
        if (c == 0 && f.IsUdp)
            c = 0xFFFF;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(f.IpHeaderLength + (f.IsUdp ? 6 : 16)), c);
        return p;
    }

    /// <summary>
    /// A super-packet as the kernel hands it over a TUN with TSO/USO: IP lengths and (IPv4) header checksum for the
    /// whole thing, the transport checksum field holding the folded pseudo-header sum (CHECKSUM_PARTIAL), and the
    /// matching virtio header.
    /// </summary>
    public static (byte[] Packet, VirtioNetHeader Header) Super(Flow f, ReadOnlySpan<byte> payload, int gsoSize,
        uint seq = 1000, byte flags = Ack, ushort id = 7)
    {
        byte[] p = Headers(f, f.HeaderLength + payload.Length, seq, flags, id);
        payload.CopyTo(p.AsSpan(f.HeaderLength));
        byte protocol = f.IsUdp ? (byte)17 : (byte)6;
        ushort partial = NaiveFold(PseudoHeaderBytes(p, f.IsV6, protocol, p.Length - f.IpHeaderLength));
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(f.IpHeaderLength + (f.IsUdp ? 6 : 16)), partial);
        byte gsoType = f.IsUdp ? VirtioNetHeader.GsoUdpL4 : f.IsV6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4;
        var header = new VirtioNetHeader(VirtioNetHeader.FlagNeedsChecksum, gsoType, (ushort)f.HeaderLength,
            (ushort)gsoSize, (ushort)f.IpHeaderLength, f.IsUdp ? (ushort)6 : (ushort)16);
        return (p, header);
    }

    private static byte[] Headers(Flow f, int length, uint seq, byte flags, ushort id)
    {
        var p = new byte[length];
        int ip = f.IpHeaderLength;
        if (f.IsV6)
        {
            BinaryPrimitives.WriteUInt32BigEndian(p, 6u << 28 | (uint)f.Tos << 20 | (f.FlowLabel & 0xFFFFF));
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)(length - 40));
            p[6] = f.IsUdp ? (byte)17 : (byte)6;
            p[7] = f.Ttl;
            f.Source.CopyTo(p, 8);
            f.Destination.CopyTo(p, 24);
        }
        else
        {
            p[0] = 0x45;
            p[1] = f.Tos;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)length);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), id);
            p[6] = f.DontFragment ? (byte)0x40 : (byte)0;
            p[8] = f.Ttl;
            p[9] = f.IsUdp ? (byte)17 : (byte)6;
            f.Source.CopyTo(p, 12);
            f.Destination.CopyTo(p, 16);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), (ushort)~NaiveFold(p.AsSpan(0, 20)));
        }
        Span<byte> t = p.AsSpan(ip);
        BinaryPrimitives.WriteUInt16BigEndian(t, f.SourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], f.DestinationPort);
        if (f.IsUdp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(t[4..], (ushort)(length - ip));
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(t[4..], seq);
            BinaryPrimitives.WriteUInt32BigEndian(t[8..], f.Ack);
            t[12] = (byte)((20 + f.TcpOptions.Length) / 4 << 4);
            t[13] = flags;
            BinaryPrimitives.WriteUInt16BigEndian(t[14..], f.Window);
            f.TcpOptions.CopyTo(t[20..]);
        }
        return p;
    }

    /// <summary>TCP options of <paramref name="words"/> 32-bit words: NOPs plus a timestamp option when room.</summary>
    public static byte[] Options(int words, uint tsval = 0x01020304)
    {
        var o = new byte[words * 4];
        o.AsSpan().Fill(1); // NOP
        if (o.Length >= 12)
        {
            o[2] = 8; // kind: timestamps (RFC 7323)
            o[3] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(o.AsSpan(4), tsval);
            BinaryPrimitives.WriteUInt32BigEndian(o.AsSpan(8), 0x0A0B0C0D);
        }
        return o;
    }

    public static byte[] Payload(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}

/// <summary>Collects segments into one big arena, like a caller handing out pooled buffers in turn.</summary>
internal sealed class ArenaSink : ISegmentSink
{
    private readonly byte[] _arena;
    private readonly int[] _starts;
    private readonly int[] _lengths;
    private int _used;

    public ArenaSink(int capacity = 1 << 18, int maxSegments = 70000, int maxSegmentsAccepted = int.MaxValue)
    {
        _arena = new byte[capacity];
        _starts = new int[maxSegments];
        _lengths = new int[maxSegments];
        MaxSegmentsAccepted = maxSegmentsAccepted;
    }

    public int MaxSegmentsAccepted { get; set; }

    /// <summary>
    /// Splice mode: the super-packet being split. The splitter then writes headers only; the sink checks that the
    /// payload's place was left untouched and fills it from here, as a spliced PacketBuffer's reader would.
    /// </summary>
    public byte[]? SpliceFrom { get; set; }

    public bool SplicePayload => SpliceFrom is not null;

    private const byte Untouched = 0xA5;

    public int Count { get; private set; }

    public int Requested { get; private set; }

    public void Clear()
    {
        Count = 0;
        _used = 0;
    }

    public Span<byte> NextSegment(int length)
    {
        Requested = length;
        if (Count >= MaxSegmentsAccepted || Count >= _starts.Length || _used + length > _arena.Length)
            return Span<byte>.Empty;
        var span = _arena.AsSpan(_used, length);
        if (SplicePayload) span.Fill(Untouched);
        return span;
    }

    public void CommitSpliced(int length, int payloadOffset, int payloadLength)
    {
        Assert.NotNull(SpliceFrom);
        Assert.InRange(payloadLength, 1, length);
        var gap = _arena.AsSpan(_used + length - payloadLength, payloadLength);
        Assert.True(gap.IndexOfAnyExcept(Untouched) < 0, "the splitter wrote into a spliced payload's place");
        SpliceFrom.AsSpan(payloadOffset, payloadLength).CopyTo(gap);
        Commit(length);
    }

    public void Commit(int length)
    {
        Assert.Equal(Requested, length);
        _starts[Count] = _used;
        _lengths[Count] = length;
        _used += length;
        Count++;
    }

    public ReadOnlySpan<byte> Segment(int i) => _arena.AsSpan(_starts[i], _lengths[i]);

    public byte[][] ToArrays()
    {
        var r = new byte[Count][];
        for (int i = 0; i < Count; i++)
            r[i] = Segment(i).ToArray();
        return r;
    }
}

/// <summary>
/// A batch over separate arrays with headroom, like pooled packet buffers. Buffers can be small (so the coalescer
/// must ask for a large one) and the number of large buffers on offer is limited.
/// </summary>
internal sealed class ArrayBatch : IGroBatch
{
    public const int Headroom = 16;
    private readonly byte[][] _buffers;
    private readonly int[] _lengths;
    private readonly int _largeCapacity;

    public ArrayBatch(IReadOnlyList<byte[]> packets, int capacity = Headroom + 65535, int largeBuffers = 0)
    {
        _buffers = new byte[packets.Count][];
        _lengths = new int[packets.Count];
        _largeCapacity = Headroom + 65535;
        LargeBuffersLeft = largeBuffers;
        for (int i = 0; i < packets.Count; i++)
        {
            _buffers[i] = new byte[Math.Max(capacity, Headroom + packets[i].Length)];
            _buffers[i].AsSpan().Fill(0xEE); // junk in headroom and tailroom must not matter
            packets[i].CopyTo(_buffers[i], Headroom);
            _lengths[i] = packets[i].Length;
        }
    }

    public int LargeBuffersLeft { get; private set; }

    public int EnlargeCalls { get; private set; }

    public int Count => _buffers.Length;

    public Span<byte> GetBuffer(int index, out int offset, out int length)
    {
        offset = Headroom;
        length = _lengths[index];
        return _buffers[index];
    }

    public void SetLength(int index, int length)
    {
        Assert.InRange(length, 0, _buffers[index].Length - Headroom);
        _lengths[index] = length;
    }

    public bool TryEnlarge(int index, int capacity)
    {
        EnlargeCalls++;
        if (LargeBuffersLeft == 0 || capacity > _largeCapacity - Headroom)
            return false;
        LargeBuffersLeft--;
        var large = new byte[_largeCapacity];
        _buffers[index].AsSpan(Headroom, _lengths[index]).CopyTo(large.AsSpan(Headroom));
        _buffers[index] = large;
        return true;
    }

    public ReadOnlySpan<byte> Packet(int index) => _buffers[index].AsSpan(Headroom, _lengths[index]);

    public VirtioNetHeader Header(int index)
    {
        Assert.True(VirtioNetHeader.TryRead(_buffers[index].AsSpan(Headroom - VirtioNetHeader.Size), out var h));
        return h;
    }
}
