using System.Buffers.Binary;

namespace VeilTun.Packets;

/// <summary>
/// A view of a TCP header at the start of a span (RFC 9293 §3.1): ports, sequence and acknowledgment numbers, data
/// offset, flags, window, checksum. <see cref="TryRead"/> checks that the 20-byte fixed header is there;
/// <see cref="HeaderLengthFits"/> checks the data offset. Allocates nothing.
/// </summary>
internal readonly ref struct TcpSegment
{
    /// <summary>A TCP header without options.</summary>
    public const int MinHeaderLength = 20;

    /// <summary>Offset of the flags byte (CWR ECE URG ACK PSH RST SYN FIN) within the header.</summary>
    public const int FlagsOffset = 13;

    /// <summary>Offset of the checksum field within the header.</summary>
    public const int ChecksumOffset = 16;

    /// <summary>FIN flag bit.</summary>
    public const byte Fin = 0x01;

    /// <summary>SYN flag bit.</summary>
    public const byte Syn = 0x02;

    /// <summary>RST flag bit.</summary>
    public const byte Rst = 0x04;

    /// <summary>PSH flag bit.</summary>
    public const byte Psh = 0x08;

    /// <summary>ACK flag bit.</summary>
    public const byte Ack = 0x10;

    private readonly ReadOnlySpan<byte> _bytes;

    private TcpSegment(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>
    /// Views the segment at the start of <paramref name="segment"/> (an IP packet's payload); false when it is
    /// shorter than the 20-byte fixed header.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> segment, out TcpSegment tcp)
    {
        if (segment.Length < MinHeaderLength)
        {
            tcp = default;
            return false;
        }
        tcp = new TcpSegment(segment);
        return true;
    }

    /// <summary>All the bytes viewed: header, data and whatever follows in the span.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>Source port.</summary>
    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_bytes);

    /// <summary>Destination port.</summary>
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);

    /// <summary>Sequence number.</summary>
    public uint SequenceNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[4..]);

    /// <summary>Acknowledgment number.</summary>
    public uint AcknowledgmentNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[8..]);

    /// <summary>
    /// Header length by the data offset field (× 4, options included); below 20 or past the span when malformed.
    /// </summary>
    public int HeaderLength => (_bytes[12] >> 4) * 4;

    /// <summary>The flags byte (<see cref="Ack"/>, <see cref="Psh"/>, …).</summary>
    public byte Flags => _bytes[FlagsOffset];

    /// <summary>Receive window.</summary>
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_bytes[14..]);

    /// <summary>The checksum field.</summary>
    public ushort Checksum => BinaryPrimitives.ReadUInt16BigEndian(_bytes[ChecksumOffset..]);

    /// <summary><see cref="HeaderLength"/> is at least 20 and within the span.</summary>
    public bool HeaderLengthFits
    {
        get
        {
            int length = HeaderLength;
            return length >= MinHeaderLength && length <= _bytes.Length;
        }
    }
}
