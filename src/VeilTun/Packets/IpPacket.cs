using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace VeilTun.Packets;

/// <summary>
/// A view of the IPv4 or IPv6 packet at the start of a span: header fields are read from the bytes when asked for,
/// nothing is copied or allocated. <see cref="TryRead"/> checks only what every field needs, the version nibble and
/// that the fixed header (20 or 40 bytes) is there. Length fields are reported as the header states them;
/// <see cref="TotalLengthFits"/> and <see cref="HasValidLengths"/> check them, each as strictly as its users need.
/// Bytes after the header's total length (WireGuard's padding, a trailing datagram) belong to <see cref="Bytes"/>
/// and are ignored by every field.
/// </summary>
/// <remarks>
/// Layouts: RFC 791 §3.1 (IPv4) and RFC 8200 §3 (IPv6). A field one family lacks reads as zero (or false) in the
/// other. Only the fixed IPv6 header is parsed: <see cref="Protocol"/> is its next header, which may name an
/// extension header; <see cref="TryGetFragmentHeader"/> reads a fragment header right after the fixed one. The
/// default value has no bytes and is not a packet: its fields must not be read. Nothing here throws on the bytes of
/// a packet <see cref="TryRead"/> accepted, however malformed.
/// </remarks>
internal readonly ref struct IpPacket
{
    /// <summary>An IPv4 header without options (IHL 5).</summary>
    public const int Ipv4MinHeaderLength = 20;

    /// <summary>The longest IPv4 header (IHL 15: 40 bytes of options).</summary>
    public const int Ipv4MaxHeaderLength = 60;

    /// <summary>The fixed IPv6 header.</summary>
    public const int Ipv6HeaderLength = 40;

    // RFC 791 §3.1: flags are bit 0 reserved, bit 1 DF, bit 2 MF; then 13 bits of offset in 8-byte units.
    private const ushort Ipv4DontFragmentFlag = 0x4000;
    private const ushort Ipv4MoreFragmentsFlag = 0x2000;
    private const ushort Ipv4OffsetMask = 0x1FFF;

    private readonly ReadOnlySpan<byte> _bytes;
    private readonly bool _isIPv6;

    private IpPacket(ReadOnlySpan<byte> bytes, bool isIPv6)
    {
        _bytes = bytes;
        _isIPv6 = isIPv6;
    }

    /// <summary>
    /// Views the packet at the start of <paramref name="packet"/>: true when its version is 4 and at least 20 bytes
    /// are there, or 6 and at least 40. Nothing else is checked. Never throws.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryRead(ReadOnlySpan<byte> packet, out IpPacket ip)
    {
        if (!packet.IsEmpty)
        {
            int version = packet[0] >> 4;
            if (version == 4 && packet.Length >= Ipv4MinHeaderLength)
            {
                ip = new IpPacket(packet, isIPv6: false);
                return true;
            }
            if (version == 6 && packet.Length >= Ipv6HeaderLength)
            {
                ip = new IpPacket(packet, isIPv6: true);
                return true;
            }
        }
        ip = default;
        return false;
    }

    /// <summary>
    /// The version nibble of the first byte (4 or 6 for an IP packet; whatever the high nibble holds otherwise), or 0
    /// for an empty span. Checks no length: for a choice that only depends on the version, such as a TUN packet
    /// information header.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PeekVersion(ReadOnlySpan<byte> packet) => packet.IsEmpty ? 0 : packet[0] >> 4;

    /// <summary>All the bytes viewed: the packet and whatever follows it in the span.</summary>
    public ReadOnlySpan<byte> Bytes
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes;
    }

    /// <summary>4 or 6.</summary>
    public int Version
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? 6 : 4;
    }

    /// <summary>True for IPv6, false for IPv4.</summary>
    public bool IsIPv6
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6;
    }

    /// <summary>
    /// Bytes before the payload as the header states them: IPv4 IHL × 4 (options included; below 20 or past the
    /// span when malformed), IPv6 the fixed 40 (extension headers count as payload).
    /// </summary>
    public int HeaderLength
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? Ipv6HeaderLength : (_bytes[0] & 0x0F) * 4;
    }

    /// <summary>
    /// The packet's length as the header states it: the IPv4 total length, or 40 + the IPv6 payload length.
    /// Not checked against the span (<see cref="TotalLengthFits"/>).
    /// </summary>
    public int TotalLength
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6
            ? Ipv6HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(_bytes[4..])
            : BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);
    }

    /// <summary>
    /// <see cref="TotalLength"/> − <see cref="HeaderLength"/>: the IPv4 data length, or the IPv6 payload length field
    /// (extension headers included). Meaningful when <see cref="HasValidLengths"/>.
    /// </summary>
    public int PayloadLength
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => TotalLength - HeaderLength;
    }

    /// <summary>IPv4 protocol, or the next header of the fixed IPv6 header (<see cref="IpProtocol"/>).</summary>
    public byte Protocol
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? _bytes[6] : _bytes[9];
    }

    /// <summary>IPv4 time to live, or IPv6 hop limit.</summary>
    public byte HopLimit
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? _bytes[7] : _bytes[8];
    }

    /// <summary>The DSCP/ECN byte (RFC 2474, RFC 3168): IPv4 type of service, IPv6 traffic class.</summary>
    public byte TrafficClass
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? (byte)((_bytes[0] << 4) | (_bytes[1] >> 4)) : _bytes[1];
    }

    /// <summary>IPv6 flow label (20 bits); 0 for IPv4.</summary>
    public uint FlowLabel
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? BinaryPrimitives.ReadUInt32BigEndian(_bytes) & 0xFFFFF : 0;
    }

    /// <summary>Source address bytes: 4 (IPv4) or 16 (IPv6), within <see cref="Bytes"/>.</summary>
    public ReadOnlySpan<byte> Source
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? _bytes.Slice(8, 16) : _bytes.Slice(12, 4);
    }

    /// <summary>Destination address bytes: 4 (IPv4) or 16 (IPv6), within <see cref="Bytes"/>.</summary>
    public ReadOnlySpan<byte> Destination
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? _bytes.Slice(24, 16) : _bytes.Slice(16, 4);
    }

    /// <summary>
    /// The check WireGuard makes of a decrypted inner packet before trimming its padding (wireguard-go
    /// RoutineSequentialReceiver, kernel receive.c): <see cref="TotalLength"/> is at most the span's length and, for
    /// IPv4, at least 20. The IPv4 header length is not checked (<see cref="HasValidLengths"/>).
    /// </summary>
    public bool TotalLengthFits
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int total = TotalLength;
            return total <= _bytes.Length && (_isIPv6 || total >= Ipv4MinHeaderLength);
        }
    }

    /// <summary>
    /// Every length field is consistent: IPv4 header length at least 20 (RFC 791 §3.1) and at most the total length,
    /// which is at most the span's length; IPv6 40 + payload length at most the span's length. Then
    /// <see cref="Header"/> and <see cref="Payload"/> are the header's own view of the packet. No checksum is checked.
    /// </summary>
    public bool HasValidLengths
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            int total = TotalLength;
            if (total > _bytes.Length) return false;
            if (_isIPv6) return true;
            int header = HeaderLength;
            return header >= Ipv4MinHeaderLength && header <= total;
        }
    }

    /// <summary>
    /// The header (IPv4 options included; the fixed IPv6 header), or empty unless <see cref="HasValidLengths"/>.
    /// </summary>
    public ReadOnlySpan<byte> Header => HasValidLengths ? _bytes[..HeaderLength] : default;

    /// <summary>
    /// The bytes from the end of <see cref="Header"/> to <see cref="TotalLength"/> (IPv6 extension headers included),
    /// or empty unless <see cref="HasValidLengths"/>.
    /// </summary>
    public ReadOnlySpan<byte> Payload => HasValidLengths ? _bytes[HeaderLength..TotalLength] : default;

    /// <summary>IPv4 identification; 0 for IPv6 (whose identification is in the fragment header).</summary>
    public ushort Identification
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? (ushort)0 : BinaryPrimitives.ReadUInt16BigEndian(_bytes[4..]);
    }

    /// <summary>IPv4 DF (don't fragment) flag; false for IPv6.</summary>
    public bool DontFragment
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !_isIPv6 && (FlagsAndOffset & Ipv4DontFragmentFlag) != 0;
    }

    /// <summary>IPv4 MF (more fragments) flag; false for IPv6 (<see cref="Ipv6FragmentHeader.MoreFragments"/>).</summary>
    public bool MoreFragments
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => !_isIPv6 && (FlagsAndOffset & Ipv4MoreFragmentsFlag) != 0;
    }

    /// <summary>
    /// IPv4 fragment offset in bytes (the 13-bit field times 8); 0 for IPv6
    /// (<see cref="Ipv6FragmentHeader.FragmentOffset"/>).
    /// </summary>
    public int FragmentOffset
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6 ? 0 : (FlagsAndOffset & Ipv4OffsetMask) * 8;
    }

    /// <summary>
    /// The packet is a fragment: IPv4 MF set or offset non-zero; IPv6 the fixed header's next header is a fragment
    /// header (atomic fragments included, RFC 6946).
    /// </summary>
    public bool IsFragment
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _isIPv6
            ? _bytes[6] == IpProtocol.Ipv6Fragment
            : (FlagsAndOffset & (Ipv4MoreFragmentsFlag | Ipv4OffsetMask)) != 0;
    }

    /// <summary>
    /// Reads the IPv6 fragment header that follows the fixed header (next header 44, RFC 8200 §4.5). False for IPv4,
    /// for another next header, or when the 8 bytes are not within both <see cref="TotalLength"/> and the span.
    /// </summary>
    public bool TryGetFragmentHeader(out Ipv6FragmentHeader fragment)
    {
        if (_isIPv6 && _bytes[6] == IpProtocol.Ipv6Fragment
            && Math.Min(TotalLength, _bytes.Length) >= Ipv6HeaderLength + Ipv6FragmentHeader.Length)
        {
            fragment = new Ipv6FragmentHeader(_bytes.Slice(Ipv6HeaderLength, Ipv6FragmentHeader.Length));
            return true;
        }
        fragment = default;
        return false;
    }

    private ushort FlagsAndOffset
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);
    }
}
