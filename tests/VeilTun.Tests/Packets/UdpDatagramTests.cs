using System.Buffers.Binary;
using CsCheck;
using VeilTun.Packets;
using Xunit;

namespace VeilTun.Tests.Packets;

public sealed class UdpDatagramTests
{
    // 51820 → 51821, length 24, checksum 0x4f70 (tshark: correct, over 192.0.2.1 → 198.51.100.7), "0123456789abcdef".
    private static readonly byte[] s_datagram = Convert.FromHexString("ca6cca6d00184f7030313233343536373839616263646566");

    [Fact]
    public void HeaderFieldsAreRead()
    {
        Assert.True(UdpDatagram.TryRead(s_datagram, out UdpDatagram udp));
        Assert.Equal(51820, udp.SourcePort);
        Assert.Equal(51821, udp.DestinationPort);
        Assert.Equal(24, udp.Length);
        Assert.Equal(0x4f70, udp.Checksum);
        Assert.True(udp.LengthFits);
        Assert.Equal(s_datagram, udp.Datagram.ToArray());
        Assert.Equal("0123456789abcdef"u8.ToArray(), udp.Payload.ToArray());
    }

    [Fact]
    public void BytesAfterTheLengthAreNotPayload()
    {
        byte[] padded = [.. s_datagram, 0xEE, 0xEE, 0xEE];
        Assert.True(UdpDatagram.TryRead(padded, out UdpDatagram udp));
        Assert.True(udp.LengthFits);
        Assert.Equal(27, udp.Bytes.Length);
        Assert.Equal(24, udp.Datagram.Length);
        Assert.Equal(16, udp.Payload.Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)] // shorter than the header
    [InlineData(25)] // longer than the span
    [InlineData(65535)]
    public void ALengthOutsideTheSpanDoesNotFit(int length)
    {
        byte[] p = (byte[])s_datagram.Clone();
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(UdpDatagram.LengthOffset), (ushort)length);
        Assert.True(UdpDatagram.TryRead(p, out UdpDatagram udp));
        Assert.Equal(length, udp.Length);
        Assert.False(udp.LengthFits);
        Assert.True(udp.Datagram.IsEmpty);
        Assert.True(udp.Payload.IsEmpty);
    }

    [Fact]
    public void AHeaderOnlyDatagramHasAnEmptyPayload()
    {
        Assert.True(UdpDatagram.TryRead(Convert.FromHexString("0001000200080000"), out UdpDatagram udp));
        Assert.True(udp.LengthFits);
        Assert.True(udp.Payload.IsEmpty);
        Assert.Equal(8, udp.Datagram.Length);
    }

    [Fact]
    public void FewerThanEightBytesAreNotADatagram()
    {
        Assert.False(UdpDatagram.TryRead([], out _));
        Assert.False(UdpDatagram.TryRead(s_datagram.AsSpan(0, 7), out _));
    }

    [Fact]
    public void AnyBytesAreReadWithoutThrowing()
    {
        Gen.Byte.Array[0, 40].Sample(p =>
        {
            if (!UdpDatagram.TryRead(p, out UdpDatagram udp))
            {
                Assert.True(p.Length < UdpDatagram.HeaderLength);
                return;
            }
            _ = udp.SourcePort + udp.DestinationPort + udp.Checksum;
            Assert.Equal(udp.LengthFits ? udp.Length - 8 : 0, udp.Payload.Length);
        });
    }
}
