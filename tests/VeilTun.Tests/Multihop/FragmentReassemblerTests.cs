using System.Buffers.Binary;
using CsCheck;
using VeilTun.Buffers;
using VeilTun.Multihop;
using VeilTun.Udp;
using Xunit;
using static VeilTun.Tests.Multihop.MultihopPackets;

namespace VeilTun.Tests.Multihop;

public sealed class FragmentReassemblerTests
{
    // ---- Known answers ----
    // "0123456789abcdef" from 192.0.2.1:51820 to 198.51.100.7:51821 (IPv4 id 0x1234) and from 2001:db8::1 to
    // 2001:db8::2 (IPv6 fragment id 0xdeadbeef), split by hand into 16 + 8 bytes of UDP segment. Built with a
    // separate Python script; tshark 4 (ip.defragment / ipv6.defragment, checksum checks on) reassembled both pairs
    // into these packets and reported every checksum "[correct]".
    private static readonly byte[] s_v4Whole = Convert.FromHexString(
        "4500002c1234000040117c51c0000201c6336407ca6cca6d00184f7030313233343536373839616263646566");
    private static readonly byte[] s_v4First = Convert.FromHexString( // MF, offset 0, total length 36
        "450000241234200040115c59c0000201c6336407ca6cca6d00184f703031323334353637");
    private static readonly byte[] s_v4Last = Convert.FromHexString( // offset 2 (16 bytes), total length 28
        "4500001c1234000240117c5fc0000201c63364073839616263646566");
    private static readonly byte[] s_v6Whole = Convert.FromHexString(
        "600000000018114020010db800000000000000000000000120010db8000000000000000000000002" +
        "ca6cca6d0018e03730313233343536373839616263646566");
    private static readonly byte[] s_v6First = Convert.FromHexString( // fragment header 11 00 0001 deadbeef
        "6000000000182c4020010db800000000000000000000000120010db8000000000000000000000002" +
        "11000001deadbeef" + "ca6cca6d0018e0373031323334353637");
    private static readonly byte[] s_v6Last = Convert.FromHexString( // fragment header 11 00 0010 deadbeef
        "6000000000102c4020010db800000000000000000000000120010db8000000000000000000000002" +
        "11000010deadbeef" + "3839616263646566");

    private static PacketPool BigPool(int max = 4096) => new(BigBufferSize, max);

    private static FragmentReassembler Reassembler(PacketPool? pool = null, int max = FragmentReassembler.DefaultMaxDatagrams,
        TimeSpan? timeout = null) => new(pool ?? BigPool(), max, timeout);

