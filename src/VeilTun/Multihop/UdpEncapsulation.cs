using System.Buffers.Binary;
using VeilTun.Buffers;
using VeilTun.Packets;
using VeilTun.Tun.Offload;
using VeilTun.Udp;

namespace VeilTun.Multihop;

/// <summary>
/// Multihop's framing between the two devices: the exit device's UDP datagrams become IP packets for the entry
/// device's "TUN" (<see cref="TryWrap"/>), and the IP packets the entry device decrypts become datagrams for the exit
/// device again (<see cref="TryUnwrap"/>). Both work in place: headers are written into the buffer's headroom or
/// trimmed off the front, the payload is never copied.
/// </summary>
/// <remarks>
/// Headers as GotaTun writes them (gotatun/src/udp/channel.rs <c>create_ipv4_payload</c>/<c>create_ipv6_payload</c>,
/// packet/ipv4 <c>Ipv4Header::new_for_length</c>): IPv4 version/IHL 0x45, DSCP/ECN 0, flags 0 (DF clear, so a relay
/// may fragment as it would for a UDP socket's datagram), TTL 64, the caller's identification; IPv6 traffic class 0,
/// the caller's flow label, hop limit 64. The UDP checksum is always computed (mandatory over IPv6, RFC 8200 §8.1;
/// optional but cheap over IPv4, RFC 768), a computed zero sent as 0xFFFF. Stateless and thread-safe; allocates
/// nothing; bad input never throws.
/// </remarks>
internal static class UdpEncapsulation
{
    /// <summary>IPv4 header (20) + UDP header (8): what <see cref="TryWrap"/> prepends for an IPv4 destination.</summary>
    public const int Ipv4Overhead = IpPacket.Ipv4MinHeaderLength + UdpDatagram.HeaderLength;

    /// <summary>IPv6 header (40) + UDP header (8): what <see cref="TryWrap"/> prepends for an IPv6 destination.</summary>
    public const int Ipv6Overhead = IpPacket.Ipv6HeaderLength + UdpDatagram.HeaderLength;

    /// <summary>Largest payload <see cref="TryWrap"/> accepts for IPv4: the total length field's 65535 minus 28.</summary>
    public const int MaxIpv4Payload = 65535 - Ipv4Overhead;

    /// <summary>
    /// Largest payload <see cref="TryWrap"/> accepts for IPv6: the payload length field (which excludes the fixed
    /// 40-byte header) and the UDP length both top out at 65535, so 65535 minus the 8-byte UDP header.
    /// </summary>
    public const int MaxIpv6Payload = 65535 - UdpDatagram.HeaderLength;

    private const byte DefaultTtl = 64; // Linux's default TTL / hop limit, as GotaTun

