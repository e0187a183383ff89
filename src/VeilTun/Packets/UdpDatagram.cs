using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace VeilTun.Packets;

/// <summary>
/// A view of a UDP header and its data at the start of a span (RFC 768): source port, destination port, length,
/// checksum, all big-endian. <see cref="TryRead"/> checks only that the 8-byte header is there;
/// <see cref="LengthFits"/> checks the length field. Allocates nothing; never throws on the bytes it accepted.
/// </summary>
internal readonly ref struct UdpDatagram
{
    /// <summary>The UDP header: 8 bytes.</summary>
    public const int HeaderLength = 8;

    /// <summary>Offset of the length field within the header.</summary>
    public const int LengthOffset = 4;

    /// <summary>Offset of the checksum field within the header.</summary>
    public const int ChecksumOffset = 6;

    private readonly ReadOnlySpan<byte> _bytes;

    private UdpDatagram(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>
    /// Views the datagram at the start of <paramref name="segment"/> (an IP packet's payload); false when it is
    /// shorter than the 8-byte header.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryRead(ReadOnlySpan<byte> segment, out UdpDatagram udp)
    {
        if (segment.Length < HeaderLength)
        {
            udp = default;
            return false;
        }
        udp = new UdpDatagram(segment);
        return true;
    }

    /// <summary>All the bytes viewed: the datagram and whatever follows it in the span.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>Source port.</summary>
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_bytes);

    /// <summary>Destination port.</summary>
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);

    /// <summary>The length field: header and data, as the header states it (<see cref="LengthFits"/>).</summary>
    public int Length => BinaryPrimitives.ReadUInt16BigEndian(_bytes[LengthOffset..]);

    /// <summary>The checksum field; 0 means "none" over IPv4 and is invalid over IPv6 (RFC 8200 §8.1).</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[ChecksumOffset..]);

    /// <summary><see cref="Length"/> covers at least the header and at most the span.</summary>
    public bool LengthFits
    {
        get
        {
            int length = Length;
            return length >= HeaderLength && length <= _bytes.Length;
        }
    }

    /// <summary>
    /// Header and data by the length field (what a checksum covers), or empty unless <see cref="LengthFits"/>.
    /// </summary>
    public ReadOnlySpan<byte> Datagram => LengthFits ? _bytes[..Length] : default;

    /// <summary>The data after the header, by the length field, or empty unless <see cref="LengthFits"/>.</summary>
    public ReadOnlySpan<byte> Payload => LengthFits ? _bytes[HeaderLength..Length] : default;
}
