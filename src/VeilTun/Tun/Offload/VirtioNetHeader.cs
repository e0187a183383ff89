using System.Buffers.Binary;

namespace VeilTun.Tun.Offload;

/// <summary>
/// The 10-byte <c>struct virtio_net_hdr</c> (Linux include/uapi/linux/virtio_net.h) that prefixes every packet
/// read from or written to a TUN opened with <c>IFF_VNET_HDR</c> and <c>TUNSETVNETHDRSZ</c> = 10: how the kernel
/// describes a TSO/USO super-packet it wants segmented (reads), and how we describe a coalesced one (writes).
/// </summary>
/// <remarks>
/// Layout: <c>u8 flags; u8 gso_type; u16 hdr_len; u16 gso_size; u16 csum_start; u16 csum_offset</c>, no padding.
/// The 16-bit fields are <c>__virtio16</c>: for a TUN that is host order unless <c>TUNSETVNETLE</c>/<c>BE</c>
/// says otherwise; VeilTun targets little-endian hosts (x86-64, arm64), so they are read and written
/// little-endian. An immutable value; thread-safe.
/// </remarks>
internal readonly record struct VirtioNetHeader
{
    /// <summary>Bytes on the wire: <c>sizeof(struct virtio_net_hdr)</c>.</summary>
    public const int Size = 10;

    /// <summary><c>VIRTIO_NET_HDR_F_NEEDS_CSUM</c>: the checksum from <see cref="ChecksumStart"/> to the end
    /// still has to be computed and stored at <see cref="ChecksumStart"/> + <see cref="ChecksumOffset"/>; the field
    /// holds the pseudo-header sum meanwhile (the kernel's <c>CHECKSUM_PARTIAL</c>).</summary>
    public const byte FlagNeedsChecksum = 1;

    /// <summary><c>VIRTIO_NET_HDR_F_DATA_VALID</c>: the checksum was already verified.</summary>
    public const byte FlagDataValid = 2;

    /// <summary><c>VIRTIO_NET_HDR_GSO_NONE</c>: a single packet.</summary>
    public const byte GsoNone = 0;

    /// <summary><c>VIRTIO_NET_HDR_GSO_TCPV4</c>: TCP over IPv4 super-packet (TSO).</summary>
    public const byte GsoTcpV4 = 1;

    /// <summary><c>VIRTIO_NET_HDR_GSO_UDP</c>: IPv4 UDP fragmentation offload (UFO). Never produced by a TUN with
    /// the offloads wireguard-go enables; rejected by <see cref="GsoSplitter"/>.</summary>
    public const byte GsoUdp = 3;

    /// <summary><c>VIRTIO_NET_HDR_GSO_TCPV6</c>: TCP over IPv6 super-packet (TSO).</summary>
    public const byte GsoTcpV6 = 4;

    /// <summary><c>VIRTIO_NET_HDR_GSO_UDP_L4</c>: UDP segmentation offload (USO), IPv4 or IPv6 (Linux 6.2+).</summary>
    public const byte GsoUdpL4 = 5;

    /// <summary><c>VIRTIO_NET_HDR_GSO_ECN</c>: OR-ed into <see cref="GsoType"/> when the TCP super-packet has CWR
    /// set (only the first segment keeps it).</summary>
    public const byte GsoEcn = 0x80;

    /// <summary>Creates a header; every field as in the kernel struct.</summary>
    public VirtioNetHeader(byte flags, byte gsoType, ushort headerLength, ushort gsoSize, ushort checksumStart,
        ushort checksumOffset)
    {
        Flags = flags;
        GsoType = gsoType;
        HeaderLength = headerLength;
        GsoSize = gsoSize;
        ChecksumStart = checksumStart;
        ChecksumOffset = checksumOffset;
    }

    /// <summary><c>flags</c>: <see cref="FlagNeedsChecksum"/>, <see cref="FlagDataValid"/>.</summary>
    public byte Flags { get; init; }

    /// <summary><c>gso_type</c>: one of the <c>Gso*</c> constants, possibly with <see cref="GsoEcn"/>.</summary>
    public byte GsoType { get; init; }

    /// <summary><c>hdr_len</c>: bytes of IP + transport headers in front of the payload. The kernel sometimes
    /// reports the whole first packet here (forwarding path), so <see cref="GsoSplitter"/> recomputes it.</summary>
    public ushort HeaderLength { get; init; }

    /// <summary><c>gso_size</c>: payload bytes per segment (the MSS for TCP), all but the last segment.</summary>
    public ushort GsoSize { get; init; }

    /// <summary><c>csum_start</c>: where checksumming starts, i.e. the transport header (= IP header length).</summary>
    public ushort ChecksumStart { get; init; }

    /// <summary><c>csum_offset</c>: where, from <see cref="ChecksumStart"/>, the checksum goes (16 TCP, 6 UDP).</summary>
    public ushort ChecksumOffset { get; init; }

    /// <summary><see cref="GsoType"/> without the <see cref="GsoEcn"/> bit.</summary>
    public byte GsoKind => (byte)(GsoType & ~GsoEcn);

    /// <summary>True when <see cref="FlagNeedsChecksum"/> is set.</summary>
    public bool NeedsChecksum => (Flags & FlagNeedsChecksum) != 0;

    /// <summary>The all-zero header: one complete packet, nothing to do (what a plain write carries).</summary>
    public static VirtioNetHeader None => default;

    /// <summary>Reads the first <see cref="Size"/> bytes of <paramref name="source"/>; false if it is shorter.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out VirtioNetHeader header)
    {
        if (source.Length < Size)
        {
            header = default;
            return false;
        }
        header = new VirtioNetHeader(
            source[0],
            source[1],
            BinaryPrimitives.ReadUInt16LittleEndian(source[2..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[6..]),
            BinaryPrimitives.ReadUInt16LittleEndian(source[8..]));
        return true;
    }

    /// <summary>Writes the header to the first <see cref="Size"/> bytes of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <see cref="Size"/>.</exception>
    public void Write(Span<byte> destination)
    {
        if (destination.Length < Size)
            throw new ArgumentException($"need {Size} bytes for a virtio_net_hdr", nameof(destination));
        destination[0] = Flags;
        destination[1] = GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[2..], HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], ChecksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], ChecksumOffset);
    }
}
