using System.Buffers.Binary;

namespace VeilTun.Packets;

/// <summary>
/// A view of an IPv6 Fragment extension header (RFC 8200 §4.5): next header (1), reserved (1), fragment offset
/// (13 bits) + reserved (2) + M flag (1), identification (4). Got from <see cref="IpPacket.TryGetFragmentHeader"/>
/// or <see cref="TryRead"/>; allocates nothing.
/// </summary>
internal readonly ref struct Ipv6FragmentHeader
{
    /// <summary>The header's size: always 8 bytes.</summary>
    public const int Length = 8;

    private readonly ReadOnlySpan<byte> _bytes;

    internal Ipv6FragmentHeader(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>
    /// Views the fragment header at the start of <paramref name="header"/>; false when it is shorter than 8 bytes.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> header, out Ipv6FragmentHeader fragment)
    {
        if (header.Length < Length)
        {
            fragment = default;
            return false;
        }
        fragment = new Ipv6FragmentHeader(header[..Length]);
        return true;
    }

    /// <summary>
    /// The header after this one, in the first fragment: the fragmented packet's protocol (<see cref="IpProtocol"/>).
    /// </summary>
    public byte NextHeader => _bytes[0];

    /// <summary>Offset of this fragment's data in the original payload, in bytes (the 13-bit field times 8).</summary>
    public int FragmentOffset => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]) & 0xFFF8;

    /// <summary>The M flag: more fragments follow.</summary>
    public bool MoreFragments => (_bytes[3] & 1) != 0;

    /// <summary>The 32-bit identification shared by the fragments of one packet.</summary>
    public uint Identification => BinaryPrimitives.ReadUInt32BigEndian(_bytes[4..]);

    /// <summary>An atomic fragment (offset 0, M clear): a whole packet with a fragment header, RFC 6946.</summary>
    public bool IsAtomic => FragmentOffset == 0 && !MoreFragments;
}
