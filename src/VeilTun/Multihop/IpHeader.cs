using System.Buffers.Binary;
using VeilTun.Tun.Offload;

namespace VeilTun.Multihop;

/// <summary>
/// The fields of an IPv4 or IPv6 header that multihop needs, parsed and length-checked once for both
/// <see cref="UdpEncapsulation"/> and <see cref="FragmentReassembler"/>. Only the fixed IPv6 header and a fragment
/// header right after it are understood; any other next header is reported as the protocol, and the callers treat
/// it as "not UDP".
/// </summary>
internal readonly struct IpHeader
{
    public const int Ipv4MinHeaderLength = 20;
    public const int Ipv4MaxHeaderLength = 60;
    public const int Ipv6HeaderLength = 40;
    public const int Ipv6FragmentHeaderLength = 8;
    public const byte ProtocolUdp = Checksum.ProtocolUdp;

    // RFC 8200 §4.5: Fragment header, next header value 44.
    public const byte NextHeaderFragment = 44;

    // RFC 791 §3.1: flags are bit 0 reserved, bit 1 DF, bit 2 MF; then 13 bits of offset in 8-byte units.
    private const ushort Ipv4MoreFragments = 0x2000;
    private const ushort Ipv4OffsetMask = 0x1FFF;

    private IpHeader(bool isIPv6, int headerLength, int totalLength, byte protocol, bool isFragment, int fragmentOffset,
        bool moreFragments, uint identification)
    {
        IsIPv6 = isIPv6;
        HeaderLength = headerLength;
        TotalLength = totalLength;
        Protocol = protocol;
        IsFragment = isFragment;
        FragmentOffset = fragmentOffset;
        MoreFragments = moreFragments;
        Identification = identification;
    }

    public bool IsIPv6 { get; }

    /// <summary>Bytes before the payload (or fragment data): IPv4 IHL*4; IPv6 40, or 48 with a fragment header.</summary>
    public int HeaderLength { get; }

    /// <summary>The packet's length by its header (IPv4 total length, IPv6 40 + payload length); at most the buffer's.</summary>
    public int TotalLength { get; }

    /// <summary>IPv4 protocol; IPv6 next header of the fixed header, or of the fragment header when there is one.</summary>
    public byte Protocol { get; }

    /// <summary>IPv4: MF set or offset non-zero. IPv6: a fragment header is present (atomic fragments included).</summary>
    public bool IsFragment { get; }

    /// <summary>Fragment offset in bytes (the header field times 8).</summary>
    public int FragmentOffset { get; }

    public bool MoreFragments { get; }

    /// <summary>IPv4 identification (16 bits) or IPv6 fragment identification (32 bits).</summary>
    public uint Identification { get; }

    /// <summary>Data bytes after the header: <see cref="TotalLength"/> - <see cref="HeaderLength"/>.</summary>
    public int PayloadLength => TotalLength - HeaderLength;

    /// <summary>Source address bytes (4 or 16) within <paramref name="packet"/>.</summary>
    public static ReadOnlySpan<byte> Source(ReadOnlySpan<byte> packet, bool isIPv6) =>
        isIPv6 ? packet.Slice(8, 16) : packet.Slice(12, 4);

    /// <summary>Destination address bytes (4 or 16) within <paramref name="packet"/>.</summary>
    public static ReadOnlySpan<byte> Destination(ReadOnlySpan<byte> packet, bool isIPv6) =>
        isIPv6 ? packet.Slice(24, 16) : packet.Slice(16, 4);

    /// <summary>
    /// Parses the header at the start of <paramref name="packet"/>. Returns <see cref="UnwrapResult.Ok"/>,
    /// <see cref="UnwrapResult.Malformed"/> or (IPv4 header checksum) <see cref="UnwrapResult.BadChecksum"/>;
    /// never throws. Bytes after the header's length (WireGuard's padding) are allowed and ignored.
    /// </summary>
    public static UnwrapResult Parse(ReadOnlySpan<byte> packet, out IpHeader header)
    {
        header = default;
        if (packet.IsEmpty) return UnwrapResult.Malformed;
        return (packet[0] >> 4) switch
        {
            4 => ParseIPv4(packet, out header),
            6 => ParseIPv6(packet, out header),
            _ => UnwrapResult.Malformed,
        };
    }

    private static UnwrapResult ParseIPv4(ReadOnlySpan<byte> packet, out IpHeader header)
    {
        header = default;
        if (packet.Length < Ipv4MinHeaderLength) return UnwrapResult.Malformed;
        int headerLength = (packet[0] & 0x0F) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        // RFC 791 §3.1: IHL is at least 5 words; total length covers header and data.
        if (headerLength < Ipv4MinHeaderLength || totalLength < headerLength || totalLength > packet.Length)
            return UnwrapResult.Malformed;
        // RFC 1122 §3.2.1.2: a host MUST verify the header checksum and silently discard a bad one. The sum of a
        // correct header, checksum included, is negative zero (and a version-4 header is never all zeros).
        if (Checksum.Fold(Checksum.Add(packet[..headerLength])) != 0xFFFF) return UnwrapResult.BadChecksum;
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        bool more = (flags & Ipv4MoreFragments) != 0;
        int offset = (flags & Ipv4OffsetMask) * 8;
        header = new IpHeader(false, headerLength, totalLength, packet[9], more || offset != 0, offset, more,
            BinaryPrimitives.ReadUInt16BigEndian(packet[4..]));
        return UnwrapResult.Ok;
    }

    private static UnwrapResult ParseIPv6(ReadOnlySpan<byte> packet, out IpHeader header)
    {
        header = default;
        if (packet.Length < Ipv6HeaderLength) return UnwrapResult.Malformed;
        int totalLength = Ipv6HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        if (totalLength > packet.Length) return UnwrapResult.Malformed;
        byte next = packet[6];
        if (next != NextHeaderFragment)
        {
            header = new IpHeader(true, Ipv6HeaderLength, totalLength, next, false, 0, false, 0);
            return UnwrapResult.Ok;
        }
        // RFC 8200 §4.5: next header (1), reserved (1), offset (13 bits) + res (2) + M (1), identification (4).
        if (totalLength < Ipv6HeaderLength + Ipv6FragmentHeaderLength) return UnwrapResult.Malformed;
        ReadOnlySpan<byte> fragment = packet.Slice(Ipv6HeaderLength, Ipv6FragmentHeaderLength);
        ushort offsetField = BinaryPrimitives.ReadUInt16BigEndian(fragment[2..]);
        header = new IpHeader(true, Ipv6HeaderLength + Ipv6FragmentHeaderLength, totalLength, fragment[0], true,
            offsetField & 0xFFF8, (offsetField & 1) != 0, BinaryPrimitives.ReadUInt32BigEndian(fragment[4..]));
        return UnwrapResult.Ok;
    }
}
