using System.Buffers.Binary;
using System.Net;
using CsCheck;
using VeilTun.Packets;
using VeilTun.Tests.Fakes;
using Xunit;

namespace VeilTun.Tests.Packets;

public sealed class IpPacketTests
{
    // "0123456789abcdef" in UDP from 192.0.2.1:51820 to 198.51.100.7:51821 (IPv4 id 0x1234), whole and as two
    // fragments, and the same from 2001:db8::1 to 2001:db8::2 (fragment id 0xdeadbeef); tshark decoded every one.
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

    private static byte[] Address(string text) => IPAddress.Parse(text).GetAddressBytes();

    [Fact]
    public void Ipv4HeaderFieldsAreRead()
    {
        Assert.True(IpPacket.TryRead(s_v4Whole, out IpPacket ip));
        Assert.Equal(4, ip.Version);
        Assert.False(ip.IsIPv6);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(44, ip.TotalLength);
        Assert.Equal(24, ip.PayloadLength);
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
        Assert.Equal(64, ip.HopLimit);
        Assert.Equal(0, ip.TrafficClass);
        Assert.Equal(0u, ip.FlowLabel);
        Assert.Equal(Address("192.0.2.1"), ip.Source.ToArray());
        Assert.Equal(Address("198.51.100.7"), ip.Destination.ToArray());
        Assert.Equal(0x1234, ip.Identification);
        Assert.False(ip.IsFragment);
        Assert.False(ip.MoreFragments);
        Assert.False(ip.DontFragment);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.True(ip.TotalLengthFits);
        Assert.True(ip.HasValidLengths);
        Assert.Equal(s_v4Whole.AsSpan(0, 20).ToArray(), ip.Header.ToArray());
        Assert.Equal(s_v4Whole.AsSpan(20).ToArray(), ip.Payload.ToArray());
        Assert.False(ip.TryGetFragmentHeader(out _));
    }

    [Fact]
    public void Ipv4FragmentFieldsAreRead()
    {
        Assert.True(IpPacket.TryRead(s_v4First, out IpPacket first));
        Assert.True(first.IsFragment);
        Assert.True(first.MoreFragments);
        Assert.Equal(0, first.FragmentOffset);
        Assert.Equal(16, first.PayloadLength);

        Assert.True(IpPacket.TryRead(s_v4Last, out IpPacket last));
        Assert.True(last.IsFragment);
        Assert.False(last.MoreFragments);
        Assert.Equal(16, last.FragmentOffset);
        Assert.Equal(0x1234, last.Identification);

        byte[] p = (byte[])s_v4Whole.Clone();
        p[6] = 0x40; // DF alone: not a fragment
        Assert.True(IpPacket.TryRead(p, out IpPacket df));
        Assert.True(df.DontFragment);
        Assert.False(df.IsFragment);
        p[6] = 0x7F; // DF, MF and the highest offset bits
        p[7] = 0xFF;
        Assert.True(IpPacket.TryRead(p, out IpPacket all));
        Assert.True(all.DontFragment && all.MoreFragments && all.IsFragment);
        Assert.Equal(0x1FFF * 8, all.FragmentOffset);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(15)]
    public void Ipv4OptionsMoveThePayloadButNotTheAddresses(int ihl)
    {
        int header = ihl * 4;
        byte[] p = TestPackets.Ipv4("10.0.0.1", "10.0.0.2", header + 8);
        p[0] = (byte)(0x40 | ihl);
        for (int i = 20; i < header; i++) p[i] = 0x01; // NOP options
        Assert.True(IpPacket.TryRead(p, out IpPacket ip));
        Assert.Equal(header, ip.HeaderLength);
        Assert.Equal(8, ip.PayloadLength);
        Assert.True(ip.HasValidLengths);
        Assert.Equal(header, ip.Header.Length);
        Assert.Equal(p.AsSpan(header).ToArray(), ip.Payload.ToArray());
        Assert.Equal(Address("10.0.0.1"), ip.Source.ToArray());
        Assert.Equal(Address("10.0.0.2"), ip.Destination.ToArray());
    }

