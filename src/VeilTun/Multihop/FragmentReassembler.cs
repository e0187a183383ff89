using System.Buffers.Binary;
using VeilTun.Buffers;
using VeilTun.Packets;
using VeilTun.Tun.Offload;

namespace VeilTun.Multihop;

/// <summary>
/// Puts IPv4 and IPv6 fragments back together into whole IP packets, for multihop's return path (the entry relay
/// may fragment the exit relay's datagrams; the entry device hands them over as it decrypts them). Bounded: at most
/// <see cref="MaxDatagrams"/> datagrams in progress, each holding exactly one buffer, dropped after
/// <see cref="Timeout"/>.
/// </summary>
/// <remarks>
/// <para>Rules: fragments belong together by (source, destination, identification, protocol) for IPv4
/// (RFC 791 §3.2) and (source, destination, identification) for IPv6 (RFC 8200 §4.5). Offsets count 8-byte units;
/// every fragment but the last carries a multiple of 8 bytes; the reassembled packet is at most 65535 bytes (IPv4
/// total length, IPv6 payload length). Any overlap, exact duplicates included, drops the whole datagram: RFC 5722
/// §4 requires it for IPv6, and the same is done for IPv4 (Linux has done so since the 2018 FragmentSmack fixes).
/// So do fragments that contradict each other (two different ends, data past the end) and more than
/// <see cref="MaxFragmentsPerDatagram"/> pieces. A datagram's timer starts with its first fragment and is not
/// restarted (Linux <c>ipfrag_time</c>, 30 s).</para>
/// <para>Memory: a datagram's fragments are copied into one assembly buffer as they arrive and their own buffers go
/// back at once. The assembly buffer is the first-arriving fragment's own buffer when its capacity allows (with
/// production buffers of 64 KiB + headroom it does, and in-order arrival needs no move at all), otherwise one rented
/// from the pool; so each fragment's data is copied at most once, and the packet that comes out is that buffer
/// with the first fragment's header (IPv4: MF and offset cleared, total length and header checksum recomputed;
/// IPv6: fragment header removed, payload length and next header fixed), ready for
/// <see cref="UdpEncapsulation.TryUnwrap"/>.</para>
/// <para>Not thread-safe: one caller at a time (the caller locks, or owns the reassembler on one thread).
/// Timestamps must come from one monotonic clock.</para>
/// </remarks>
internal sealed class FragmentReassembler
{
    /// <summary>Default bound on datagrams in progress (GotaTun's <c>MAX_CONCURRENT_FRAGS</c>).</summary>
    public const int DefaultMaxDatagrams = 64;

    /// <summary>
    /// Most pieces one datagram may arrive in. A 65535-byte datagram over IPv4's 576-byte minimum reassembly MTU is
    /// 120 fragments; this leaves room while bounding the per-fragment overlap scan.
    /// </summary>
    public const int MaxFragmentsPerDatagram = 256;

    /// <summary>Capacity of the buffers of the pool made when none is given: 64 KiB + headroom + tailroom.</summary>
    public const int DefaultBufferSize = 65535 + PacketBuffer.DefaultHeadroom + 64;

    /// <summary>Default reassembly timeout: Linux's <c>ipfrag_time</c> (net.ipv4.ipfrag_time = 30 s).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private const int MaxIpLength = 65535;

    private readonly PacketPool _pool;
    private readonly Dictionary<Key, Datagram> _datagrams;
    private readonly Stack<Datagram> _spare = new();
    private Datagram? _oldest; // creation order, oldest first: eviction and expiry take from the front
    private Datagram? _newest;