    // Feeds fragments in order; returns every whole packet that came out (as arrays) and returns their buffers.
    private static List<byte[]> Feed(FragmentReassembler r, PacketPool pool, IEnumerable<byte[]> fragments, TimeSpan now = default)
    {
        var wholes = new List<byte[]>();
        foreach (byte[] f in fragments)
        {
            if (r.TryAdd(Rent(pool, f), now, out PacketBuffer? whole))
            {
                Assert.NotNull(whole);
                wholes.Add(whole.Data.ToArray());
                whole.Return();
            }
            else
            {
                Assert.Null(whole);
            }
        }
        return wholes;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void HandMadeFragmentsReassembleToTheKnownPacket(bool v6, bool lastFirst)
    {
        var pool = BigPool();
        var r = Reassembler(pool);
        byte[] first = v6 ? s_v6First : s_v4First, last = v6 ? s_v6Last : s_v4Last;

        List<byte[]> wholes = Feed(r, pool, lastFirst ? [last, first] : [first, last]);

        Assert.Equal(Convert.ToHexString(v6 ? s_v6Whole : s_v4Whole), Convert.ToHexString(Assert.Single(wholes)));
        Assert.Equal(1, r.Reassembled);
        Assert.Equal(0, r.Count);
        Assert.Equal(0, pool.Outstanding);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReassembledPacketUnwrapsToTheDatagram(bool v6)
    {
        var pool = BigPool();
        var r = Reassembler(pool);
        Assert.Equal(UnwrapResult.Fragment, UdpEncapsulation.TryUnwrap(Buffer(v6 ? s_v6First : s_v4First), out _, out _));
        Assert.False(r.TryAdd(Rent(pool, v6 ? s_v6First : s_v4First), TimeSpan.Zero, out _));
        Assert.True(r.TryAdd(Rent(pool, v6 ? s_v6Last : s_v4Last), TimeSpan.Zero, out PacketBuffer? whole));

        Assert.Equal(UnwrapResult.Ok, UdpEncapsulation.TryUnwrap(whole!, out NetEndpoint from, out NetEndpoint to));

        Assert.Equal("0123456789abcdef"u8.ToArray(), whole!.Data.ToArray());
        Assert.Equal(51820, from.Port);
        Assert.Equal(51821, to.Port);
        whole.Return();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void InOrderFragmentsAreAssembledInTheFirstFragmentsOwnBuffer()
    {
        byte[] packet = BuildUdp(Src4, Dst4, 1, 2, Payload(4000, 1), id: 77);
        List<byte[]> fragments = Fragment(packet, 1500);
        var fragmentPool = BigPool();
        var assemblyPool = BigPool();
        var r = Reassembler(assemblyPool);
        PacketBuffer first = Rent(fragmentPool, fragments[0]);

        Assert.False(r.TryAdd(first, TimeSpan.Zero, out _));
        Assert.False(r.TryAdd(Rent(fragmentPool, fragments[1]), TimeSpan.Zero, out _));
        Assert.True(r.TryAdd(Rent(fragmentPool, fragments[2]), TimeSpan.Zero, out PacketBuffer? whole));

        Assert.Same(first, whole);
        Assert.Equal(packet, whole!.Data.ToArray());
        Assert.Equal(Headroom, whole.Offset); // the header was written where the first fragment's was
        Assert.Equal(0, assemblyPool.Outstanding); // nothing rented
        Assert.Equal(1, fragmentPool.Outstanding);
        whole.Return();
        Assert.Equal(0, fragmentPool.Outstanding);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void SmallFragmentBuffersAreAssembledInAPoolBuffer(bool v6, bool reversed)
    {
        // Fragment buffers with room for one fragment only: the assembly moves to (or starts in) a pool buffer.
        byte[] packet = v6 ? BuildUdp(Src6, Dst6, 1, 2, Payload(3000, 2), flowLabel: 5) : BuildUdp(Src4, Dst4, 1, 2, Payload(3000, 2));
        List<byte[]> fragments = Fragment(packet, 1280);
        if (reversed) fragments.Reverse();
        var smallPool = new PacketPool(Headroom + 1280 + 16, 64);
        var assemblyPool = BigPool();
        var r = Reassembler(assemblyPool);

        List<byte[]> wholes = Feed(r, smallPool, fragments);

        Assert.Equal(packet, Assert.Single(wholes));
        Assert.Equal(0, smallPool.Outstanding);
        Assert.Equal(0, assemblyPool.Outstanding);
    }

    [Fact]
    public void FirstFragmentWithIpv4OptionsArrivingLastGetsItsHeaderBack()
    {
        // IHL 15: 40 bytes of NOP options, which the kernel leaves out of later fragments (copy bit clear). The
        // first fragment comes last, so its 60-byte header has to fit in front of data already placed.
        byte[] options = Enumerable.Repeat((byte)1, 40).ToArray();
        byte[] packet = BuildUdp(Src4, Dst4, 7, 9, Payload(2500, 3), id: 0x4242, ipv4Options: options);
        List<byte[]> fragments = Fragment(packet, 1000);
        Assert.Equal(60, (fragments[0][0] & 0xF) * 4);
        Assert.Equal(20, (fragments[1][0] & 0xF) * 4);
        fragments.Reverse();
        var pool = BigPool();
        var r = Reassembler(pool);

        byte[] whole = Assert.Single(Feed(r, pool, fragments));

        Assert.Equal(packet, whole);
        PacketBuffer b = Buffer(whole);
        Assert.Equal(UnwrapResult.Ok, UdpEncapsulation.TryUnwrap(b, out _, out _));
        Assert.Equal(Payload(2500, 3), b.Data.ToArray());
        Assert.Equal(0, pool.Outstanding);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FragmentsWithoutHeadroomLeaveRoomForTheFirstFragmentsHeader(bool v6)
    {
        // Data at offset 0 of each buffer and the last fragment first: the assembly in its buffer must start far
        // enough in for the header that arrives later (IPv4 with 40 bytes of options: 60; IPv6: 40).
        byte[] packet = v6
            ? BuildUdp(Src6, Dst6, 3, 4, Payload(1500, 30))
            : BuildUdp(Src4, Dst4, 3, 4, Payload(1500, 30), ipv4Options: Enumerable.Repeat((byte)1, 40).ToArray());
        List<byte[]> f = Fragment(packet, 1000);
        f.Reverse();
        var pool = BigPool();
        var r = Reassembler(pool);
        PacketBuffer? whole = null;

        foreach (byte[] fragment in f)
            Assert.Equal(fragment == f[^1], r.TryAdd(Buffer(fragment, headroom: 0, capacity: 4096), TimeSpan.Zero, out whole));

        Assert.Equal(packet, whole!.Data.ToArray());
        Assert.Equal(0, pool.Outstanding); // assembled in the fragment's own buffer
    }

    [Fact]
    public void DatagramsAreKeptApartByAddressesIdAndIpv4Protocol()
    {
        // Same id, different protocol (IPv4 keys on it, RFC 791 §3.2); same id, different source; IPv6 with the
        // same addresses and id as another IPv6 datagram but a different destination.
        byte[] a = BuildUdp(Src4, Dst4, 1, 2, Payload(2000, 10), id: 5);
        byte[] b = BuildUdp(Src4, Dst4, 1, 2, Payload(2000, 11), id: 5, protocol: 6);
        byte[] c = BuildUdp([192, 0, 2, 99], Dst4, 1, 2, Payload(2000, 12), id: 5);
        byte[] d = BuildUdp(Src6, Dst6, 1, 2, Payload(2000, 13));
        byte[] e = BuildUdp(Src6, Src6, 1, 2, Payload(2000, 14));
        List<byte[]>[] parts = [Fragment(a, 700), Fragment(b, 700), Fragment(c, 700), Fragment(d, 700, 9), Fragment(e, 700, 9)];
        var interleaved = new List<byte[]>();
        for (int i = 0; parts.Any(p => i < p.Count); i++)
        {
            foreach (var p in parts)
                if (i < p.Count) interleaved.Add(p[i]);
        }

        var pool = BigPool();
        var r = Reassembler(pool);

        List<byte[]> wholes = Feed(r, pool, interleaved);

        Assert.Equal(5, wholes.Count);
        foreach (byte[] expected in new[] { a, b, c, d, e })
            Assert.Contains(wholes, w => w.AsSpan().SequenceEqual(expected));
        Assert.Equal(0, pool.Outstanding);
    }

    // ---- Drops ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DuplicateFragmentDropsTheWholeDatagram(bool v6)
    {
        // RFC 5722 §4: an overlapping fragment (an exact duplicate included) discards the datagram's fragments;
        // those arriving later start over and cannot complete without the ones that were dropped.
        byte[] packet = v6 ? BuildUdp(Src6, Dst6, 1, 2, Payload(3000, 4)) : BuildUdp(Src4, Dst4, 1, 2, Payload(3000, 4));
        List<byte[]> f = Fragment(packet, 1280);
        Assert.Equal(3, f.Count);
        var pool = BigPool();
        var r = Reassembler(pool);

        List<byte[]> wholes = Feed(r, pool, [f[0], f[1], f[1], f[2]]);

        Assert.Empty(wholes);
        Assert.Equal(1, r.DroppedOverlapping);
        Assert.Equal(1, r.Count); // f[2] alone
        r.Clear();
        Assert.Equal(0, r.Count);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void PartlyOverlappingFragmentDropsTheWholeDatagram()
    {
        byte[] packet = BuildUdp(Src4, Dst4, 1, 2, Payload(3000, 5));
        List<byte[]> f = Fragment(packet, 1500); // data 0..1480, 1480..2960, 2960..3008
        List<byte[]> other = Fragment(packet, 1000); // data 0..976, 976..1952, ...
        var pool = BigPool();
        var r = Reassembler(pool);

        List<byte[]> wholes = Feed(r, pool, [f[0], other[1], f[1], f[2]]);

        Assert.Empty(wholes);
        Assert.Equal(1, r.DroppedOverlapping);
        r.Clear();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void ContradictoryEndsDropTheWholeDatagram()
    {
        byte[] packet = BuildUdp(Src4, Dst4, 1, 2, Payload(3000, 6));
        List<byte[]> f = Fragment(packet, 1500);
        byte[] shortLast = (byte[])f[1].Clone(); // the middle fragment claiming to be the last
        shortLast[6] &= 0xDF;
        FixIpv4HeaderChecksum(shortLast);
        var pool = BigPool();
        var r = Reassembler(pool);

        // Last fragment ending at 3008 and another "last" ending at 2960.
        Assert.Empty(Feed(r, pool, [f[2], shortLast]));
        Assert.Equal(1, r.DroppedOverlapping);

        // A non-last fragment reaching past a known end.
        Assert.Empty(Feed(r, pool, [shortLast, f[2]]));
        Assert.Equal(2, r.DroppedOverlapping);
        r.Clear();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void MoreThanTheFragmentLimitDropsTheDatagram()
    {
        // MTU 28: 8 bytes per fragment, 2108 bytes of UDP segment make 264 fragments.
        byte[] packet = BuildUdp(Src4, Dst4, 1, 2, Payload(2100, 7));
        List<byte[]> f = Fragment(packet, 28);
        Assert.True(f.Count > FragmentReassembler.MaxFragmentsPerDatagram);
        var pool = BigPool();
        var r = Reassembler(pool);

        Assert.Empty(Feed(r, pool, f));

        Assert.Equal(1, r.DroppedOverlapping);
        r.Clear();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void InvalidFragmentsAreDroppedAloneAndTheDatagramStillCompletes()
    {
        byte[] packet = BuildUdp(Src4, Dst4, 1, 2, Payload(2000, 8), id: 3);
        List<byte[]> f = Fragment(packet, 1500);
        byte[] unaligned = (byte[])f[0][..^1].Clone(); // MF set, 1479 bytes of data: not a multiple of 8
        BinaryPrimitives.WriteUInt16BigEndian(unaligned.AsSpan(2), (ushort)unaligned.Length);
        FixIpv4HeaderChecksum(unaligned);
        byte[] pastEnd = (byte[])f[1].Clone(); // offset 8189 units (65512) + 548 bytes > 65515
        BinaryPrimitives.WriteUInt16BigEndian(pastEnd.AsSpan(6), 8189);
        FixIpv4HeaderChecksum(pastEnd);
        byte[] badChecksum = (byte[])f[1].Clone();
        badChecksum[10] ^= 1;
        byte[] empty = (byte[])f[1][..20].Clone(); // no data
        BinaryPrimitives.WriteUInt16BigEndian(empty.AsSpan(2), 20);
        FixIpv4HeaderChecksum(empty);
        var pool = BigPool();
        var r = Reassembler(pool);

        List<byte[]> wholes = Feed(r, pool, [f[0], unaligned, pastEnd, badChecksum, empty, [0x45, 0], [], f[1]]);

        Assert.Equal(packet, Assert.Single(wholes));
        Assert.Equal(6, r.DroppedMalformed);
        Assert.Equal(0, r.DroppedOverlapping);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Ipv6FragmentEndingPast65535IsDropped()
    {
        byte[] packet = BuildUdp(Src6, Dst6, 1, 2, Payload(100, 9));
        var pool = BigPool();
        var r = Reassembler(pool);
        byte[] tooFar = Ipv6Fragment(packet, 65528, packet.AsSpan(40, 16), more: false, id: 1); // ends at 65544
        byte[] fits = Ipv6Fragment(packet, 65528, packet.AsSpan(40, 7), more: false, id: 2); // ends at 65535

        Assert.Empty(Feed(r, pool, [tooFar, fits]));

        Assert.Equal(1, r.DroppedMalformed);
        Assert.Equal(1, r.Count);
        r.Clear();
        Assert.Equal(0, pool.Outstanding);
    }

    // ---- Bounds ----

    [Fact]
    public void TheOldestDatagramIsEvictedBeyondTheLimit()
    {
        byte[][] packets = [.. Enumerable.Range(1, 3).Select(i => BuildUdp(Src4, Dst4, 1, 2, Payload(2000, i), id: (ushort)i))];
        List<byte[]>[] f = [.. packets.Select(p => Fragment(p, 1500))];
        var pool = BigPool();
        var r = Reassembler(pool, max: 2);

        Assert.Empty(Feed(r, pool, [f[0][0], f[1][0], f[2][0]]));
        Assert.Equal(1, r.DroppedEvicted);
        Assert.Equal(2, r.Count);

        List<byte[]> wholes = Feed(r, pool, [f[1][1], f[2][1]]);
        Assert.Equal([packets[1], packets[2]], wholes);

        Assert.Empty(Feed(r, pool, [f[0][1]])); // the evicted datagram's first half is gone
        Assert.Equal(1, r.Count);
        r.Clear();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void DatagramsExpireTimeoutAfterTheirFirstFragment()
    {
        byte[] packet = BuildUdp(Src6, Dst6, 1, 2, Payload(3000, 20));
        List<byte[]> f = Fragment(packet, 1280);
        var pool = BigPool();
        var r = Reassembler(pool, timeout: TimeSpan.FromSeconds(30));

        // Completes just inside the timeout, which is not restarted by later fragments.
        Assert.Empty(Feed(r, pool, [f[0]], TimeSpan.FromSeconds(100)));
        Assert.Empty(Feed(r, pool, [f[1]], TimeSpan.FromSeconds(120)));
        Assert.Equal(packet, Assert.Single(Feed(r, pool, [f[2]], TimeSpan.FromSeconds(129.999))));

        // Does not once 30 s have passed.
        Assert.Empty(Feed(r, pool, [f[0]], TimeSpan.FromSeconds(200)));
        Assert.Empty(Feed(r, pool, [f[1]], TimeSpan.FromSeconds(215)));
        Assert.Empty(Feed(r, pool, [f[2]], TimeSpan.FromSeconds(230)));
        Assert.Equal(1, r.DroppedExpired);
        Assert.Equal(1, r.Count); // f[2], waiting in a datagram of its own

        Assert.Equal(0, r.Expire(TimeSpan.FromSeconds(259)));
        Assert.Equal(1, r.Expire(TimeSpan.FromSeconds(260)));
        Assert.Equal(2, r.DroppedExpired);
        Assert.Equal(0, r.Count);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void AnEmptyPoolDropsTheDatagram()
    {
        // Fragment buffers too small to assemble in, and no pool buffer to move to.
        byte[] packet = BuildUdp(Src4, Dst4, 1, 2, Payload(3000, 21));
        List<byte[]> f = Fragment(packet, 1280);
        var smallPool = new PacketPool(Headroom + 1280 + 16, 64);
        var assemblyPool = new PacketPool(BigBufferSize, 1);
        Assert.True(assemblyPool.TryRent(out PacketBuffer taken));
        var r = Reassembler(assemblyPool);

        Assert.Empty(Feed(r, smallPool, [f[0], f[1]]));

        Assert.Equal(1, r.DroppedNoBuffer);
        Assert.Equal(0, r.Count);
        Assert.Equal(0, smallPool.Outstanding);
        taken.Return();
        Assert.Equal(0, assemblyPool.Outstanding);
    }

    [Fact]
    public void ClearReturnsEveryHeldBuffer()
    {
        var pool = BigPool();
        var r = Reassembler(pool);
        for (int i = 0; i < 10; i++)
            Feed(r, pool, [Fragment(BuildUdp(Src4, Dst4, 1, 2, Payload(2000, i), id: (ushort)i), 1500)[0]]);
        Assert.Equal(10, r.Count);
        Assert.Equal(10, pool.Outstanding);

        r.Clear();

        Assert.Equal(0, r.Count);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void ParameterlessReassemblerUsesItsOwnPool()
    {
        var r = new FragmentReassembler();
        Assert.Equal(FragmentReassembler.DefaultMaxDatagrams, r.MaxDatagrams);
        Assert.Equal(TimeSpan.FromSeconds(30), r.Timeout);
        byte[] packet = BuildUdp(Src4, Dst4, 1, 2, Payload(3000, 22));
        List<byte[]> f = Fragment(packet, 1280);
        f.Reverse();

        // Unpooled fragment buffers with no room to spare: assembled in the reassembler's own pool.
        var wholes = new List<byte[]>();
        foreach (byte[] fragment in f)
        {
            if (r.TryAdd(Buffer(fragment, capacity: Headroom + fragment.Length), TimeSpan.Zero, out PacketBuffer? whole))
            {
                wholes.Add(whole!.Data.ToArray());
                whole.Return();
            }
        }

        Assert.Equal(packet, Assert.Single(wholes));
    }

    // ---- Not fragments ----

    [Fact]
    public void WholePacketsPassStraightThroughTrimmedToTheirLength()
    {
        byte[] packet = BuildUdp(Src4, Dst4, 1, 2, Payload(100, 23));
        var pool = BigPool();
        var r = Reassembler(pool);
        PacketBuffer b = Rent(pool, [.. packet, 0, 0, 0, 0]);

        Assert.True(r.TryAdd(b, TimeSpan.Zero, out PacketBuffer? whole));

        Assert.Same(b, whole);
        Assert.Equal(packet, whole!.Data.ToArray());
        Assert.Equal(0, r.Reassembled);
        whole.Return();
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Ipv6AtomicFragmentIsProcessedOnItsOwn()
    {
        // RFC 6946 §4: offset 0 and M clear is a whole packet with a fragment header, even if a datagram with the
        // same id is in progress.
        byte[] packet = BuildUdp(Src6, Dst6, 1, 2, Payload(300, 24), flowLabel: 0xABCDE);
        byte[] atomic = Ipv6Fragment(packet, 0, packet.AsSpan(40), more: false, id: 7);
        byte[] other = BuildUdp(Src6, Dst6, 1, 2, Payload(3000, 25));
        var pool = BigPool();
        var r = Reassembler(pool);
        Assert.Empty(Feed(r, pool, [Fragment(other, 1280, ipv6Id: 7)[0]]));

        Assert.Equal(UnwrapResult.Fragment, UdpEncapsulation.TryUnwrap(Buffer(atomic), out _, out _));
        Assert.Equal(packet, Assert.Single(Feed(r, pool, [atomic])));

        Assert.Equal(1, r.Count);
        r.Clear();
        Assert.Equal(0, pool.Outstanding);
    }

    // ---- Properties ----

    // A UDP packet (IPv4 or IPv6, payload up to 5000 bytes) fragmented at an MTU up to 1500 and at least what keeps
    // it within MaxFragmentsPerDatagram pieces (8 data bytes per fragment for small packets), with fragment buffers
    // big or just big enough.
    private static readonly Gen<(bool V6, int PayloadLength, int Mtu, int Seed, bool SmallBuffers)> s_case =
        Gen.Select(Gen.Bool, Gen.Int[0, 5000], Gen.Int[0, 1500], Gen.Int, Gen.Bool).Select((v6, length, mtu, seed, small) =>
            (v6, length, Math.Max(mtu, MinimumMtu(v6, length)), seed, small));

    private static int MinimumMtu(bool v6, int payloadLength)
    {
        int perFragment = (8 + payloadLength + FragmentReassembler.MaxFragmentsPerDatagram - 1) / FragmentReassembler.MaxFragmentsPerDatagram;
        return (v6 ? 48 : 20) + Math.Max(8, (perFragment + 7) & ~7);
    }

    private static byte[] Packet(bool v6, int length, int seed) => v6
        ? BuildUdp(Src6, Dst6, 51820, 51821, Payload(length, seed), flowLabel: (uint)seed & 0xFFFFF)
        : BuildUdp(Src4, Dst4, 51820, 51821, Payload(length, seed), id: (ushort)seed);

    private static PacketPool FragmentPool(bool small, int mtu) => small ? new PacketPool(Math.Max(Headroom + mtu + 8, Headroom + 64), 4096) : BigPool();

    [Fact]
    public void ShuffledFragmentsReassembleByteExact()
    {
        s_case.Sample(t =>
        {
            var (v6, length, mtu, seed, small) = t;
            byte[] packet = Packet(v6, length, seed);
            List<byte[]> f = Fragment(packet, mtu);
            if (f.Count < 2) return; // fits the MTU: not a fragment
            var random = new Random(seed);
            random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(f));
            var fragmentPool = FragmentPool(small, mtu);
            var assemblyPool = BigPool();
            var r = Reassembler(assemblyPool);

            List<byte[]> wholes = Feed(r, fragmentPool, f);

            Assert.Equal(packet, Assert.Single(wholes));
            Assert.Equal(0, r.Count);
            Assert.Equal(0, fragmentPool.Outstanding);
            Assert.Equal(0, assemblyPool.Outstanding);
        }, iter: 300);
    }

    [Fact]
    public void DuplicatedOrOverlappingFragmentsGiveTheExactPacketOrNothing()
    {
        // One extra fragment (a duplicate, or one cut at another MTU so its edges fall elsewhere) somewhere in a
        // shuffled stream: whatever comes out is the original packet byte for byte, at most once; if nothing comes
        // out, the datagram was dropped as overlapping.
        Gen.Select(s_case, Gen.Bool, Gen.Int[0, 1000]).Sample((t, duplicate, otherMtu) =>
        {
            var (v6, length, mtu, seed, small) = t;
            byte[] packet = Packet(v6, length, seed);
            List<byte[]> f = Fragment(packet, mtu);
            if (f.Count < 2) return;
            var random = new Random(seed);
            byte[] extra;
            if (duplicate)
            {
                extra = f[random.Next(f.Count)];
            }
            else
            {
                List<byte[]> g = Fragment(packet, Math.Max(otherMtu, MinimumMtu(v6, length)));
                extra = g[random.Next(g.Count)];
                if (g.Count == 1) return;
            }
            f.Insert(random.Next(f.Count + 1), extra);
            random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(f));
            var fragmentPool = FragmentPool(small, Math.Max(mtu, 1000));
            var assemblyPool = BigPool();
            var r = Reassembler(assemblyPool);

            List<byte[]> wholes = Feed(r, fragmentPool, f);

            Assert.True(wholes.Count <= 1);
            foreach (byte[] w in wholes) Assert.Equal(packet, w);
            if (wholes.Count == 0) Assert.True(r.DroppedOverlapping >= 1);
            r.Clear();
            Assert.Equal(0, fragmentPool.Outstanding);
            Assert.Equal(0, assemblyPool.Outstanding);
        }, iter: 300);
    }

    [Fact]
    public void CorruptFragmentsNeverThrowAndEveryBufferIsAccountedFor()
    {
        // Fragments of several datagrams with random bytes changed (headers included: IPv6 fragment headers are not
        // checksummed, so offsets, flags and ids go wild), mixed with random junk, over a small datagram limit.
        Gen.Select(s_case, Gen.Int[0, 40], Gen.Byte.Array[0, 80].Array[0, 5]).Sample((t, corruptions, junk) =>
        {
            var (v6, length, mtu, seed, small) = t;
            var random = new Random(seed);
            var all = new List<byte[]>();
            for (int d = 0; d < 3; d++)
                all.AddRange(Fragment(Packet(v6 ^ (d == 1), length, seed + d), Math.Max(mtu, 56)).Select(x => (byte[])x.Clone()));
            for (int i = 0; i < corruptions && all.Count > 0; i++)
            {
                byte[] victim = all[random.Next(all.Count)];
                int at = random.Next(Math.Min(victim.Length, 60));
                victim[at] ^= (byte)random.Next(1, 256);
            }
            all.AddRange(junk);
            random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(all));
            var fragmentPool = BigPool();
            var assemblyPool = BigPool();
            var r = Reassembler(assemblyPool, max: 2);

            long now = 0;
            foreach (byte[] x in all)
            {
                now += random.Next(0, 8_000);
                if (!r.TryAdd(Rent(fragmentPool, x), TimeSpan.FromMilliseconds(now), out PacketBuffer? whole)) continue;
                UdpEncapsulation.TryUnwrap(whole!, out _, out _);
                whole!.Return();
            }
            Assert.True(r.Count <= 2);
            r.Clear();
            Assert.Equal(0, fragmentPool.Outstanding);
            Assert.Equal(0, assemblyPool.Outstanding);
        }, iter: 300);
    }
}
