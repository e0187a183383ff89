using System.Buffers.Binary;
using VeilTun.Buffers;

namespace VeilTun.Tests.Multihop;

/// <summary>
/// Test-side reference code for multihop packets, written independently of the code under test: a plain RFC 1071
/// checksum (one 16-bit word at a time), an IPv4/IPv6 + UDP packet builder, and a fragmenter that splits packets as
/// the Linux kernel does (ip_do_fragment / ip6_fragment: every fragment but the last carries the largest multiple of
/// 8 bytes that fits the MTU; IPv4 options appear in the first fragment only; IPv6 fragments get a fragment header
/// right after the fixed header).
/// </summary>
internal static class MultihopPackets
{
    public const int Headroom = PacketBuffer.DefaultHeadroom;
    public const int BigBufferSize = 65535 + Headroom + 64;

    public static readonly byte[] Src4 = [192, 0, 2, 1]; // RFC 5737 documentation addresses
    public static readonly byte[] Dst4 = [198, 51, 100, 7];
    public static readonly byte[] Src6 = Convert.FromHexString("20010db8000000000000000000000001"); // RFC 3849
    public static readonly byte[] Dst6 = Convert.FromHexString("20010db8000000000000000000000002");

    /// <summary>RFC 1071 §4.1, word by word: the folded ones-complement sum (not complemented).</summary>
    public static ushort ReferenceSum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
        {
            sum += (uint)(data[i] << 8 | data[i + 1]);
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        if (i < data.Length)
        {
            sum += (uint)data[i] << 8;
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)sum;
    }

    /// <summary>The checksum field value for <paramref name="data"/> (checksum field zeroed in it).</summary>
    public static ushort ReferenceChecksum(ReadOnlySpan<byte> data) => (ushort)~ReferenceSum(data);

    /// <summary>Pseudo-header (RFC 768 for 4-byte addresses, RFC 8200 §8.1 for 16-byte ones) followed by the segment.</summary>
    public static byte[] WithPseudoHeader(ReadOnlySpan<byte> src, ReadOnlySpan<byte> dst, ReadOnlySpan<byte> segment)
    {
        var bytes = new List<byte>();
        bytes.AddRange(src.ToArray());
        bytes.AddRange(dst.ToArray());
        if (src.Length == 4) bytes.AddRange([0, 17, (byte)(segment.Length >> 8), (byte)segment.Length]);
        else bytes.AddRange([0, 0, (byte)(segment.Length >> 8), (byte)segment.Length, 0, 0, 0, 17]);
        bytes.AddRange(segment.ToArray());
        return [.. bytes];
    }

