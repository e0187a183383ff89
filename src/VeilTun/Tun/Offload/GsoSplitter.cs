using System.Buffers.Binary;

namespace VeilTun.Tun.Offload;

/// <summary>
/// Turns what one read from an <c>IFF_VNET_HDR</c> TUN returns into ordinary IP packets: a TSO (TCPV4/TCPV6) or
/// USO (UDP_L4) super-packet of up to 64 KiB becomes its MTU-sized segments, and a single packet whose checksum
/// the kernel left to us (<c>VIRTIO_NET_HDR_F_NEEDS_CSUM</c>) gets it completed. This is software segmentation,
/// done the way the kernel's would be (net/ipv4/tcp_offload.c <c>tcp_gso_segment</c>, net/ipv4/udp_offload.c,
/// net/ipv4/af_inet.c <c>inet_gso_segment</c>) and as wireguard-go's <c>gsoSplit</c> does it.
/// </summary>
/// <remarks>
/// <para>Per segment i (0-based) of payload <c>p[i*gso_size ..]</c>:</para>
/// <list type="bullet">
/// <item>IPv4: total length = segment length, identification = first + i (mod 2^16), header checksum recomputed;
/// IPv6: payload length = segment length - 40 (extension headers, if any, are copied as they are).</item>
/// <item>TCP: sequence number = first + i * gso_size (mod 2^32); FIN and PSH only on the last segment, CWR only on
/// the first (the <c>VIRTIO_NET_HDR_GSO_ECN</c> case); everything else, options included, copied.</item>
/// <item>UDP: length = UDP header + this datagram's payload.</item>
/// <item>The TCP/UDP checksum is computed in full (pseudo-header + header + payload) while the payload is copied,
/// so every byte is read once. A UDP checksum of 0 is sent as 0xFFFF (RFC 768).</item>
/// <item>A sink in splice mode (<see cref="ISegmentSink.SplicePayload"/>) gets only the headers written; the
/// payload is summed where it lies and left there for the cipher to read (no copy at all).</item>
/// </list>
/// <para>The super-packet's <c>hdr_len</c> is ignored and recomputed from <c>csum_start</c> and the transport
/// header: the kernel may report the whole first packet there on the forwarding path (wireguard-go
/// tun/tun_linux.go, "Don't trust hdr.hdrLen from the kernel"). The pseudo-header uses the IPv6 header's
/// destination even if a routing header is present.</para>
/// <para>Stateless and thread-safe; allocates nothing. Malformed input returns an <see cref="OffloadError"/>,
/// never throws.</para>
/// </remarks>
internal static class GsoSplitter
{
    /// <summary>Largest segment (IPv4 total length, and our bound for IPv6 too).</summary>
    public const int MaxSegmentLength = 65535;

    internal const int TcpChecksumOffset = 16;
    internal const int UdpChecksumOffset = 6;
    internal const int TcpFlagsOffset = 13;
    internal const byte TcpFin = 0x01;
    internal const byte TcpSyn = 0x02;
    internal const byte TcpRst = 0x04;
    internal const byte TcpPsh = 0x08;
    internal const byte TcpAck = 0x10;
    internal const byte TcpUrg = 0x20;
    internal const byte TcpCwr = 0x80;

    /// <summary>
    /// Splits <paramref name="packet"/> (the bytes after the virtio header) as <paramref name="header"/> says,
    /// writing each resulting IP packet straight into a span from <paramref name="sink"/>.
    /// </summary>
    /// <param name="packet">One TUN read minus its first <see cref="VirtioNetHeader.Size"/> bytes. Only read.</param>
    /// <param name="header">The virtio header of that read.</param>
    /// <param name="sink">Hands out one destination per segment; see <see cref="ISegmentSink"/>.</param>
    /// <param name="error"><see cref="OffloadError.None"/>, or why the packet (or, for
    /// <see cref="OffloadError.SinkFull"/>, its remaining segments) was refused.</param>
    /// <returns>Segments committed to <paramref name="sink"/>: 1 for a non-GSO packet; 0 when validation failed
    /// (nothing is written before the whole packet has been validated).</returns>
    public static int Split<TSink>(ReadOnlySpan<byte> packet, in VirtioNetHeader header, ref TSink sink, out OffloadError error)
        where TSink : ISegmentSink, allows ref struct
    {
        if (header.GsoType == VirtioNetHeader.GsoNone)
            return CopyOne(packet, header, ref sink, out error);
        if (!TryParseGso(packet, header, out GsoLayout layout, out error))
            return 0;
        return SplitGso(packet, header.GsoSize, layout, ref sink, out error);
    }

