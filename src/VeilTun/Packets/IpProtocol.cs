namespace VeilTun.Packets;

/// <summary>
/// IANA protocol numbers: the IPv4 protocol field and the IPv6 next header field (the same registry) for the
/// protocols and extension headers the packet views understand.
/// </summary>
internal static class IpProtocol
{
    /// <summary>TCP (RFC 9293).</summary>
    public const byte Tcp = 6;

    /// <summary>UDP (RFC 768).</summary>
    public const byte Udp = 17;

    /// <summary>IPv6 Fragment extension header (RFC 8200 §4.5).</summary>
    public const byte Ipv6Fragment = 44;
}
