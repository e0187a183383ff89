using System.Buffers.Binary;
using CsCheck;
using VeilTun.Buffers;
using VeilTun.Multihop;
using VeilTun.Udp;
using Xunit;
using static VeilTun.Tests.Multihop.MultihopPackets;

namespace VeilTun.Tests.Multihop;

public sealed class UdpEncapsulationTests
{
    // ---- Known answers ----
    // The vectors below were built field by field with a separate Python script (struct.pack + a word-by-word
    // RFC 1071 sum) and checked with tshark 4 (text2pcap -l 101; tshark -o ip.check_checksum:TRUE
    // -o udp.check_checksum:TRUE), which reported every IPv4 header checksum and UDP checksum "[correct]".
    // Endpoints: 192.0.2.1:51820 → 198.51.100.7:51821 (RFC 5737) and 2001:db8::1 → 2001:db8::2 (RFC 3849).

    // A 32-byte WireGuard keepalive shape: type 4, receiver 0x01020304, counter 0, a 16-byte "tag" a0..af.
    private static readonly byte[] s_keepalive = Convert.FromHexString("04000000010203040000000000000000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");

    // IPv4, id 1, TTL 64, flags 0: header checksum 0x8e74, UDP checksum 0x393c.
    private static readonly byte[] s_v4Keepalive = Convert.FromHexString(
        "4500003c0001000040118e74c0000201c6336407" + "ca6cca6d0028393c" +
        "04000000010203040000000000000000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");

    // IPv6, flow label 0x12345, hop limit 64: UDP checksum 0xca03.
    private static readonly byte[] s_v6Keepalive = Convert.FromHexString(
        "600123450028114020010db800000000000000000000000120010db8000000000000000000000002" + "ca6cca6d0028ca03" +
        "04000000010203040000000000000000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");

    // Odd-length payload "hello" (the last byte is the high byte of a zero-padded word): IPv4 id 0xbeef, header
    // checksum 0xcfa0, UDP checksum 0x3aeb; IPv6 flow label 0, UDP checksum 0xcbb2.
    private static readonly byte[] s_v4Hello = Convert.FromHexString("45000021beef00004011cfa0c0000201c6336407ca6cca6d000d3aeb68656c6c6f");
    private static readonly byte[] s_v6Hello = Convert.FromHexString(
        "60000000000d114020010db800000000000000000000000120010db8000000000000000000000002ca6cca6d000dcbb268656c6c6f");

    // Payloads 01 02 03 04 7a b5 (IPv4, id 7) and 01 02 03 04 0b 7d (IPv6) make the computed UDP checksum 0, which
    // RFC 768 sends as ffff (tshark: "0xffff [correct]").
    private static readonly byte[] s_v4Zero = Convert.FromHexString("450000220007000040118e88c0000201c6336407ca6cca6d000effff010203047ab5");
    private static readonly byte[] s_v6Zero = Convert.FromHexString(
        "60000000000e114020010db800000000000000000000000120010db8000000000000000000000002ca6cca6d000effff010203040b7d");

    private static readonly NetEndpoint s_src4 = NetEndpoint.FromIPv4(Src4, 51820);
    private static readonly NetEndpoint s_dst4 = NetEndpoint.FromIPv4(Dst4, 51821);
    private static readonly NetEndpoint s_src6 = NetEndpoint.FromIPv6(Src6, 51820);
    private static readonly NetEndpoint s_dst6 = NetEndpoint.FromIPv6(Dst6, 51821);

