using VeilTun.Tun.Offload;
using Xunit;

namespace VeilTun.Tests.Tun.Offload;

public sealed class VirtioNetHeaderTests
{
    [Fact]
    public void ConstantsAreTheKernelValues()
    {
        // include/uapi/linux/virtio_net.h
        Assert.Equal(10, VirtioNetHeader.Size);
        Assert.Equal(1, VirtioNetHeader.FlagNeedsChecksum);
        Assert.Equal(2, VirtioNetHeader.FlagDataValid);
        Assert.Equal(0, VirtioNetHeader.GsoNone);
        Assert.Equal(1, VirtioNetHeader.GsoTcpV4);
        Assert.Equal(3, VirtioNetHeader.GsoUdp);
        Assert.Equal(4, VirtioNetHeader.GsoTcpV6);
        Assert.Equal(5, VirtioNetHeader.GsoUdpL4);
        Assert.Equal(0x80, VirtioNetHeader.GsoEcn);
    }

    [Fact]
    public void ReadsTheLittleEndianWireLayout()
    {
        // flags=NEEDS_CSUM, gso_type=TCPV4|ECN, hdr_len=54, gso_size=1428, csum_start=20, csum_offset=16
        byte[] wire = [0x01, 0x81, 0x36, 0x00, 0x94, 0x05, 0x14, 0x00, 0x10, 0x00, 0xEE];
        Assert.True(VirtioNetHeader.TryRead(wire, out var h));
        Assert.Equal(new VirtioNetHeader(1, 0x81, 54, 1428, 20, 16), h);
        Assert.True(h.NeedsChecksum);
        Assert.Equal(VirtioNetHeader.GsoTcpV4, h.GsoKind);

        var written = new byte[11];
        written[10] = 0xEE;
        h.Write(written);
        Assert.Equal(wire, written);
    }

    [Fact]
    public void ShortInputIsRejectedAndShortOutputThrows()
    {
        Assert.False(VirtioNetHeader.TryRead(new byte[9], out var h));
        Assert.Equal(VirtioNetHeader.None, h);
        Assert.Throws<ArgumentException>(() => new VirtioNetHeader(1, 1, 1, 1, 1, 1).Write(new byte[9]));
    }

    [Fact]
    public void NoneIsAllZeros()
    {
        var b = new byte[10];
        b.AsSpan().Fill(0xFF);
        VirtioNetHeader.None.Write(b);
        Assert.All(b, x => Assert.Equal(0, x));
        Assert.False(VirtioNetHeader.None.NeedsChecksum);
    }
}