    [Fact]
    public void Ipv4LengthChecksTellTheTwoStrictnessesApart()
    {
        // IHL 4: wireguard-go delivers it (it checks only the total length); it is not a well-formed header.
        byte[] p = TestPackets.Ipv4("10.0.0.1", "10.0.0.2", 40);
        p[0] = 0x44;
        Assert.True(IpPacket.TryRead(p, out IpPacket shortHeader));
        Assert.Equal(16, shortHeader.HeaderLength);
        Assert.True(shortHeader.TotalLengthFits);
        Assert.False(shortHeader.HasValidLengths);
        Assert.True(shortHeader.Header.IsEmpty);
        Assert.True(shortHeader.Payload.IsEmpty);

        // IHL 15 (60 bytes) in a 40-byte packet: header longer than the total length.
        p[0] = 0x4F;
        Assert.True(IpPacket.TryRead(p, out IpPacket longHeader));
        Assert.True(longHeader.TotalLengthFits);
        Assert.False(longHeader.HasValidLengths);

        // Total length past the span, and below a minimal header.
        p[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), 41);
        Assert.True(IpPacket.TryRead(p, out IpPacket truncated));
        Assert.False(truncated.TotalLengthFits);
        Assert.False(truncated.HasValidLengths);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), 19);
        Assert.True(IpPacket.TryRead(p, out IpPacket tiny));
        Assert.False(tiny.TotalLengthFits);
        Assert.False(tiny.HasValidLengths);
    }

    [Fact]
    public void PaddingAfterTheTotalLengthIsIgnored()
    {
        byte[] p = new byte[s_v4Whole.Length + 20];
        s_v4Whole.CopyTo(p, 0);
        Assert.True(IpPacket.TryRead(p, out IpPacket ip));
        Assert.Equal(p.Length, ip.Bytes.Length);
        Assert.Equal(44, ip.TotalLength);
        Assert.True(ip.HasValidLengths);
        Assert.Equal(24, ip.Payload.Length);

        byte[] q = new byte[s_v6Whole.Length + 13];
        s_v6Whole.CopyTo(q, 0);
        Assert.True(IpPacket.TryRead(q, out IpPacket ip6));
        Assert.Equal(64, ip6.TotalLength);
        Assert.True(ip6.TotalLengthFits);
        Assert.Equal(24, ip6.Payload.Length);
    }

    [Fact]
    public void Ipv6HeaderFieldsAreRead()
    {
        Assert.True(IpPacket.TryRead(s_v6Whole, out IpPacket ip));
        Assert.Equal(6, ip.Version);
        Assert.True(ip.IsIPv6);
        Assert.Equal(40, ip.HeaderLength);
        Assert.Equal(64, ip.TotalLength);
        Assert.Equal(24, ip.PayloadLength);
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
        Assert.Equal(64, ip.HopLimit);
        Assert.Equal(Address("2001:db8::1"), ip.Source.ToArray());
        Assert.Equal(Address("2001:db8::2"), ip.Destination.ToArray());
        Assert.False(ip.IsFragment);
        Assert.True(ip.TotalLengthFits);
        Assert.True(ip.HasValidLengths);
        Assert.Equal(s_v6Whole.AsSpan(40).ToArray(), ip.Payload.ToArray());
        Assert.False(ip.TryGetFragmentHeader(out _));
        // IPv4-only fields read as zero.
        Assert.Equal(0, ip.Identification);
        Assert.False(ip.MoreFragments);
        Assert.False(ip.DontFragment);
        Assert.Equal(0, ip.FragmentOffset);
    }

    [Fact]
    public void Ipv6TrafficClassAndFlowLabelAreRead()
    {
        byte[] p = (byte[])s_v6Whole.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(p, 0x6ABCDEF1);
        Assert.True(IpPacket.TryRead(p, out IpPacket ip));
        Assert.Equal(0xAB, ip.TrafficClass);
        Assert.Equal(0xCDEF1u, ip.FlowLabel);
        Assert.Equal(6, ip.Version);
    }

    [Fact]
    public void Ipv6FragmentHeadersAreRead()
    {
        Assert.True(IpPacket.TryRead(s_v6First, out IpPacket first));
        Assert.True(first.IsFragment);
        Assert.Equal(IpProtocol.Ipv6Fragment, first.Protocol);
        Assert.True(first.TryGetFragmentHeader(out Ipv6FragmentHeader f));
        Assert.Equal(IpProtocol.Udp, f.NextHeader);
        Assert.Equal(0, f.FragmentOffset);
        Assert.True(f.MoreFragments);
        Assert.Equal(0xdeadbeefu, f.Identification);
        Assert.False(f.IsAtomic);

        Assert.True(IpPacket.TryRead(s_v6Last, out IpPacket last));
        Assert.True(last.TryGetFragmentHeader(out Ipv6FragmentHeader l));
        Assert.Equal(16, l.FragmentOffset);
        Assert.False(l.MoreFragments);
        Assert.False(l.IsAtomic);

        byte[] atomic = (byte[])s_v6First.Clone();
        atomic[43] = 0; // offset 0, M clear
        Assert.True(IpPacket.TryRead(atomic, out IpPacket a));
        Assert.True(a.IsFragment);
        Assert.True(a.TryGetFragmentHeader(out Ipv6FragmentHeader af));
        Assert.True(af.IsAtomic);
    }

    [Fact]
    public void ATruncatedIpv6FragmentHeaderIsNotRead()
    {
        byte[] p = (byte[])s_v6First.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), 7); // payload length leaves 7 bytes for the 8-byte header
        Assert.True(IpPacket.TryRead(p, out IpPacket ip));
        Assert.True(ip.IsFragment);
        Assert.False(ip.TryGetFragmentHeader(out _));
        Assert.False(IpPacket.TryRead(p.AsSpan(0, 47), out IpPacket cut) && cut.TryGetFragmentHeader(out _));
        Assert.False(Ipv6FragmentHeader.TryRead(new byte[7], out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("45")]
    [InlineData("450000140000000040110000c0000201c63364")] // 19 bytes
    [InlineData("600000000000114000000000000000000000000000000000000000000000000000000000000000")] // 39 bytes
    [InlineData("ff000000000000000000000000000000000000000000000000000000000000000000000000000000")] // DAITA decoy
    [InlineData("55000014000000004011000000000000000000000000000000000000000000000000000000000000")] // version 5
    [InlineData("05000014000000004011000000000000000000000000000000000000000000000000000000000000")] // version 0
    public void TruncatedOrForeignBytesAreNotAPacket(string hex)
    {
        Assert.False(IpPacket.TryRead(Convert.FromHexString(hex), out _));
    }

    [Fact]
    public void PeekVersionReadsTheNibbleWithoutALengthCheck()
    {
        Assert.Equal(0, IpPacket.PeekVersion([]));
        Assert.Equal(4, IpPacket.PeekVersion([0x45]));
        Assert.Equal(6, IpPacket.PeekVersion([0x60, 0]));
        Assert.Equal(15, IpPacket.PeekVersion([0xFF]));
    }

    // The checks the engine made before the views existed, kept here as the reference they must match exactly.
    private static bool OldDestination(ReadOnlySpan<byte> data, out byte[] destination)
    {
        destination = [];
        if (data.Length >= 20 && data[0] >> 4 == 4) destination = data.Slice(16, 4).ToArray();
        else if (data.Length >= 40 && data[0] >> 4 == 6) destination = data.Slice(24, 16).ToArray();
        else return false;
        return true;
    }

    private static bool OldInnerLength(ReadOnlySpan<byte> packet, out int length)
    {
        length = 0;
        if (packet.Length == 0) return false;
        switch (packet[0] >> 4)
        {
            case 4:
                if (packet.Length < 20) return false;
                length = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
                return length >= 20 && length <= packet.Length;
            case 6:
                if (packet.Length < 40) return false;
                length = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) + 40;
                return length <= packet.Length;
            default:
                return false;
        }
    }

    private static readonly Gen<byte[]> s_bytes = Gen.OneOf(
        Gen.Byte.Array[0, 80],
        // Mostly plausible headers: version 4 or 6, small lengths, so every branch is reached.
        Gen.Select(Gen.OneOf<byte>(0x40, 0x44, 0x45, 0x46, 0x4F, 0x60, 0x6F), Gen.Byte.Array[19, 90], Gen.UShort[0, 100])
            .Select((first, rest, length) =>
            {
                byte[] p = [first, .. rest];
                BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(first < 0x60 ? 2 : 4), length);
                if (first >= 0x60 && p.Length > 6 && length % 3 == 0) p[6] = IpProtocol.Ipv6Fragment;
                return p;
            }));

    [Fact]
    public void AnyBytesAreReadWithoutThrowingAndAsBeforeTheViewsExisted()
    {
        s_bytes.Sample(p =>
        {
            bool read = IpPacket.TryRead(p, out IpPacket ip);
            Assert.Equal(OldDestination(p, out byte[] destination), read);
            bool fits = OldInnerLength(p, out int length);
            Assert.Equal(fits, read && ip.TotalLengthFits);
            if (!read) return;
            Assert.Equal(destination, ip.Destination.ToArray());
            if (fits) Assert.Equal(length, ip.TotalLength);
            Assert.Equal(ip.IsIPv6 ? 16 : 4, ip.Source.Length);

            // Every field reads without throwing, and the guarded slices stay in the span.
            _ = ip.Protocol + ip.HopLimit + ip.TrafficClass + ip.FlowLabel + ip.Identification + ip.FragmentOffset;
            _ = ip.MoreFragments | ip.DontFragment | ip.IsFragment;
            if (ip.HasValidLengths)
            {
                Assert.True(ip.TotalLengthFits);
                Assert.Equal(ip.HeaderLength, ip.Header.Length);
                Assert.Equal(ip.PayloadLength, ip.Payload.Length);
            }
            else
            {
                Assert.True(ip.Header.IsEmpty && ip.Payload.IsEmpty);
            }
            if (ip.TryGetFragmentHeader(out Ipv6FragmentHeader f))
            {
                Assert.True(ip.IsIPv6 && ip.IsFragment);
                _ = f.NextHeader + f.FragmentOffset + f.Identification;
            }
        });
    }

    [Fact]
    public void ReadingAllocatesNothing()
    {
        byte[] v4 = s_v4First, v6 = s_v6First;
        long sum = 0;
        long allocated = Allocations.InSteadyState(() =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                byte[] p = (i & 1) == 0 ? v4 : v6;
                if (!IpPacket.TryRead(p, out IpPacket ip) || !ip.HasValidLengths) continue;
                sum += ip.TotalLength + ip.Destination[0] + ip.Payload.Length + ip.FragmentOffset;
                if (ip.TryGetFragmentHeader(out Ipv6FragmentHeader f)) sum += f.Identification;
            }
        });
        Assert.Equal(0, allocated);
        Assert.NotEqual(0, sum);
    }
}