    /// <summary>
    /// For a non-GSO packet: completes the checksum the kernel left partial, in place (no copy), if
    /// <see cref="VirtioNetHeader.FlagNeedsChecksum"/> is set; otherwise does nothing. Use this instead of
    /// <see cref="Split"/> when the packet already sits where it should stay.
    /// </summary>
    /// <returns>False (with the reason) for a GSO header or a checksum location outside the packet.</returns>
    public static bool TryCompleteChecksum(Span<byte> packet, in VirtioNetHeader header, out OffloadError error)
    {
        if (header.GsoType != VirtioNetHeader.GsoNone)
        {
            error = OffloadError.UnsupportedGsoType;
            return false;
        }
        if (!header.NeedsChecksum)
        {
            error = OffloadError.None;
            return true;
        }
        int start = header.ChecksumStart;
        int at = start + header.ChecksumOffset;
        if (at + 2 > packet.Length)
        {
            error = OffloadError.InvalidChecksumLocation;
            return false;
        }
        // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, so summing from csum_start over the field as it
        // is gives the whole sum (net/core/dev.c skb_checksum_help; it also maps 0 to CSUM_MANGLED_0 = 0xFFFF).
        ushort c = Checksum.Finish(Checksum.Add(packet[start..]));
        BinaryPrimitives.WriteUInt16BigEndian(packet[at..], c == 0 ? (ushort)0xFFFF : c);
        error = OffloadError.None;
        return true;
    }

    private static int CopyOne<TSink>(ReadOnlySpan<byte> packet, in VirtioNetHeader header, ref TSink sink, out OffloadError error)
        where TSink : ISegmentSink, allows ref struct
    {
        if (packet.IsEmpty)
        {
            error = OffloadError.PacketTooShort;
            return 0;
        }
        if (header.NeedsChecksum && header.ChecksumStart + header.ChecksumOffset + 2 > packet.Length)
        {
            error = OffloadError.InvalidChecksumLocation;
            return 0;
        }
        Span<byte> destination = sink.NextSegment(packet.Length);
        if (destination.Length < packet.Length)
        {
            error = OffloadError.SinkFull;
            return 0;
        }
        destination = destination[..packet.Length];
        packet.CopyTo(destination);
        TryCompleteChecksum(destination, header, out error);
        sink.Commit(packet.Length);
        return 1;
    }

    // Where things are in a validated GSO super-packet.
    private readonly record struct GsoLayout(bool IsV6, bool IsTcp, int IpHeaderLength, int HeaderLength);

    private static bool TryParseGso(ReadOnlySpan<byte> packet, in VirtioNetHeader header, out GsoLayout layout, out OffloadError error)
    {
        layout = default;
        byte kind = header.GsoKind;
        bool isTcp = kind is VirtioNetHeader.GsoTcpV4 or VirtioNetHeader.GsoTcpV6;
        if (!isTcp && (kind != VirtioNetHeader.GsoUdpL4 || header.GsoType != kind))
        {
            error = OffloadError.UnsupportedGsoType;
            return false;
        }
        if (!header.NeedsChecksum)
        {
            error = OffloadError.ChecksumNotPartial;
            return false;
        }
        if (header.GsoSize == 0)
        {
            error = OffloadError.InvalidGsoSize;
            return false;
        }
        if (packet.IsEmpty)
        {
            error = OffloadError.PacketTooShort;
            return false;
        }
        byte protocol = isTcp ? Checksum.ProtocolTcp : Checksum.ProtocolUdp;
        int ipHeaderLength = header.ChecksumStart;
        bool isV6;
        switch (packet[0] >> 4)
        {
            case 4:
                isV6 = false;
                if (kind == VirtioNetHeader.GsoTcpV6)
                {
                    error = OffloadError.GsoTypeMismatch;
                    return false;
                }
                if (packet.Length < 20)
                {
                    error = OffloadError.PacketTooShort;
                    return false;
                }
                if ((packet[0] & 0x0F) * 4 != ipHeaderLength || ipHeaderLength < 20)
                {
                    error = OffloadError.InvalidChecksumLocation;
                    return false;
                }
                if (packet[9] != protocol)
                {
                    error = OffloadError.GsoTypeMismatch;
                    return false;
                }
                break;
            case 6:
                isV6 = true;
                if (kind == VirtioNetHeader.GsoTcpV4)
                {
                    error = OffloadError.GsoTypeMismatch;
                    return false;
                }
                if (packet.Length < 40)
                {
                    error = OffloadError.PacketTooShort;
                    return false;
                }
                if (ipHeaderLength < 40)
                {
                    error = OffloadError.InvalidChecksumLocation;
                    return false;
                }
                // Without extension headers the next header must be the transport; with them we trust csum_start.
                if (ipHeaderLength == 40 && packet[6] != protocol)
                {
                    error = OffloadError.GsoTypeMismatch;
                    return false;
                }
                break;
            default:
                error = OffloadError.InvalidIpVersion;
                return false;
        }

        int headerLength;
        if (isTcp)
        {
            if (header.ChecksumOffset != TcpChecksumOffset)
            {
                error = OffloadError.InvalidChecksumLocation;
                return false;
            }
            if (packet.Length < ipHeaderLength + 20)
            {
                error = OffloadError.PacketTooShort;
                return false;
            }
            int tcpHeaderLength = (packet[ipHeaderLength + 12] >> 4) * 4;
            if (tcpHeaderLength < 20)
            {
                error = OffloadError.InvalidTcpHeaderLength;
                return false;
            }
            headerLength = ipHeaderLength + tcpHeaderLength;
        }
        else
        {
            if (header.ChecksumOffset != UdpChecksumOffset)
            {
                error = OffloadError.InvalidChecksumLocation;
                return false;
            }
            headerLength = ipHeaderLength + 8;
        }
        if (packet.Length <= headerLength)
        {
            error = OffloadError.PacketTooShort;
            return false;
        }
        if (headerLength + Math.Min(header.GsoSize, packet.Length - headerLength) > MaxSegmentLength)
        {
            error = OffloadError.SegmentTooLong;
            return false;
        }
        layout = new GsoLayout(isV6, isTcp, ipHeaderLength, headerLength);
        error = OffloadError.None;
        return true;
    }