    /// <summary>
    /// Prepends an IPv4 header (20 bytes) or an IPv6 header (40 bytes) and a UDP header (8 bytes) to
    /// <paramref name="datagram"/>'s data, in its headroom, so that the buffer holds an IP packet carrying the
    /// datagram from <paramref name="source"/> to <paramref name="destination"/>.
    /// </summary>
    /// <param name="datagram">The UDP payload (a WireGuard message); needs <see cref="Ipv4Overhead"/> or
    /// <see cref="Ipv6Overhead"/> bytes of headroom. Ownership stays with the caller.</param>
    /// <param name="source">Source address and port; same family as <paramref name="destination"/>.</param>
    /// <param name="destination">Destination address and port; its family picks IPv4 or IPv6.</param>
    /// <param name="ipv4Id">IPv4 identification (ignored for IPv6). Use a counter: reassembly at the far end keys on
    /// it (GotaTun counts up from 1).</param>
    /// <param name="ipv6FlowLabel">IPv6 flow label, low 20 bits used (ignored for IPv4). GotaTun uses one random
    /// value per bind.</param>
    /// <returns>False, with the buffer unchanged, when the families differ or either endpoint is none, the headroom
    /// is too small, or the payload is longer than <see cref="MaxIpv4Payload"/> / <see cref="MaxIpv6Payload"/>.</returns>
    public static bool TryWrap(PacketBuffer datagram, in NetEndpoint source, in NetEndpoint destination, ushort ipv4Id,
        uint ipv6FlowLabel)
    {
        ArgumentNullException.ThrowIfNull(datagram);
        bool isIPv6;
        if (destination.IsIPv4 && source.IsIPv4) isIPv6 = false;
        else if (destination.IsIPv6 && source.IsIPv6) isIPv6 = true;
        else return false;

        int overhead = isIPv6 ? Ipv6Overhead : Ipv4Overhead;
        int payloadLength = datagram.Length;
        if (payloadLength > (isIPv6 ? MaxIpv6Payload : MaxIpv4Payload) || datagram.Headroom < overhead) return false;

        // The payload is summed before the headers exist; it starts 8 bytes (an even offset) into the UDP header,
        // so its sum adds to the header's (RFC 1071 §2(C)).
        ulong payloadSum = Checksum.Add(datagram.Data);
        int udpLength = payloadLength + UdpDatagram.HeaderLength;
        Span<byte> headers = datagram.Prepend(overhead);
        Span<byte> ip = headers[..(overhead - UdpDatagram.HeaderLength)];
        Span<byte> udp = headers[(overhead - UdpDatagram.HeaderLength)..];
        Span<byte> sourceAddress, destinationAddress;
        if (isIPv6)
        {
            // RFC 8200 §3: version 6, traffic class 0, flow label; payload length; next header; hop limit.
            BinaryPrimitives.WriteUInt32BigEndian(ip, (6u << 28) | (ipv6FlowLabel & 0xFFFFF));
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], (ushort)udpLength);
            ip[6] = IpProtocol.Udp;
            ip[7] = DefaultTtl;
            sourceAddress = ip.Slice(8, 16);
            destinationAddress = ip.Slice(24, 16);
        }
        else
        {
            // RFC 791 §3.1: 0x45, TOS 0, total length, identification, flags/offset 0, TTL, protocol, checksum.
            ip[0] = 0x45;
            ip[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(Ipv4Overhead + payloadLength));
            BinaryPrimitives.WriteUInt16BigEndian(ip[4..], ipv4Id);
            BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0);
            ip[8] = DefaultTtl;
            ip[9] = IpProtocol.Udp;
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
            sourceAddress = ip.Slice(12, 4);
            destinationAddress = ip.Slice(16, 4);
        }
        source.WriteAddress(sourceAddress);
        destination.WriteAddress(destinationAddress);
        if (!isIPv6) BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum.Compute(ip));

        // RFC 768: source port, destination port, length, checksum over pseudo-header + header + data.
        BinaryPrimitives.WriteUInt16BigEndian(udp, source.Port);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], destination.Port);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udpLength);
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], 0);
        ulong sum = Checksum.PseudoHeader(sourceAddress, destinationAddress, IpProtocol.Udp, udpLength);
        sum = Checksum.Add(Checksum.Add(udp, sum), payloadSum);
        ushort checksum = Checksum.Finish(sum);
        // RFC 768: "If the computed checksum is zero, it is transmitted as all ones" (zero means "none" over
        // IPv4 and is invalid over IPv6).
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], checksum == 0 ? (ushort)0xFFFF : checksum);
        return true;
    }

    /// <summary>
    /// Checks that <paramref name="packet"/> holds a complete IPv4 or IPv6 packet carrying UDP and, if so, trims the
    /// buffer to the UDP payload and reports the endpoints.
    /// </summary>
    /// <param name="packet">An IP packet from the entry device (possibly followed by padding, which is ignored).
    /// Ownership stays with the caller. Changed only when the result is <see cref="UnwrapResult.Ok"/>.</param>
    /// <param name="source">The datagram's source address and port (a v4-mapped IPv6 source comes back as IPv4, as
    /// <see cref="NetEndpoint.FromIPv6"/> does); default unless Ok.</param>
    /// <param name="destination">The datagram's destination address and port; default unless Ok.</param>
    /// <remarks>
    /// Checked: version; IPv4 header length, total length and header checksum (RFC 1122 §3.2.1.2); IPv6 payload
    /// length; protocol / next header UDP (an IPv6 fragment header gives <see cref="UnwrapResult.Fragment"/>, any
    /// other extension header <see cref="UnwrapResult.NotUdp"/>); UDP length between 8 and the IP payload length
    /// (bytes after it are dropped, as the kernel trims); the UDP checksum when non-zero over IPv4, and always over
    /// IPv6, where zero is invalid (RFC 8200 §8.1). An IPv4 fragment of another protocol is
    /// <see cref="UnwrapResult.NotUdp"/> (every IPv4 fragment carries the protocol); IPv6 fragments are
    /// <see cref="UnwrapResult.Fragment"/> whatever their next header, since only the first one's counts
    /// (RFC 8200 §4.5). Never throws.
    /// </remarks>
    public static UnwrapResult TryUnwrap(PacketBuffer packet, out NetEndpoint source, out NetEndpoint destination)
    {
        ArgumentNullException.ThrowIfNull(packet);
        source = default;
        destination = default;
        UnwrapResult status = IpHeader.Parse(packet.Data, out IpPacket ip, out IpHeader header);
        if (status != UnwrapResult.Ok) return status;
        if (header.IsFragment)
            return !header.IsIPv6 && header.Protocol != IpProtocol.Udp ? UnwrapResult.NotUdp : UnwrapResult.Fragment;
        if (header.Protocol != IpProtocol.Udp) return UnwrapResult.NotUdp;

        if (!UdpDatagram.TryRead(ip.Payload, out UdpDatagram udp) || !udp.LengthFits) return UnwrapResult.Malformed;
        int udpLength = udp.Length;

        ReadOnlySpan<byte> sourceAddress = ip.Source;
        ReadOnlySpan<byte> destinationAddress = ip.Destination;
        if (udp.Checksum == 0)
        {
            // RFC 768: zero means the sender computed none (IPv4 only); RFC 8200 §8.1: IPv6 receivers discard it.
            if (header.IsIPv6) return UnwrapResult.BadChecksum;
        }
        else
        {
            // Pseudo-header + header + data, checksum included, sums to negative zero when intact.
            ulong sum = Checksum.PseudoHeader(sourceAddress, destinationAddress, IpProtocol.Udp, udpLength);
            if (Checksum.Fold(Checksum.Add(udp.Datagram, sum)) != 0xFFFF) return UnwrapResult.BadChecksum;
        }

        source = header.IsIPv6
            ? NetEndpoint.FromIPv6(sourceAddress, udp.SourcePort)
            : NetEndpoint.FromIPv4(sourceAddress, udp.SourcePort);
        destination = header.IsIPv6
            ? NetEndpoint.FromIPv6(destinationAddress, udp.DestinationPort)
            : NetEndpoint.FromIPv4(destinationAddress, udp.DestinationPort);
        packet.SetLength(header.HeaderLength + udpLength);
        packet.TrimFront(header.HeaderLength + UdpDatagram.HeaderLength);
        return UnwrapResult.Ok;
    }
}