    /// <summary>An IPv4 (20-byte header + options) or IPv6 UDP packet, checksums by the reference code.</summary>
    public static byte[] BuildUdp(byte[] src, byte[] dst, ushort srcPort, ushort dstPort, ReadOnlySpan<byte> payload,
        ushort id = 1, uint flowLabel = 0, byte[]? ipv4Options = null, byte protocol = 17)
    {
        bool v6 = src.Length == 16;
        int ipHeader = v6 ? 40 : 20 + (ipv4Options?.Length ?? 0);
        int udpLength = 8 + payload.Length;
        var p = new byte[ipHeader + udpLength];
        Span<byte> udp = p.AsSpan(ipHeader);
        BinaryPrimitives.WriteUInt16BigEndian(udp, srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], dstPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udpLength);
        payload.CopyTo(udp[8..]);
        ushort c = ReferenceChecksum(WithPseudoHeader(src, dst, udp));
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], c == 0 ? (ushort)0xFFFF : c);
        if (v6)
        {
            BinaryPrimitives.WriteUInt32BigEndian(p, 6u << 28 | flowLabel);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)udpLength);
            p[6] = protocol;
            p[7] = 64;
            src.CopyTo(p, 8);
            dst.CopyTo(p, 24);
        }
        else
        {
            p[0] = (byte)(0x40 | ipHeader / 4);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), id);
            p[8] = 64;
            p[9] = protocol;
            src.CopyTo(p, 12);
            dst.CopyTo(p, 16);
            ipv4Options?.CopyTo(p, 20);
            FixIpv4HeaderChecksum(p);
        }
        return p;
    }

    /// <summary>Recomputes the IPv4 header checksum after a test edited the header.</summary>
    public static void FixIpv4HeaderChecksum(Span<byte> packet)
    {
        int hl = (packet[0] & 0xF) * 4;
        packet[10] = packet[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(packet[10..], ReferenceChecksum(packet[..hl]));
    }

    /// <summary>
    /// Splits an IPv4 or IPv6 packet into fragments of at most <paramref name="mtu"/> bytes the way Linux does.
    /// IPv4 keeps the packet's identification; IPv6 uses <paramref name="ipv6Id"/>. IPv4 options are kept in the
    /// first fragment only (as options without the copy bit, e.g. NOP, are).
    /// </summary>
    public static List<byte[]> Fragment(byte[] packet, int mtu, uint ipv6Id = 0x01020304)
    {
        var fragments = new List<byte[]>();
        if (packet[0] >> 4 == 4)
        {
            int hl = (packet[0] & 0xF) * 4;
            ReadOnlySpan<byte> data = packet.AsSpan(hl);
            for (int offset = 0; offset < data.Length;)
            {
                int header = offset == 0 ? hl : 20;
                int size = Math.Min(data.Length - offset, (mtu - header) & ~7);
                bool more = offset + size < data.Length;
                var f = new byte[header + size];
                packet.AsSpan(0, 20).CopyTo(f);
                if (offset == 0) packet.AsSpan(20, hl - 20).CopyTo(f.AsSpan(20));
                f[0] = (byte)(0x40 | header / 4);
                BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(2), (ushort)f.Length);
                BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(6), (ushort)((more ? 0x2000 : 0) | offset / 8));
                data.Slice(offset, size).CopyTo(f.AsSpan(header));
                FixIpv4HeaderChecksum(f);
                fragments.Add(f);
                offset += size;
            }
        }
        else
        {
            ReadOnlySpan<byte> data = packet.AsSpan(40);
            int per = (mtu - 48) & ~7;
            for (int offset = 0; offset < data.Length; offset += per)
            {
                int size = Math.Min(per, data.Length - offset);
                bool more = offset + size < data.Length;
                fragments.Add(Ipv6Fragment(packet, offset, data.Slice(offset, size), more, ipv6Id));
            }
        }
        return fragments;
    }

    /// <summary>One IPv6 fragment of <paramref name="packet"/>: its fixed header, a fragment header, the data.</summary>
    public static byte[] Ipv6Fragment(byte[] packet, int offset, ReadOnlySpan<byte> data, bool more, uint id)
    {
        var f = new byte[48 + data.Length];
        packet.AsSpan(0, 40).CopyTo(f);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(4), (ushort)(8 + data.Length));
        f[6] = 44;
        f[40] = packet[6]; // RFC 8200 §4.5: the fragment header's next header is the original one
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(42), (ushort)(offset | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(44), id);
        data.CopyTo(f.AsSpan(48));
        return f;
    }

    /// <summary>An unpooled buffer holding <paramref name="bytes"/> after <paramref name="headroom"/> bytes.</summary>
    public static PacketBuffer Buffer(ReadOnlySpan<byte> bytes, int headroom = Headroom, int? capacity = null)
    {
        var b = new PacketBuffer(capacity ?? Math.Max(headroom + bytes.Length + 64, Headroom + 64));
        b.SetData(headroom, bytes.Length);
        bytes.CopyTo(b.Data);
        return b;
    }

    /// <summary>A buffer rented from <paramref name="pool"/> holding <paramref name="bytes"/> after the default headroom.</summary>
    public static PacketBuffer Rent(PacketPool pool, ReadOnlySpan<byte> bytes)
    {
        if (!pool.TryRent(out PacketBuffer b)) throw new InvalidOperationException("test pool exhausted");
        b.SetLength(bytes.Length);
        bytes.CopyTo(b.Data);
        return b;
    }

    public static byte[] Payload(int length, int seed)
    {
        var p = new byte[length];
        new Random(seed).NextBytes(p);
        return p;
    }
}