    private static int SplitGso<TSink>(ReadOnlySpan<byte> packet, int gsoSize, GsoLayout layout, ref TSink sink, out OffloadError error)
        where TSink : ISegmentSink, allows ref struct
    {
        int ipLength = layout.IpHeaderLength;
        int headerLength = layout.HeaderLength;
        ReadOnlySpan<byte> headers = packet[..headerLength];
        ulong addressSum = layout.IsV6
            ? Checksum.AddressSum(packet.Slice(8, 16), packet.Slice(24, 16))
            : Checksum.AddressSum(packet.Slice(12, 4), packet.Slice(16, 4));
        byte protocol = layout.IsTcp ? Checksum.ProtocolTcp : Checksum.ProtocolUdp;
        int checksumAt = ipLength + (layout.IsTcp ? TcpChecksumOffset : UdpChecksumOffset);
        ushort firstId = layout.IsV6 ? (ushort)0 : BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        uint firstSeq = layout.IsTcp ? BinaryPrimitives.ReadUInt32BigEndian(packet[(ipLength + 4)..]) : 0;

        int count = 0;
        for (int dataAt = headerLength; dataAt < packet.Length; dataAt += gsoSize, count++)
        {
            int dataLength = Math.Min(gsoSize, packet.Length - dataAt);
            int length = headerLength + dataLength;
            bool last = dataAt + dataLength == packet.Length;
            Span<byte> segment = sink.NextSegment(length);
            if (segment.Length < length)
            {
                error = OffloadError.SinkFull;
                return count;
            }
            segment = segment[..length];
            headers.CopyTo(segment);

            if (layout.IsV6)
            {
                BinaryPrimitives.WriteUInt16BigEndian(segment[4..], (ushort)(length - 40));
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(segment[2..], (ushort)length);
                BinaryPrimitives.WriteUInt16BigEndian(segment[4..], (ushort)(firstId + count));
                segment[10] = 0;
                segment[11] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(segment[10..], Checksum.Compute(segment[..ipLength]));
            }

            Span<byte> transport = segment[ipLength..];
            if (layout.IsTcp)
            {
                BinaryPrimitives.WriteUInt32BigEndian(transport[4..], firstSeq + (uint)count * (uint)gsoSize);
                byte flags = transport[TcpFlagsOffset];
                if (!last)
                    flags &= unchecked((byte)~(TcpFin | TcpPsh));
                if (count > 0)
                    flags &= unchecked((byte)~TcpCwr);
                transport[TcpFlagsOffset] = flags;
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(transport[4..], (ushort)(length - ipLength));
            }
            segment[checksumAt] = 0;
            segment[checksumAt + 1] = 0;

            // Pseudo-header + transport header + payload; the payload starts at an even offset (TCP headers are
            // whole 32-bit words, UDP's is 8 bytes), so the three sums simply add (RFC 1071 §2(C)).
            ulong sum = Checksum.Add(addressSum, (ulong)protocol + (uint)(length - ipLength));
            sum = Checksum.Add(segment[ipLength..headerLength], sum);
            bool splice = sink.SplicePayload;
            sum = splice
                ? Checksum.Add(packet.Slice(dataAt, dataLength), sum)
                : Checksum.CopyAndAdd(packet.Slice(dataAt, dataLength), segment[headerLength..], sum);
            ushort c = Checksum.Finish(sum);
            if (c == 0 && !layout.IsTcp)
                c = 0xFFFF; // RFC 768: 0 would mean "no checksum"
            BinaryPrimitives.WriteUInt16BigEndian(segment[checksumAt..], c);

            if (splice) sink.CommitSpliced(length, dataAt, dataLength);
            else sink.Commit(length);
        }
        error = OffloadError.None;
        return count;
    }
}
