using System.Buffers.Binary;
using System.Numerics;

namespace VeilTun.Tun.Offload;

/// <summary>
/// The write side of TUN offload (software GRO): merges consecutive same-flow TCP segments, and same-flow UDP
/// datagrams, of a batch of decrypted IP packets into super-packets with a GSO virtio header, so the kernel takes
/// up to 64 KiB per <c>write()</c> instead of one MTU packet. The reverse of <see cref="GsoSplitter"/>; the same
/// rules as wireguard-go's <c>handleGRO</c> (tun/offload_linux.go), which follow the kernel's GRO
/// (net/ipv4/tcp_offload.c <c>tcp_gro_receive</c>, tools/testing/selftests/net/gro.c).
/// </summary>
/// <remarks>
/// <para><b>Building in one buffer.</b> A group's first packet (its head) stays where it is; each following
/// segment's payload is copied once, behind it, in the head's buffer. If that buffer is too small, the batch is
/// asked once (<see cref="IGroBatch.TryEnlarge"/>) to move the head into a large one. The checksum of each appended
/// segment is verified in the same pass that copies it. Packets merged into a head are not listed for writing;
/// their buffers are the caller's to release.</para>
/// <para><b>What is written.</b> Every packet listed in the output gets a virtio header in the 10 bytes before it.
/// A packet left alone gets the all-zero header (GSO_NONE) and its bytes are not changed. A head that absorbed at
/// least one segment gets <c>NEEDS_CSUM</c>, gso_type TCPV4 / TCPV6 / UDP_L4, gso_size = the head's payload
/// length, hdr_len = IP + transport header, csum_start = IP header length, csum_offset 16 (TCP) / 6 (UDP); its
/// IPv4 total length and header checksum, or IPv6 payload length, and its UDP length are updated, PSH is set if
/// the last merged segment had it, and the transport checksum field holds the folded pseudo-header sum (not
/// complemented) for the kernel to finish, as <c>CHECKSUM_PARTIAL</c> expects.</para>
/// <para><b>Packets left alone</b> (written as they are, never a head, never merged):</para>
/// <list type="bullet">
/// <item>not IPv4/IPv6, or shorter than its headers, or whose IPv4 total length / IPv6 payload length does not
/// match the packet length, or longer than 65535 bytes;</item>
/// <item>protocols other than TCP and UDP; IPv6 with extension headers (next header is not TCP/UDP);</item>
/// <item>IPv4 with options (IHL ≠ 5), and IPv4 fragments (MF set or a fragment offset);</item>
/// <item>TCP with any flag but ACK and PSH (SYN, FIN, RST, URG, ECE, CWR) or without ACK, and TCP with no
/// payload (pure ACKs);</item>
/// <item>UDP with no payload, whose UDP length field does not match, and all UDP when
/// <see cref="CoalesceUdp"/> is false (the TUN has no USO).</item>
/// </list>
/// <para><b>When a segment joins the flow's current group</b> (otherwise it starts a new group, which becomes
/// the flow's current one): same addresses, ports and protocol; same IPv4 TOS, TTL and DF/reserved bits, or same
/// IPv6 first word (version, traffic class, flow label) and hop limit; for TCP the same header length and
/// identical options, the same acknowledgment number and a sequence number that continues the group exactly;
/// payload no larger than the head's (gso_size); the group not closed; the result at most 65535 bytes; and, with
/// <see cref="VerifyChecksums"/>, valid TCP/UDP checksums on the head and the segment (as wireguard-go: with
/// NEEDS_CSUM the kernel would otherwise replace a bad checksum with a good one). So an IPv4 UDP datagram with
/// checksum 0 is never merged. A group closes after a segment smaller than gso_size, after a segment with PSH
/// (and a head with PSH takes nothing), when a checksum fails, when a buffer cannot grow, and when any other
/// packet of the same flow (e.g. a FIN or a pure ACK) passes through. Segments are only appended, never
/// prepended or reordered: within one flow the output order is the input order. Packets of different flows may
/// be written in a different relative order (a group is written at its head's position).</para>
/// <para>Not thread-safe: one instance per TUN writer; it keeps its tables between calls and allocates nothing
/// after construction.</para>
/// </remarks>
internal sealed class GroCoalescer
{
    /// <summary>Upper bound on a super-packet: IPv4 total length (used for IPv6 too).</summary>
    public const int MaxSuperPacketLength = 65535;

