namespace VeilTun.Tun.Offload;

/// <summary>Why <see cref="GsoSplitter"/> refused (the rest of) a packet read from the TUN. The packet is dropped
/// and counted; none of these throw.</summary>
internal enum OffloadError
{
    /// <summary>No error.</summary>
    None = 0,

    /// <summary>Shorter than its IP, transport or virtio header says it must be, or no payload to segment.</summary>
    PacketTooShort,

    /// <summary>IP version is neither 4 nor 6.</summary>
    InvalidIpVersion,

    /// <summary><c>gso_type</c> is not NONE, TCPV4, TCPV6 or UDP_L4 (UFO, unknown bits, ECN on UDP).</summary>
    UnsupportedGsoType,

    /// <summary>GSO type and packet disagree: TCPV4 on IPv6, TCPV6 on IPv4, or the IP protocol is not TCP/UDP as
    /// the GSO type says.</summary>
    GsoTypeMismatch,

    /// <summary>A GSO packet without <c>VIRTIO_NET_HDR_F_NEEDS_CSUM</c> (the kernel always sets it with GSO).</summary>
    ChecksumNotPartial,

    /// <summary><c>csum_start</c> is not the IP header length, or start/offset point outside the packet, or the
    /// offset is not the TCP (16) / UDP (6) checksum field.</summary>
    InvalidChecksumLocation,

    /// <summary>TCP data offset below 5 words.</summary>
    InvalidTcpHeaderLength,

    /// <summary><c>gso_size</c> is 0.</summary>
    InvalidGsoSize,

    /// <summary>A segment would exceed 65535 bytes.</summary>
    SegmentTooLong,

    /// <summary>The sink handed out no (or too small a) buffer; segments already committed stay committed.</summary>
    SinkFull,
}
