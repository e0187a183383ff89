using VeilTun.Packets;
using Xunit;

namespace VeilTun.Tests.Packets;

public sealed class TcpSegmentTests
{
    // 443 → 51000, seq 0x01020304, ack 0x0a0b0c0d, data offset 8 (12 bytes of options: NOP NOP timestamps), ACK|PSH,
    // window 502, checksum 0xbeef, urgent 0; then 3 bytes of data.
    private static readonly byte[] s_segment = Convert.FromHexString(
        "01bbc73801020304" + "0a0b0c0d" + "8018" + "01f6" + "beef0000" + "0101080a0000000100000002" + "616263");

    [Fact]
    public void HeaderFieldsAreRead()
    {
        Assert.True(TcpSegment.TryRead(s_segment, out TcpSegment tcp));
        Assert.Equal(443, tcp.SourcePort);
        Assert.Equal(51000, tcp.DestinationPort);
        Assert.Equal(0x01020304u, tcp.SequenceNumber);
        Assert.Equal(0x0a0b0c0du, tcp.AcknowledgmentNumber);
        Assert.Equal(32, tcp.HeaderLength);
        Assert.Equal(TcpSegment.Ack | TcpSegment.Psh, tcp.Flags);
        Assert.Equal(502, tcp.Window);
        Assert.Equal(0xbeef, tcp.Checksum);
        Assert.True(tcp.HeaderLengthFits);
        Assert.Equal(s_segment.Length, tcp.Bytes.Length);
    }

    [Theory]
    [InlineData(0x40, false)] // data offset 4: shorter than the fixed header
    [InlineData(0x50, true)]
    [InlineData(0x90, false)] // 36 bytes: past the 35-byte span
    [InlineData(0xF0, false)]
    public void TheDataOffsetIsChecked(byte offsetByte, bool fits)
    {
        byte[] p = (byte[])s_segment.Clone();
        p[12] = offsetByte;
        Assert.True(TcpSegment.TryRead(p, out TcpSegment tcp));
        Assert.Equal((offsetByte >> 4) * 4, tcp.HeaderLength);
        Assert.Equal(fits, tcp.HeaderLengthFits);
    }

    [Fact]
    public void FewerThanTwentyBytesAreNotASegment()
    {
        Assert.False(TcpSegment.TryRead([], out _));
        Assert.False(TcpSegment.TryRead(s_segment.AsSpan(0, 19), out _));
        Assert.True(TcpSegment.TryRead(s_segment.AsSpan(0, 20), out _));
    }
}