    [Fact]
    public void KnownAnswerVectorsAreSelfConsistentUnderTheReferenceChecksum()
    {
        // Guards the hand-made vectors themselves: every IPv4 header and every pseudo-header + UDP segment sums to
        // negative zero with the test's own RFC 1071 code.
        foreach (byte[] p in new[] { s_v4Keepalive, s_v4Hello, s_v4Zero })
        {
            Assert.Equal(0xFFFF, ReferenceSum(p.AsSpan(0, 20)));
            Assert.Equal(0xFFFF, ReferenceSum(WithPseudoHeader(p[12..16], p[16..20], p.AsSpan(20))));
        }
        foreach (byte[] p in new[] { s_v6Keepalive, s_v6Hello, s_v6Zero })
            Assert.Equal(0xFFFF, ReferenceSum(WithPseudoHeader(p[8..24], p[24..40], p.AsSpan(40))));
    }

    [Theory]
    [InlineData(false, "keepalive")]
    [InlineData(true, "keepalive")]
    [InlineData(false, "hello")]
    [InlineData(true, "hello")]
    [InlineData(false, "zero")]
    [InlineData(true, "zero")]
    public void WrapWritesTheKnownAnswer(bool v6, string which)
    {
        (byte[] payload, byte[] expected, ushort id, uint flow) = (which, v6) switch
        {
            ("keepalive", false) => (s_keepalive, s_v4Keepalive, (ushort)1, 0u),
            ("keepalive", true) => (s_keepalive, s_v6Keepalive, (ushort)0, 0x12345u),
            ("hello", false) => ("hello"u8.ToArray(), s_v4Hello, (ushort)0xbeef, 0u),
            ("hello", true) => ("hello"u8.ToArray(), s_v6Hello, (ushort)0, 0u),
            ("zero", false) => (new byte[] { 1, 2, 3, 4, 0x7a, 0xb5 }, s_v4Zero, (ushort)7, 0u),
            _ => (new byte[] { 1, 2, 3, 4, 0x0b, 0x7d }, s_v6Zero, (ushort)0, 0u),
        };
        PacketBuffer b = Buffer(payload);
        int payloadOffset = b.Offset;

        Assert.True(UdpEncapsulation.TryWrap(b, v6 ? s_src6 : s_src4, v6 ? s_dst6 : s_dst4, id, flow));

        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(b.Data));
        Assert.Equal(payloadOffset - (v6 ? UdpEncapsulation.Ipv6Overhead : UdpEncapsulation.Ipv4Overhead), b.Offset);
    }

    [Fact]
    public void WrapUsesOnlyTheLow20BitsOfTheFlowLabel()
    {
        PacketBuffer b = Buffer(s_keepalive);
        Assert.True(UdpEncapsulation.TryWrap(b, s_src6, s_dst6, 0, 0xFFF12345));
        Assert.Equal(Convert.ToHexString(s_v6Keepalive), Convert.ToHexString(b.Data));
    }

    [Fact]
    public void WrapLeavesThePayloadWhereItIs()
    {
        PacketBuffer b = Buffer(s_keepalive);
        int payloadAt = b.Offset;
        Assert.True(UdpEncapsulation.TryWrap(b, s_src4, s_dst4, 1, 0));
        Assert.Equal(s_keepalive, b.Raw.Slice(payloadAt, s_keepalive.Length).ToArray());
        Assert.Equal(payloadAt + s_keepalive.Length, b.Offset + b.Length);
    }

    [Theory]
    [InlineData(false, 27)]
    [InlineData(true, 47)]
    public void WrapRefusesTooLittleHeadroomAndChangesNothing(bool v6, int headroom)
    {
        PacketBuffer b = Buffer(s_keepalive, headroom);
        Assert.False(UdpEncapsulation.TryWrap(b, v6 ? s_src6 : s_src4, v6 ? s_dst6 : s_dst4, 1, 0));
        Assert.Equal(headroom, b.Offset);
        Assert.Equal(s_keepalive, b.Data.ToArray());

        PacketBuffer enough = Buffer(s_keepalive, headroom + 1);
        Assert.True(UdpEncapsulation.TryWrap(enough, v6 ? s_src6 : s_src4, v6 ? s_dst6 : s_dst4, 1, 0));
        Assert.Equal(0, enough.Offset);
    }

    [Fact]
    public void WrapRefusesMixedFamiliesAndMissingEndpoints()
    {
        PacketBuffer b = Buffer(s_keepalive);
        Assert.False(UdpEncapsulation.TryWrap(b, s_src4, s_dst6, 1, 0));
        Assert.False(UdpEncapsulation.TryWrap(b, s_src6, s_dst4, 1, 0));
        Assert.False(UdpEncapsulation.TryWrap(b, default, s_dst4, 1, 0));
        Assert.False(UdpEncapsulation.TryWrap(b, s_src6, default, 1, 0));
        Assert.Equal(Headroom, b.Offset);
        Assert.Equal(s_keepalive, b.Data.ToArray());
    }

    [Theory]
    [InlineData(false, 65507, true)] // IPv4 total length 65535
    [InlineData(false, 65508, false)]
    [InlineData(true, 65527, true)] // IPv6 payload length (= UDP length) 65535
    [InlineData(true, 65528, false)]
    public void WrapRefusesPayloadsTheLengthFieldsCannotHold(bool v6, int length, bool fits)
    {
        var b = new PacketBuffer(Headroom + 65535 + 64);
        b.SetData(Headroom, length);
        Assert.Equal(fits, UdpEncapsulation.TryWrap(b, v6 ? s_src6 : s_src4, v6 ? s_dst6 : s_dst4, 1, 0));
        if (!fits) return;
        Assert.Equal(v6 ? 40 + 65535 : 65535, b.Length);
        Assert.Equal(UnwrapResult.Ok, UdpEncapsulation.TryUnwrap(b, out _, out _));
        Assert.Equal(length, b.Length);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void UnwrapReadsTheKnownAnswer(bool v6)
    {
        // With WireGuard's padding behind the packet, which the IP length excludes.
        byte[] packet = [.. v6 ? s_v6Keepalive : s_v4Keepalive, 0, 0, 0, 0, 0, 0, 0, 0];
        PacketBuffer b = Buffer(packet);

        Assert.Equal(UnwrapResult.Ok, UdpEncapsulation.TryUnwrap(b, out NetEndpoint from, out NetEndpoint to));

        Assert.Equal(s_keepalive, b.Data.ToArray());
        Assert.Equal(Headroom + (v6 ? 48 : 28), b.Offset);
        Assert.Equal(v6 ? s_src6 : s_src4, from);
        Assert.Equal(v6 ? s_dst6 : s_dst4, to);
    }

    [Fact]
    public void UnwrapAcceptsTheWikipediaIpv4HeaderWithoutUdpChecksum()
    {
        // The IPv4 header of Wikipedia's "Internet checksum" example, 4500 0073 0000 4000 4011 b861 c0a8 0001
        // c0a8 00c7 (DF set, 115 bytes, 192.168.0.1 → 192.168.0.199), carrying a 95-byte UDP datagram whose
        // checksum is 0: "not computed", allowed over IPv4 (RFC 768).
        byte[] packet = new byte[115];
        Convert.FromHexString("450000730000400040110000c0a80001c0a800c7").CopyTo(packet, 0);
        packet[10] = 0xb8;
        packet[11] = 0x61;
        Convert.FromHexString("3039d431005f0000").CopyTo(packet, 20); // 12345 → 54321, length 95, checksum 0
        for (int i = 28; i < packet.Length; i++) packet[i] = (byte)i;
        PacketBuffer b = Buffer(packet);

        Assert.Equal(UnwrapResult.Ok, UdpEncapsulation.TryUnwrap(b, out NetEndpoint from, out NetEndpoint to));

        Assert.Equal(packet[28..], b.Data.ToArray());
        Assert.Equal("192.168.0.1:12345", from.ToString());
        Assert.Equal("192.168.0.199:54321", to.ToString());
    }

    [Fact]
    public void UnwrapSkipsIpv4OptionsAndTrimsToTheUdpLength()
    {
        // IHL 7 (two option words of NOPs), and an IP payload 5 bytes longer than the UDP length: the kernel
        // trims to the UDP length (udp_rcv: pskb_trim_rcsum), and so does TryUnwrap.
        byte[] payload = Payload(100, 1);
        byte[] packet = BuildUdp(Src4, Dst4, 1000, 2000, payload, ipv4Options: [1, 1, 1, 1, 1, 1, 1, 1]);
        byte[] longer = [.. packet, 9, 9, 9, 9, 9];
        BinaryPrimitives.WriteUInt16BigEndian(longer.AsSpan(2), (ushort)longer.Length);
        FixIpv4HeaderChecksum(longer);
        PacketBuffer b = Buffer(longer);

        Assert.Equal(UnwrapResult.Ok, UdpEncapsulation.TryUnwrap(b, out NetEndpoint from, out NetEndpoint to));

        Assert.Equal(payload, b.Data.ToArray());
        Assert.Equal(NetEndpoint.FromIPv4(Src4, 1000), from);
        Assert.Equal(NetEndpoint.FromIPv4(Dst4, 2000), to);
    }

    public static TheoryData<string, string, object> BadPackets()
    {
        string v4 = Convert.ToHexString(s_v4Keepalive), v6 = Convert.ToHexString(s_v6Keepalive);
        return new()
        {
            { "empty", "", UnwrapResult.Malformed },
            { "v4 shorter than a header", v4[..38], UnwrapResult.Malformed },
            { "v6 shorter than a header", v6[..78], UnwrapResult.Malformed },
            { "version 5", "5" + v4[1..], UnwrapResult.Malformed },
            { "version 0", "0" + v4[1..], UnwrapResult.Malformed },
            { "IHL 4", Fix4(v4, p => p[0] = 0x44), UnwrapResult.Malformed },
            { "IHL beyond the packet", Fix4(v4[..48], p => { p[0] = 0x4F; p[3] = 24; }), UnwrapResult.Malformed },
            { "v4 total length past the buffer", Fix4(v4, p => p[3]++), UnwrapResult.Malformed },
            { "v4 total length below the header", Fix4(v4, p => p[3] = 19), UnwrapResult.Malformed },
            { "v4 no room for a UDP header", Fix4(v4, p => p[3] = 27), UnwrapResult.Malformed },
            { "v4 UDP length 7", Fix4(v4, p => p[25] = 7), UnwrapResult.Malformed },
            { "v4 UDP length past the IP payload", Fix4(v4, p => p[25]++), UnwrapResult.Malformed },
            { "v6 payload length past the buffer", Edit(v6, p => p[5]++), UnwrapResult.Malformed },
            { "v6 no room for a UDP header", Edit(v6, p => p[5] = 7), UnwrapResult.Malformed },
            { "v6 UDP length past the IP payload", Edit(v6, p => p[45]++), UnwrapResult.Malformed },
            { "v6 fragment header cut short", Edit(v6, p => { p[6] = 44; p[5] = 7; }), UnwrapResult.Malformed },
            { "v4 header checksum off by one", Edit(v4, p => p[11]++), UnwrapResult.BadChecksum },
            { "v4 TTL changed, checksum not", Edit(v4, p => p[8]--), UnwrapResult.BadChecksum },
            { "v4 payload byte flipped", Edit(v4, p => p[40] ^= 0x10), UnwrapResult.BadChecksum },
            { "v4 destination port changed", Edit(v4, p => p[23]++), UnwrapResult.BadChecksum },
            { "v6 payload byte flipped", Edit(v6, p => p[60] ^= 0x01), UnwrapResult.BadChecksum },
            { "v6 source address changed", Edit(v6, p => p[23] = 9), UnwrapResult.BadChecksum },
            { "v6 zero UDP checksum", Edit(v6, p => p[46] = p[47] = 0), UnwrapResult.BadChecksum },
            { "v4 TCP", Fix4(v4, p => p[9] = 6), UnwrapResult.NotUdp },
            { "v6 TCP", Edit(v6, p => p[6] = 6), UnwrapResult.NotUdp },
            { "v6 hop-by-hop options first", Edit(v6, p => p[6] = 0), UnwrapResult.NotUdp },
            { "v6 routing header first", Edit(v6, p => p[6] = 43), UnwrapResult.NotUdp },
            { "v4 more fragments", Fix4(v4, p => p[6] = 0x20), UnwrapResult.Fragment },
            { "v4 last fragment", Fix4(v4, p => p[7] = 0x01), UnwrapResult.Fragment },
            { "v4 fragment of TCP", Fix4(v4, p => { p[6] = 0x20; p[9] = 6; }), UnwrapResult.NotUdp },
            { "v6 fragment header", Edit(v6, p => p[6] = 44), UnwrapResult.Fragment },
            { "v6 fragment of TCP", Edit(v6, p => { p[6] = 44; p[40] = 6; }), UnwrapResult.Fragment },
        };

        static string Edit(string hex, Action<byte[]> edit)
        {
            byte[] p = Convert.FromHexString(hex);
            edit(p);
            return Convert.ToHexString(p);
        }

        static string Fix4(string hex, Action<byte[]> edit) => Edit(hex, p =>
        {
            edit(p);
            if (p.Length >= 20 && (p[0] & 0xF) * 4 <= p.Length) FixIpv4HeaderChecksum(p);
        });
    }

    [Theory]
    [MemberData(nameof(BadPackets))]
    public void UnwrapClassifiesBadPacketsAndLeavesTheBufferAlone(string what, string hex, object expectedArg)
    {
        var expected = (UnwrapResult)expectedArg;
        byte[] packet = Convert.FromHexString(hex);
        PacketBuffer b = Buffer(packet);

        UnwrapResult result = UdpEncapsulation.TryUnwrap(b, out NetEndpoint from, out NetEndpoint to);

        Assert.True(expected == result, $"{what}: expected {expected}, got {result}");
        Assert.Equal(Headroom, b.Offset);
        Assert.Equal(packet, b.Data.ToArray());
        Assert.True(from.IsNone);
        Assert.True(to.IsNone);
    }

    [Fact]
    public void Ipv4ZeroUdpChecksumMeansNoneButIpv6ZeroIsRejected()
    {
        byte[] v4 = (byte[])s_v4Keepalive.Clone();
        v4[26] = v4[27] = 0;
        Assert.Equal(UnwrapResult.Ok, UdpEncapsulation.TryUnwrap(Buffer(v4), out _, out _));

        byte[] v6 = (byte[])s_v6Keepalive.Clone();
        v6[46] = v6[47] = 0;
        Assert.Equal(UnwrapResult.BadChecksum, UdpEncapsulation.TryUnwrap(Buffer(v6), out _, out _));
    }

    // ---- Properties ----

    private static readonly Gen<NetEndpoint> s_endpoint4 =
        Gen.Select(Gen.Byte.Array[4], Gen.UShort).Select((a, port) => NetEndpoint.FromIPv4(a, port));

    // First byte 0x20..0x3f: global unicast, never v4-mapped (which NetEndpoint would turn into IPv4).
    private static readonly Gen<NetEndpoint> s_endpoint6 =
        Gen.Select(Gen.Byte.Array[16], Gen.UShort).Select((a, port) =>
        {
            a[0] = (byte)(0x20 | (a[0] & 0x1F));
            return NetEndpoint.FromIPv6(a, port);
        });

    private static readonly Gen<(NetEndpoint From, NetEndpoint To, byte[] Payload, int Padding, ushort Id, uint Flow)> s_datagram =
        Gen.Select(Gen.Bool, s_endpoint4, s_endpoint4, s_endpoint6, s_endpoint6, Gen.Byte.Array[0, 3000], Gen.Int[0, 15],
                Gen.Select(Gen.UShort, Gen.UInt))
            .Select((v6, a4, b4, a6, b6, payload, padding, ids) =>
                v6 ? (a6, b6, payload, padding, ids.Item1, ids.Item2 & 0xFFFFF) : (a4, b4, payload, padding, ids.Item1, 0u));

    private static byte[] Address(NetEndpoint e)
    {
        var a = new byte[e.AddressLength];
        e.WriteAddress(a);
        return a;
    }

    [Fact]
    public void WrapMatchesTheReferenceBuilderAndUnwrapGivesTheDatagramBack()
    {
        s_datagram.Sample(t =>
        {
            var (from, to, payload, padding, id, flow) = t;
            PacketBuffer b = Buffer(payload);
            Assert.True(UdpEncapsulation.TryWrap(b, from, to, id, flow));

            // Byte-exact against the independent builder (headers, lengths, both checksums).
            byte[] expected = BuildUdp(Address(from), Address(to), from.Port, to.Port, payload, id, flow);
            Assert.Equal(expected, b.Data.ToArray());

            b.SetLength(b.Length + padding); // WireGuard pads decrypted packets up to a multiple of 16
            Assert.Equal(UnwrapResult.Ok, UdpEncapsulation.TryUnwrap(b, out NetEndpoint source, out NetEndpoint destination));
            Assert.Equal(payload, b.Data.ToArray());
            Assert.Equal(Headroom, b.Offset);
            Assert.Equal(from, source);
            Assert.Equal(to, destination);
        }, iter: 500);
    }

    [Fact]
    public void OneCorruptedByteIsCaughtOrHarmlessAndNeverThrows()
    {
        // Any single-byte change either makes TryUnwrap refuse the packet or (bytes no checksum covers: IPv6 flow
        // label/traffic class/hop limit, padding, an IPv4 UDP checksum turned to 0) leaves payload and endpoints
        // intact. Every byte of an IPv4 header is covered by its checksum, so changes there are always refused.
        Gen.Select(s_datagram, Gen.Int[0, int.MaxValue], Gen.Byte[1, 255]).Sample((t, position, flip) =>
        {
            var (from, to, payload, padding, id, flow) = t;
            PacketBuffer b = Buffer(payload);
            Assert.True(UdpEncapsulation.TryWrap(b, from, to, id, flow));
            b.SetLength(b.Length + padding);
            int at = position % b.Length;
            b.Data[at] ^= flip;

            UnwrapResult result = UdpEncapsulation.TryUnwrap(b, out NetEndpoint source, out NetEndpoint destination);

            if (from.IsIPv4 && at < 20) Assert.NotEqual(UnwrapResult.Ok, result);
            if (result != UnwrapResult.Ok) return;
            Assert.Equal(payload, b.Data.ToArray());
            Assert.Equal(from, source);
            Assert.Equal(to, destination);
        }, iter: 2000);
    }

    [Fact]
    public void ArbitraryBytesNeverThrow()
    {
        // Half the inputs start with a plausible version nibble and header length so parsing goes deeper.
        Gen.Select(Gen.Byte.Array[0, 120], Gen.Int[0, 3]).Sample((bytes, shape) =>
        {
            if (bytes.Length > 0 && shape == 1) bytes[0] = 0x45;
            if (bytes.Length > 0 && shape == 2) bytes[0] = 0x60;
            if (bytes.Length > 6 && shape == 2) bytes[6] = (byte)(bytes[6] % 2 == 0 ? 17 : 44);
            PacketBuffer b = Buffer(bytes);
            UnwrapResult result = UdpEncapsulation.TryUnwrap(b, out _, out _);
            if (result == UnwrapResult.Ok) Assert.InRange(b.Offset + b.Length, Headroom, Headroom + bytes.Length);
            else Assert.Equal(bytes, b.Data.ToArray());
        }, iter: 5000);
    }
}