    /// <summary>Creates a reassembler.</summary>
    /// <param name="pool">Where assembly buffers come from when a fragment's own buffer is too small; null makes a
    /// private pool of <see cref="DefaultBufferSize"/> buffers, at most twice <paramref name="maxDatagrams"/> (the
    /// reassembled packets handed out count against it until returned).</param>
    /// <param name="maxDatagrams">Datagrams in progress at once; a new one beyond it evicts the oldest.</param>
    /// <param name="timeout">How long a datagram may take to complete; default <see cref="DefaultTimeout"/>.</param>
    public FragmentReassembler(PacketPool? pool = null, int maxDatagrams = DefaultMaxDatagrams, TimeSpan? timeout = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDatagrams, 1);
        Timeout = timeout ?? DefaultTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Timeout, TimeSpan.Zero, nameof(timeout));
        MaxDatagrams = maxDatagrams;
        _pool = pool ?? new PacketPool(DefaultBufferSize, 2 * maxDatagrams);
        _datagrams = new Dictionary<Key, Datagram>(maxDatagrams);
    }

    /// <summary>Bound on datagrams in progress.</summary>
    public int MaxDatagrams { get; }

    /// <summary>Time a datagram may take from its first fragment to its last.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>Datagrams in progress (each holds one buffer).</summary>
    public int Count => _datagrams.Count;

    /// <summary>Datagrams completed and handed out.</summary>
    public long Reassembled { get; private set; }

    /// <summary>
    /// Fragments dropped on their own for being invalid: bad IP header, empty, a non-last fragment whose length is
    /// not a multiple of 8, or an end beyond 65535. The datagram they claim to belong to is not touched.
    /// </summary>
    public long DroppedMalformed { get; private set; }

    /// <summary>
    /// Datagrams dropped because fragments overlapped (duplicates included, RFC 5722), contradicted each other (two
    /// last fragments, data past the last one's end, a total over 65535) or were more than
    /// <see cref="MaxFragmentsPerDatagram"/>.
    /// </summary>
    public long DroppedOverlapping { get; private set; }

    /// <summary>Datagrams evicted, oldest first, to make room for a new one beyond <see cref="MaxDatagrams"/>.</summary>
    public long DroppedEvicted { get; private set; }

    /// <summary>Datagrams dropped for not completing within <see cref="Timeout"/>.</summary>
    public long DroppedExpired { get; private set; }

    /// <summary>Datagrams dropped because the pool had no (large enough) buffer to assemble them in.</summary>
    public long DroppedNoBuffer { get; private set; }

    /// <summary>
    /// Adds one fragment. Expired datagrams are dropped first.
    /// </summary>
    /// <param name="fragment">An IP packet (trailing padding allowed). Ownership passes to the reassembler in every
    /// case: it is kept, returned to its pool, or handed back as <paramref name="whole"/>.</param>
    /// <param name="now">The current time of the caller's monotonic clock.</param>
    /// <param name="whole">The reassembled IP packet when this fragment completed its datagram (the caller owns it and
    /// must <see cref="PacketBuffer.Return"/> it); also a packet that was not a fragment at all, passed straight
    /// through (trimmed to its IP length), and an IPv6 atomic fragment (offset 0, M clear) with its fragment header
    /// removed, processed in isolation as RFC 6946 §4 requires. Null otherwise.</param>
    /// <returns>True when <paramref name="whole"/> is set.</returns>
    public bool TryAdd(PacketBuffer fragment, TimeSpan now, out PacketBuffer? whole)
    {
        ArgumentNullException.ThrowIfNull(fragment);
        whole = null;
        Expire(now);

        ReadOnlySpan<byte> data = fragment.Data;
        if (IpHeader.Parse(data, out IpPacket ip, out IpHeader header) != UnwrapResult.Ok)
            return DropMalformed(fragment);
        if (!header.IsFragment)
        {
            fragment.SetLength(header.TotalLength);
            whole = fragment;
            return true;
        }
        if (header.IsIPv6 && header.FragmentOffset == 0 && !header.MoreFragments)
        {
            whole = StripAtomicFragmentHeader(fragment, header);
            return true;
        }

        int start = header.FragmentOffset;
        int length = header.PayloadLength;
        int end = start + length;
        // RFC 791 §3.2 / RFC 8200 §4.5: all but the last fragment carry a multiple of 8 bytes; nothing past 65535
        // (IPv4: total length including the header, at least 20 bytes or this fragment's own if it is the first).
        int maxEnd = header.IsIPv6 ? MaxIpLength : MaxIpLength - (start == 0 ? header.HeaderLength : IpPacket.Ipv4MinHeaderLength);
        if (length == 0 || (header.MoreFragments && (length & 7) != 0) || end > maxEnd)
            return DropMalformed(fragment);

        var key = Key.Of(ip, header);
        if (!_datagrams.TryGetValue(key, out Datagram? datagram))
        {
            datagram = Create(key, header.IsIPv6, now);
        }
        else if (!Consistent(datagram, header, start, end))
        {
            DroppedOverlapping++;
            Kill(datagram);
            fragment.Return();
            return false;
        }

        if (start == 0)
        {
            // Only the first fragment's header survives reassembly (RFC 791 §3.2, RFC 8200 §4.5); keep it aside
            // before the data is moved, which may write over it.
            int keep = header.IsIPv6 ? IpPacket.Ipv6HeaderLength : header.HeaderLength;
            data[..keep].CopyTo(datagram.Header);
            datagram.HeaderLength = keep;
            datagram.NextHeader = header.Protocol;
        }

        bool adopted = false;
        if (datagram.Buffer is null)
        {
            // The first fragment to arrive lends its buffer when the data fits at its place there. The payload
            // starts right after this fragment's header if it is the first one (no move); otherwise far enough in
            // for the longest header the first fragment could bring.
            int payloadStart = fragment.Offset + (start == 0 ? header.HeaderLength : MaxFinalHeader(header.IsIPv6));
            if (payloadStart + end <= fragment.Capacity)
            {
                datagram.Buffer = fragment;
                datagram.PayloadStart = payloadStart;
                adopted = true;
            }
        }
        if (datagram.Buffer is null || datagram.PayloadStart + end > datagram.Buffer.Capacity)
        {
            if (!TryMoveToPoolBuffer(datagram, Math.Max(end, datagram.End)))
            {
                DroppedNoBuffer++;
                Kill(datagram);
                fragment.Return();
                return false;
            }
        }

        PacketBuffer assembly = datagram.Buffer!;
        // Span.CopyTo is memmove: the adopted fragment's own data may move within its buffer.
        fragment.Raw.Slice(fragment.Offset + header.HeaderLength, length).CopyTo(assembly.Raw[(datagram.PayloadStart + start)..]);
        if (!adopted) fragment.Return();

        datagram.Pieces.Add((start, end));
        datagram.Received += length;
        datagram.End = Math.Max(datagram.End, end);
        if (!header.MoreFragments) datagram.HaveLast = true;

        if (!datagram.HaveLast || datagram.Received != datagram.End || datagram.HeaderLength == 0) return false;
        // No overlaps, and the pieces add up to [0, End): complete.
        whole = Finish(datagram);
        return true;
    }

    /// <summary>Drops datagrams whose timeout has passed at <paramref name="now"/>; returns how many.</summary>
    public int Expire(TimeSpan now)
    {
        int n = 0;
        while (_oldest is { } oldest && now >= oldest.Deadline)
        {
            Kill(oldest);
            DroppedExpired++;
            n++;
        }
        return n;
    }

    /// <summary>Drops every datagram in progress and returns its buffer (counters are kept).</summary>
    public void Clear()
    {
        while (_oldest is { } oldest) Kill(oldest);
    }

    private bool DropMalformed(PacketBuffer fragment)
    {
        DroppedMalformed++;
        fragment.Return();
        return false;
    }

    // Room kept in front of the payload when the first fragment has not arrived yet: IPv4's longest header (IHL 15),
    // or IPv6's fixed header (the only unfragmentable part understood here).
    private static int MaxFinalHeader(bool isIPv6) => isIPv6 ? IpPacket.Ipv6HeaderLength : IpPacket.Ipv4MaxHeaderLength;

    private static bool Consistent(Datagram datagram, in IpHeader header, int start, int end)
    {
        if (datagram.Pieces.Count >= MaxFragmentsPerDatagram) return false;
        foreach (var (s, e) in datagram.Pieces)
        {
            if (start < e && s < end) return false; // RFC 5722 §4: overlap, or duplicate
        }
        if (!header.MoreFragments)
        {
            if (datagram.HaveLast || end < datagram.End) return false; // a second end, or data past this end
        }
        else if (datagram.HaveLast && end > datagram.End)
        {
            return false; // data past the end
        }
        if (!header.IsIPv6)
        {
            int headerLength = start == 0 ? header.HeaderLength : datagram.HeaderLength;
            if (headerLength + Math.Max(end, datagram.End) > MaxIpLength) return false;
        }
        return true;
    }

    private Datagram Create(Key key, bool isIPv6, TimeSpan now)
    {
        if (_datagrams.Count >= MaxDatagrams && _oldest is { } oldest)
        {
            Kill(oldest);
            DroppedEvicted++;
        }
        var datagram = _spare.Count > 0 ? _spare.Pop() : new Datagram();
        datagram.Key = key;
        datagram.IsIPv6 = isIPv6;
        datagram.Deadline = now + Timeout;
        datagram.Previous = _newest;
        datagram.Next = null;
        if (_newest is null) _oldest = datagram;
        else _newest.Next = datagram;
        _newest = datagram;
        _datagrams.Add(key, datagram);
        return datagram;
    }

    // Moves the assembly to a pool buffer with room for data up to `end` (the data so far, holes included, is copied).
    private bool TryMoveToPoolBuffer(Datagram datagram, int end)
    {
        if (!_pool.TryRent(out PacketBuffer buffer)) return false;
        int payloadStart = buffer.Offset + MaxFinalHeader(datagram.IsIPv6);
        if (payloadStart + end > buffer.Capacity)
        {
            buffer.Return();
            return false;
        }
        if (datagram.Buffer is { } old)
        {
            old.Raw.Slice(datagram.PayloadStart, datagram.End).CopyTo(buffer.Raw[payloadStart..]);
            old.Return();
        }
        datagram.Buffer = buffer;
        datagram.PayloadStart = payloadStart;
        return true;
    }

    private PacketBuffer Finish(Datagram datagram)
    {
        PacketBuffer buffer = datagram.Buffer!;
        int headerLength = datagram.HeaderLength;
        int first = datagram.PayloadStart - headerLength;
        Span<byte> header = buffer.Raw.Slice(first, headerLength);
        datagram.Header.AsSpan(0, headerLength).CopyTo(header);
        if (datagram.IsIPv6)
        {
            // RFC 8200 §4.5: the reassembled packet's payload length and next header come from the fragments'
            // data length and the first fragment header's next header; the fragment header itself goes.
            BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)datagram.End);
            header[6] = datagram.NextHeader;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)(headerLength + datagram.End));
            BinaryPrimitives.WriteUInt16BigEndian(header[6..], 0); // MF and offset cleared (and DF, as GotaTun)
            BinaryPrimitives.WriteUInt16BigEndian(header[10..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(header[10..], Checksum.Compute(header));
        }
        buffer.SetData(first, headerLength + datagram.End);
        datagram.Buffer = null; // handed out, not returned by Remove
        Remove(datagram);
        Reassembled++;
        return buffer;
    }

    // RFC 6946 §4: an atomic fragment is processed as a whole packet; the 40-byte header moves up over the
    // 8-byte fragment header.
    private static PacketBuffer StripAtomicFragmentHeader(PacketBuffer fragment, in IpHeader header)
    {
        int offset = fragment.Offset;
        Span<byte> raw = fragment.Raw;
        raw.Slice(offset, IpPacket.Ipv6HeaderLength).CopyTo(raw[(offset + Ipv6FragmentHeader.Length)..]);
        offset += Ipv6FragmentHeader.Length;
        BinaryPrimitives.WriteUInt16BigEndian(raw[(offset + 4)..], (ushort)header.PayloadLength);
        raw[offset + 6] = header.Protocol;
        fragment.SetData(offset, IpPacket.Ipv6HeaderLength + header.PayloadLength);
        return fragment;
    }

    private void Kill(Datagram datagram)
    {
        datagram.Buffer?.Return();
        datagram.Buffer = null;
        Remove(datagram);
    }

    private void Remove(Datagram datagram)
    {
        if (datagram.Previous is null) _oldest = datagram.Next;
        else datagram.Previous.Next = datagram.Next;
        if (datagram.Next is null) _newest = datagram.Previous;
        else datagram.Next.Previous = datagram.Previous;
        _datagrams.Remove(datagram.Key);
        datagram.Reset();
        _spare.Push(datagram);
    }

    private readonly record struct Key(UInt128 Source, UInt128 Destination, uint Id, byte Protocol, bool IsIPv6)
    {
        public static Key Of(IpPacket packet, in IpHeader header)
        {
            ReadOnlySpan<byte> source = packet.Source;
            ReadOnlySpan<byte> destination = packet.Destination;
            return header.IsIPv6
                ? new Key(BinaryPrimitives.ReadUInt128BigEndian(source), BinaryPrimitives.ReadUInt128BigEndian(destination),
                    header.Identification, 0, true) // RFC 8200 §4.5: no protocol in the key
                : new Key(BinaryPrimitives.ReadUInt32BigEndian(source), BinaryPrimitives.ReadUInt32BigEndian(destination),
                    header.Identification, header.Protocol, false);
        }
    }

    // One datagram in progress; recycled through _spare so steady-state reassembly allocates nothing.
    private sealed class Datagram
    {
        public readonly byte[] Header = new byte[IpPacket.Ipv4MaxHeaderLength];
        public readonly List<(int Start, int End)> Pieces = new(8);
        public Key Key;
        public bool IsIPv6;
        public TimeSpan Deadline;
        public Datagram? Previous;
        public Datagram? Next;
        public PacketBuffer? Buffer;
        public int PayloadStart; // index in Buffer.Raw of the datagram's payload byte 0
        public int Received; // data bytes received (no overlaps, so coverage)
        public int End; // highest fragment end seen
        public bool HaveLast;
        public int HeaderLength; // first fragment's header length (IPv6: 40); 0 until it arrives
        public byte NextHeader; // IPv6: the first fragment header's next header

        public void Reset()
        {
            Pieces.Clear();
            Key = default;
            Buffer = null;
            Previous = Next = null;
            PayloadStart = Received = End = HeaderLength = 0;
            HaveLast = false;
            NextHeader = 0;
        }
    }
}
