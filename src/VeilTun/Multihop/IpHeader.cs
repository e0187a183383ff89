using VeilTun.Packets;
using VeilTun.Tun.Offload;

namespace VeilTun.Multihop;

/// <summary>
/// What multihop needs of an IPv4 or IPv6 header, checked once for both <see cref="UdpEncapsulation"/> and
/// <see cref="FragmentReassembler"/> and kept as values: the reassembler moves data within the buffer the header
/// was read from, so it must not read the bytes again afterwards. Reading is <see cref="IpPacket"/>'s and
/// <see cref="Ipv6FragmentHeader"/>'s; this adds multihop's verdicts (<see cref="UnwrapResult"/>, the IPv4 header
/// checksum) and folds the two families' fragment fields into one shape. Only the fixed IPv6 header and a fragment
/// header right after it are understood; any other next header is reported as the protocol, and the callers treat
/// it as "not UDP".
/// </summary>
internal readonly struct IpHeader
{
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

    /// <summary>
    /// Parses the header at the start of <paramref name="packet"/>. Returns <see cref="UnwrapResult.Ok"/>,
    /// <see cref="UnwrapResult.Malformed"/> or (IPv4 header checksum) <see cref="UnwrapResult.BadChecksum"/>;
    /// never throws. Bytes after the header's length (WireGuard's padding) are allowed and ignored.
    /// </summary>
    /// <param name="packet">The IP packet.</param>
    /// <param name="ip">The view of <paramref name="packet"/> (addresses); default unless Ok.</param>
    /// <param name="header">The checked fields; default unless Ok.</param>
    public static UnwrapResult Parse(ReadOnlySpan<byte> packet, out IpPacket ip, out IpHeader header)
    {
        header = default;
        // RFC 791 §3.1: IHL is at least 5 words; total length covers header and data. RFC 8200 §3: the payload
        // length counts what follows the fixed header.
        if (!IpPacket.TryRead(packet, out ip) || !ip.HasValidLengths)
        {
            ip = default;
            return UnwrapResult.Malformed;
        }
        if (!ip.IsIPv6)
        {
            // RFC 1122 §3.2.1.2: a host MUST verify the header checksum and silently discard a bad one. The sum of a
            // correct header, checksum included, is negative zero (and a version-4 header is never all zeros).
            if (Checksum.Fold(Checksum.Add(ip.Header)) != 0xFFFF)
            {
                ip = default;
                return UnwrapResult.BadChecksum;
            }
            header = new IpHeader(false, ip.HeaderLength, ip.TotalLength, ip.Protocol, ip.IsFragment, ip.FragmentOffset,
                ip.MoreFragments, ip.Identification);
            return UnwrapResult.Ok;
        }
        if (!ip.IsFragment)
        {
            header = new IpHeader(true, IpPacket.Ipv6HeaderLength, ip.TotalLength, ip.Protocol, false, 0, false, 0);
            return UnwrapResult.Ok;
        }
        if (!ip.TryGetFragmentHeader(out Ipv6FragmentHeader fragment))
        {
            ip = default;
            return UnwrapResult.Malformed; // the payload length leaves no room for the fragment header
        }
        header = new IpHeader(true, IpPacket.Ipv6HeaderLength + Ipv6FragmentHeader.Length, ip.TotalLength,
            fragment.NextHeader, true, fragment.FragmentOffset, fragment.MoreFragments, fragment.Identification);
        return UnwrapResult.Ok;
    }
}
