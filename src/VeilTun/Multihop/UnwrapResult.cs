namespace VeilTun.Multihop;

/// <summary>What <see cref="UdpEncapsulation.TryUnwrap"/> made of an IP packet.</summary>
internal enum UnwrapResult
{
    /// <summary>A valid UDP datagram: the buffer now holds its payload, the endpoints are set.</summary>
    Ok,

    /// <summary>
    /// An IP fragment (IPv4 MF set or offset non-zero; IPv6 fragment header present): hand the buffer to a
    /// <see cref="FragmentReassembler"/>, then unwrap what it returns. The buffer is unchanged.
    /// </summary>
    Fragment,

    /// <summary>
    /// A valid IP packet that is not plain UDP: another protocol, or (IPv6) an extension header other than a
    /// fragment header before the UDP header, which multihop never produces. The buffer is unchanged.
    /// </summary>
    NotUdp,

    /// <summary>Bad version, header or UDP length, or a truncated packet. The buffer is unchanged.</summary>
    Malformed,

    /// <summary>IPv4 header checksum or UDP checksum wrong, or a zero UDP checksum over IPv6. The buffer is unchanged.</summary>
    BadChecksum,
}