    private const byte KindTcp4 = 1;
    private const byte KindTcp6 = 2;
    private const byte KindUdp4 = 3;
    private const byte KindUdp6 = 4;

    private readonly Group[] _groups;
    private readonly int[] _nextTail; // gather: the packet merged after this one (head or tail), or -1
    private readonly int[] _slotHead;
    private readonly int[] _slotStamp;
    private int _stamp;

    /// <param name="maxBatchSize">Most packets per <see cref="Coalesce"/> call (wireguard-go: 128).</param>
    public GroCoalescer(int maxBatchSize = 128)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchSize, 1);
        MaxBatchSize = maxBatchSize;
        _groups = new Group[maxBatchSize];
        _nextTail = new int[maxBatchSize];
        int slots = (int)BitOperations.RoundUpToPowerOf2((uint)maxBatchSize * 2);
        _slotHead = new int[slots];
        _slotStamp = new int[slots];
    }

    /// <summary>Most packets per call.</summary>
    public int MaxBatchSize { get; }

    /// <summary>Merge UDP too. Only when the TUN accepted <c>TUN_F_USO4|TUN_F_USO6</c> (Linux 6.2+): older kernels
    /// reject UDP_L4 writes. Default true.</summary>
    public bool CoalesceUdp { get; set; } = true;

    /// <summary>Merge IPv6 UDP too (with <see cref="CoalesceUdp"/>). Default true; the Tunnel turns it off (see
    /// Tunnel.Offload.cs: the Linux 6.18 receive path reordered IPv6 datagrams around USO writes in tests/interop/offload.sh).</summary>
    public bool CoalesceUdp6 { get; set; } = true;

    /// <summary>Verify each merged packet's TCP/UDP checksum first (default true, as wireguard-go).</summary>
    public bool VerifyChecksums { get; set; } = true;

    /// <summary>
    /// Gather instead of copy (requires <see cref="VerifyChecksums"/> false): merged payloads stay in their own
    /// buffers and a head's length stays its own; the writer sends the head followed by each merged packet's payload
    /// (<see cref="FirstMerged"/>, <see cref="NextMerged"/>, <see cref="MergedPayloadOffset"/>) in one gathering
    /// write, so the only copy is the kernel's. The head's headers and virtio header describe the whole super-packet
    /// (<see cref="SuperPacketLength"/>).
    /// </summary>
    public bool Gather { get; set; }

    /// <summary>Gather: the first packet merged into head <paramref name="index"/> by the last call, or -1.</summary>
    public int FirstMerged(int index) => _groups[index].Merged > 0 ? _nextTail[index] : -1;

    /// <summary>Gather: the packet merged after <paramref name="index"/> (a merged packet), or -1.</summary>
    public int NextMerged(int index) => _nextTail[index];

    /// <summary>Gather: where the payload of a packet merged into head <paramref name="head"/> starts in that packet
    /// (its IP and transport header length).</summary>
    public int MergedPayloadOffset(int head) => _groups[head].HeaderLength;

    /// <summary>The length of the super-packet headed by <paramref name="index"/> after the last call, when something
    /// was merged into it (gather: more than the head's own length).</summary>
    public int SuperPacketLength(int index) => _groups[index].Length;

    /// <summary>
    /// Coalesces <paramref name="batch"/> in place and lists, in <paramref name="toWrite"/>, the indices of the
    /// packets to write to the TUN, in order; each then has its virtio header in the 10 bytes before it and its
    /// final length in the batch.
    /// </summary>
    /// <param name="batch">The packets, in the order they were decrypted.</param>
    /// <param name="toWrite">At least <c>batch.Count</c> entries.</param>
    /// <returns>How many entries of <paramref name="toWrite"/> were filled; the batch's other packets were merged.</returns>
    /// <exception cref="ArgumentException">More packets than <see cref="MaxBatchSize"/>, <paramref name="toWrite"/>
    /// too short, or a packet without 10 bytes of headroom or outside its buffer (caller bugs, not bad input).</exception>
    public int Coalesce<TBatch>(ref TBatch batch, Span<int> toWrite)
        where TBatch : IGroBatch, allows ref struct
    {
        int count = batch.Count;
        if (count > MaxBatchSize)
            throw new ArgumentException($"batch of {count} exceeds MaxBatchSize {MaxBatchSize}", nameof(batch));
        if (toWrite.Length < count)
            throw new ArgumentException("toWrite is shorter than the batch", nameof(toWrite));
        if (Gather && VerifyChecksums)
            throw new InvalidOperationException("Gather needs VerifyChecksums off (payloads are not read)");
        NextStamp();

        int written = 0;
        for (int i = 0; i < count; i++)
        {
            Span<byte> buffer = batch.GetBuffer(i, out int offset, out int length);
            if (offset < VirtioNetHeader.Size || length < 0 || offset > buffer.Length - length)
                throw new ArgumentException($"packet {i} needs {VirtioNetHeader.Size} bytes of headroom and must lie inside its buffer", nameof(batch));
            ReadOnlySpan<byte> packet = buffer.Slice(offset, length);
            ref Group group = ref _groups[i];
            group = default;
            _nextTail[i] = -1;
            VirtioNetHeader.None.Write(buffer.Slice(offset - VirtioNetHeader.Size));

            Class cls = Classify(packet, out Segment segment);
            if (cls == Class.Unidentified)
            {
                toWrite[written++] = i;
                continue;
            }
            int slot = FindSlot(segment.Key, out bool found);
            if (cls == Class.PassThrough)
            {
                // Another packet of the flow goes out between: nothing may be appended behind it any more.
                if (found)
                    _groups[_slotHead[slot]].Closed = true;
                toWrite[written++] = i;
                continue;
            }
            bool packetInvalid = false;
            if (found && TryAppend(ref batch, _slotHead[slot], i, packet, segment, out packetInvalid))
                continue;

            group = new Group
            {
                Key = segment.Key,
                HeaderLength = segment.HeaderLength,
                IpHeaderLength = segment.IpHeaderLength,
                GsoSize = segment.PayloadLength,
                Length = length,
                NextSeq = segment.Seq + (uint)segment.PayloadLength,
                Ack = segment.Ack,
                // A head with PSH ends its group; a head whose checksum already failed takes nothing.
                Closed = (segment.TcpFlags & GsoSplitter.TcpPsh) != 0 || packetInvalid,
            };
            _slotHead[slot] = i;
            _slotStamp[slot] = _stamp;
            toWrite[written++] = i;
        }

        for (int k = 0; k < written; k++)
        {
            int index = toWrite[k];
            if (_groups[index].Merged > 0)
                Finish(ref batch, index);
        }
        return written;
    }

    private enum Class
    {
        Unidentified,
        PassThrough,
        Candidate,
    }

    private struct Group
    {
        public FlowKey Key;
        public int IpHeaderLength;
        public int HeaderLength;
        public int GsoSize;
        public int Length;
        public int Merged;
        public uint NextSeq;
        public uint Ack;
        public bool Closed;
        public bool HeadVerified;
        public bool Enlarged;
        public int LastMerged; // gather: the group's last merged packet (valid when Merged > 0)
    }

    private readonly struct FlowKey(UInt128 source, UInt128 destination, uint ports, byte kind) : IEquatable<FlowKey>
    {
        public readonly UInt128 Source = source;
        public readonly UInt128 Destination = destination;
        public readonly uint Ports = ports;
        public readonly byte Kind = kind;

        public bool IsTcp => Kind is KindTcp4 or KindTcp6;

        public bool IsV6 => Kind is KindTcp6 or KindUdp6;

        public bool Equals(FlowKey other) =>
            Source == other.Source && Destination == other.Destination && Ports == other.Ports && Kind == other.Kind;

        public override bool Equals(object? obj) => obj is FlowKey other && Equals(other);

        public override int GetHashCode()
        {
            // Multiplicative mixing of the 64-bit halves; enough to spread a batch's flows over the table.
            ulong h = (ulong)Source ^ (ulong)(Source >> 64) * 0x9E3779B97F4A7C15UL;
            h = (h ^ (ulong)Destination ^ (ulong)(Destination >> 64) * 0xC2B2AE3D27D4EB4FUL) * 0x9E3779B97F4A7C15UL;
            h = (h ^ Ports ^ ((ulong)Kind << 32)) * 0xC2B2AE3D27D4EB4FUL;
            return (int)(h >> 32);
        }
    }

    private struct Segment
    {
        public FlowKey Key;
        public int IpHeaderLength;
        public int HeaderLength;
        public int PayloadLength;
        public uint Seq;
        public uint Ack;
        public byte TcpFlags;
    }

    private void NextStamp()
    {
        if (++_stamp == 0)
        {
            Array.Clear(_slotStamp);
            _stamp = 1;
        }
    }

    private int FindSlot(in FlowKey key, out bool found)
    {
        int mask = _slotHead.Length - 1;
        int s = key.GetHashCode() & mask;
        // At most MaxBatchSize entries in at least twice as many slots: an empty slot is always reached.
        while (_slotStamp[s] == _stamp)
        {
            if (_groups[_slotHead[s]].Key.Equals(key))
            {
                found = true;
                return s;
            }
            s = (s + 1) & mask;
        }
        found = false;
        return s;
    }

    private Class Classify(ReadOnlySpan<byte> p, out Segment s)
    {
        s = default;
        if (p.Length < 20)
            return Class.Unidentified;
        int ipLength;
        byte protocol;
        bool isV6;
        bool candidate = p.Length <= MaxSuperPacketLength;
        UInt128 source, destination;
        switch (p[0] >> 4)
        {
            case 4:
                isV6 = false;
                ipLength = (p[0] & 0x0F) * 4;
                if (ipLength < 20 || p.Length < ipLength || BinaryPrimitives.ReadUInt16BigEndian(p[2..]) != p.Length)
                    return Class.Unidentified;
                // Not the first fragment: no transport header to identify the flow by.
                if ((BinaryPrimitives.ReadUInt16BigEndian(p[6..]) & 0x1FFF) != 0)
                    return Class.Unidentified;
                candidate &= ipLength == 20 && (p[6] & 0x20) == 0; // no options, not a first fragment (MF)
                protocol = p[9];
                source = BinaryPrimitives.ReadUInt32BigEndian(p[12..]);
                destination = BinaryPrimitives.ReadUInt32BigEndian(p[16..]);
                break;
            case 6:
                isV6 = true;
                ipLength = 40;
                if (p.Length < 40 || BinaryPrimitives.ReadUInt16BigEndian(p[4..]) != p.Length - 40)
                    return Class.Unidentified;
                protocol = p[6];
                source = BinaryPrimitives.ReadUInt128BigEndian(p[8..]);
                destination = BinaryPrimitives.ReadUInt128BigEndian(p[24..]);
                break;
            default:
                return Class.Unidentified;
        }

        ReadOnlySpan<byte> t = p[ipLength..];
        byte kind;
        if (protocol == Checksum.ProtocolTcp)
        {
            if (t.Length < 20)
                return Class.Unidentified;
            int tcpLength = (t[12] >> 4) * 4;
            if (tcpLength < 20 || t.Length < tcpLength)
                return Class.Unidentified;
            kind = isV6 ? KindTcp6 : KindTcp4;
            s.HeaderLength = ipLength + tcpLength;
            s.Seq = BinaryPrimitives.ReadUInt32BigEndian(t[4..]);
            s.Ack = BinaryPrimitives.ReadUInt32BigEndian(t[8..]);
            s.TcpFlags = t[GsoSplitter.TcpFlagsOffset];
            candidate &= s.TcpFlags is GsoSplitter.TcpAck or (GsoSplitter.TcpAck | GsoSplitter.TcpPsh);
        }
        else if (protocol == Checksum.ProtocolUdp)
        {
            if (t.Length < 8)
                return Class.Unidentified;
            kind = isV6 ? KindUdp6 : KindUdp4;
            s.HeaderLength = ipLength + 8;
            candidate &= CoalesceUdp && (!isV6 || CoalesceUdp6) && BinaryPrimitives.ReadUInt16BigEndian(t[4..]) == t.Length;
        }
        else
        {
            return Class.Unidentified;
        }
        s.IpHeaderLength = ipLength;
        s.PayloadLength = p.Length - s.HeaderLength;
        s.Key = new FlowKey(source, destination, BinaryPrimitives.ReadUInt32BigEndian(t), kind);
        return candidate && s.PayloadLength > 0 ? Class.Candidate : Class.PassThrough;
    }

    // Appends packet's payload to the group headed by packet `head`, or explains (by returning false) why not.
    private bool TryAppend<TBatch>(ref TBatch batch, int head, int index, ReadOnlySpan<byte> packet, in Segment s, out bool packetInvalid)
        where TBatch : IGroBatch, allows ref struct
    {
        packetInvalid = false;
        ref Group g = ref _groups[head];
        bool isTcp = g.Key.IsTcp;
        if (g.Closed || s.HeaderLength != g.HeaderLength || s.PayloadLength > g.GsoSize)
            return false;
        int newLength = g.Length + s.PayloadLength;
        if (newLength > MaxSuperPacketLength)
            return false;
        if (isTcp && (s.Seq != g.NextSeq || s.Ack != g.Ack))
            return false;

        Span<byte> buffer = batch.GetBuffer(head, out int offset, out _);
        Span<byte> h = buffer[offset..];
        if (!IpHeadersMatch(h, packet, g.Key.IsV6))
            return false;
        // TCP options (timestamps included) must be identical, as the kernel's tcp_gro_receive requires.
        if (isTcp && !packet[(g.IpHeaderLength + 20)..g.HeaderLength].SequenceEqual(h[(g.IpHeaderLength + 20)..g.HeaderLength]))
            return false;

        if (VerifyChecksums && !g.HeadVerified)
        {
            if (!TransportChecksumValid(h[..g.Length], g.IpHeaderLength, g.Key.IsV6, isTcp))
            {
                g.Closed = true;
                return false;
            }
            g.HeadVerified = true;
        }

        if (Gather)
        {
            // Link the packet behind the group's last one; nothing is copied, the head's buffer is not touched.
            if (isTcp && (s.TcpFlags & GsoSplitter.TcpPsh) != 0)
            {
                h[g.IpHeaderLength + GsoSplitter.TcpFlagsOffset] |= GsoSplitter.TcpPsh;
                g.Closed = true;
            }
            if (s.PayloadLength < g.GsoSize)
                g.Closed = true;
            _nextTail[g.Merged == 0 ? head : g.LastMerged] = index;
            g.LastMerged = index;
            g.Length = newLength;
            g.NextSeq += (uint)s.PayloadLength;
            g.Merged++;
            return true;
        }

        if (offset + newLength > buffer.Length)
        {
            if (g.Enlarged || !batch.TryEnlarge(head, MaxSuperPacketLength))
            {
                g.Closed = true;
                return false;
            }
            g.Enlarged = true;
            buffer = batch.GetBuffer(head, out offset, out int movedLength);
            if (offset < VirtioNetHeader.Size || movedLength != g.Length || offset + newLength > buffer.Length)
                throw new InvalidOperationException("IGroBatch.TryEnlarge did not provide the promised buffer");
            h = buffer[offset..];
        }

        ReadOnlySpan<byte> payload = packet[g.HeaderLength..];
        if (!VerifyChecksums)
        {
            payload.CopyTo(h.Slice(g.Length, payload.Length)); // a plain copy: no summing pass at all
        }
        else
        {
            ulong payloadSum = Checksum.CopyAndAdd(payload, h.Slice(g.Length, payload.Length));
            ulong sum = Checksum.Add(PseudoHeader(packet, g.IpHeaderLength, g.Key.IsV6, isTcp), payloadSum);
            sum = Checksum.Add(packet[g.IpHeaderLength..g.HeaderLength], sum);
            if (Checksum.Fold(sum) != 0xFFFF)
            {
                // The copied bytes lie beyond the head's length: nothing to undo.
                packetInvalid = true;
                return false;
            }
        }

        if (isTcp && (s.TcpFlags & GsoSplitter.TcpPsh) != 0)
        {
            // PSH may only be on the last segment of a group (wireguard-go tcpPacketsCanCoalesce).
            h[g.IpHeaderLength + GsoSplitter.TcpFlagsOffset] |= GsoSplitter.TcpPsh;
            g.Closed = true;
        }
        if (s.PayloadLength < g.GsoSize)
            g.Closed = true; // only the last segment may be short
        g.Length = newLength;
        g.NextSeq += (uint)s.PayloadLength;
        g.Merged++;
        batch.SetLength(head, newLength);
        return true;
    }

    private static bool IpHeadersMatch(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, bool isV6)
    {
        if (isV6)
        {
            // Version, traffic class (DSCP + ECN), flow label; hop limit.
            return BinaryPrimitives.ReadUInt32BigEndian(a) == BinaryPrimitives.ReadUInt32BigEndian(b) && a[7] == b[7];
        }
        // TOS (DSCP + ECN), TTL, and the reserved/DF bits (MF is already known clear).
        return a[1] == b[1] && a[8] == b[8] && (a[6] >> 5) == (b[6] >> 5);
    }

    private static ulong PseudoHeader(ReadOnlySpan<byte> packet, int ipLength, bool isV6, bool isTcp) =>
        PseudoHeader(packet, packet.Length, ipLength, isV6, isTcp);

    // `length`: the whole IP packet's length (a gathered super-packet is longer than the head's own bytes).
    private static ulong PseudoHeader(ReadOnlySpan<byte> packet, int length, int ipLength, bool isV6, bool isTcp)
    {
        ulong addresses = isV6
            ? Checksum.AddressSum(packet.Slice(8, 16), packet.Slice(24, 16))
            : Checksum.AddressSum(packet.Slice(12, 4), packet.Slice(16, 4));
        byte protocol = isTcp ? Checksum.ProtocolTcp : Checksum.ProtocolUdp;
        return Checksum.Add(addresses, (ulong)protocol + (uint)(length - ipLength));
    }

    private static bool TransportChecksumValid(ReadOnlySpan<byte> packet, int ipLength, bool isV6, bool isTcp) =>
        Checksum.Fold(Checksum.Add(packet[ipLength..], PseudoHeader(packet, ipLength, isV6, isTcp))) == 0xFFFF;

    private void Finish<TBatch>(ref TBatch batch, int head)
        where TBatch : IGroBatch, allows ref struct
    {
        ref Group g = ref _groups[head];
        Span<byte> buffer = batch.GetBuffer(head, out int offset, out int ownLength);
        Span<byte> p = buffer.Slice(offset, Gather ? ownLength : g.Length); // gather: the head's own bytes only
        int ipLength = g.IpHeaderLength;
        bool isTcp = g.Key.IsTcp;
        bool isV6 = g.Key.IsV6;
        if (isV6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(p[4..], (ushort)(g.Length - 40));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(p[2..], (ushort)g.Length);
            p[10] = 0;
            p[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(p[10..], Checksum.Compute(p[..ipLength]));
        }
        int checksumOffset = isTcp ? GsoSplitter.TcpChecksumOffset : GsoSplitter.UdpChecksumOffset;
        if (!isTcp)
            BinaryPrimitives.WriteUInt16BigEndian(p[(ipLength + 4)..], (ushort)(g.Length - ipLength));
        // CHECKSUM_PARTIAL: the field carries the folded pseudo-header sum; the kernel adds header and payload.
        BinaryPrimitives.WriteUInt16BigEndian(p[(ipLength + checksumOffset)..], Checksum.Fold(PseudoHeader(p, g.Length, ipLength, isV6, isTcp)));

        byte gsoType = isTcp ? (isV6 ? VirtioNetHeader.GsoTcpV6 : VirtioNetHeader.GsoTcpV4) : VirtioNetHeader.GsoUdpL4;
        var header = new VirtioNetHeader(VirtioNetHeader.FlagNeedsChecksum, gsoType, (ushort)g.HeaderLength,
            (ushort)g.GsoSize, (ushort)ipLength, (ushort)checksumOffset);
        header.Write(buffer.Slice(offset - VirtioNetHeader.Size));
    }
}
