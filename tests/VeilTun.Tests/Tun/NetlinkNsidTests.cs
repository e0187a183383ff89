using System.Buffers.Binary;
using Xunit;
using Netlink = VeilTun.Interop.Netlink;

namespace VeilTun.Tests.Tun;

/// <summary>
/// The netlink messages LinuxTun uses to follow an interface in a namespace it cannot enter (Interop.NetlinkNsid.cs):
/// RTM_GETNSID / RTM_NEWNSID with NETNSA_FD, and RTM_GETLINK with IFLA_TARGET_NETNSID. Layouts from
/// include/uapi/linux/netlink.h, rtnetlink.h, net_namespace.h and if_link.h.
/// </summary>
public sealed class NetlinkNsidTests
{
    [Fact]
    public void GetNsidRequestCarriesTheNamespaceDescriptor()
    {
        byte[] buffer = new byte[Netlink.MaxRequestLength];
        int n = Netlink.BuildNsidRequest(buffer, namespaceFd: 7, assign: false, sequence: 42);
        Assert.Equal(28, n); // header 16 + rtgenmsg 4 (padded) + NETNSA_FD 8
        Assert.Equal(
            Convert.FromHexString("1C000000" + "5A00" + "0100" + "2A000000" + "00000000" + "00000000" + "0800" + "0300" + "07000000"),
            buffer[..n]);
    }

    [Fact]
    public void NewNsidRequestAsksForAnyFreeIdAndAnAcknowledgement()
    {
        byte[] buffer = new byte[Netlink.MaxRequestLength];
        int n = Netlink.BuildNsidRequest(buffer, namespaceFd: 300, assign: true, sequence: 1);
        Assert.Equal(36, n);
        Assert.Equal(Netlink.RTM_NEWNSID, BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(4)));
        Assert.Equal(1 | 4, BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(6))); // NLM_F_REQUEST | NLM_F_ACK
        Assert.Equal(Convert.FromHexString("0800" + "0300" + "2C010000" + "0800" + "0100" + "FFFFFFFF"), buffer[20..n]);
    }

    [Fact]
    public void NsidAnswerIsParsedAndNotAssignedIsMinusOne()
    {
        // RTM_NEWNSID answer payload: rtgenmsg (4) + NETNSA_NSID s32.
        Assert.True(Netlink.TryParseNsid(Convert.FromHexString("00000000" + "0800" + "0100" + "05000000"), out int nsid));
        Assert.Equal(5, nsid);
        Assert.True(Netlink.TryParseNsid(Convert.FromHexString("00000000" + "0800" + "0100" + "FFFFFFFF"), out nsid));
        Assert.Equal(Netlink.NsidNotAssigned, nsid);
        // Another attribute first (NETNSA_PID), then the id.
        Assert.True(Netlink.TryParseNsid(Convert.FromHexString("00000000" + "0800" + "0200" + "39300000" + "0800" + "0100" + "00000000"), out nsid));
        Assert.Equal(0, nsid);
    }

    [Theory]
    [InlineData("")]
    [InlineData("000000")]
    [InlineData("00000000")]
    [InlineData("00000000" + "0800" + "0200" + "01000000")] // no NETNSA_NSID
    [InlineData("00000000" + "0600" + "0100" + "0100")] // too short for an s32
    [InlineData("00000000" + "FF00" + "0100" + "01000000")] // length past the end
    public void MalformedOrIncompleteNsidAnswersAreRejected(string hex)
    {
        Assert.False(Netlink.TryParseNsid(Convert.FromHexString(hex), out int nsid));
        Assert.Equal(Netlink.NsidNotAssigned, nsid);
    }

    [Fact]
    public void GetLinkByIndexTargetsTheNetnsIdAndSkipsStatistics()
    {
        byte[] buffer = new byte[Netlink.MaxRequestLength];
        int n = Netlink.BuildGetLinkRequest(buffer, nsid: 3, index: 9, name: "ignored", sequence: 7);
        Assert.Equal(48, n); // header 16 + ifinfomsg 16 + IFLA_TARGET_NETNSID 8 + IFLA_EXT_MASK 8; no name with an index
        Assert.Equal(
            Convert.FromHexString("30000000" + "1200" + "0100" + "07000000" + "00000000"
                + "00" + "00" + "0000" + "09000000" + "00000000" + "00000000"
                + "0800" + "2E00" + "03000000"
                + "0800" + "1D00" + "08000000"),
            buffer[..n]);
    }

    [Fact]
    public void GetLinkByNameAddsAPaddedNulTerminatedName()
    {
        byte[] buffer = new byte[Netlink.MaxRequestLength];
        int n = Netlink.BuildGetLinkRequest(buffer, nsid: 0, index: 0, name: "wg0", sequence: 1);
        Assert.Equal(56, n);
        Assert.Equal(0, BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(20))); // ifi_index
        Assert.Equal(Convert.FromHexString("0800" + "0300" + "77673000"), buffer[48..n]); // IFLA_IFNAME "wg0\0"

        n = Netlink.BuildGetLinkRequest(buffer, nsid: 0, index: 0, name: "abcdefghijklmno", sequence: 1); // 15 bytes
        Assert.Equal(Netlink.MaxRequestLength, n);
        Assert.Equal(20, BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(48)));
        Assert.Throws<ArgumentException>(() => Netlink.BuildGetLinkRequest(buffer, 0, 0, "abcdefghijklmnop", 1));
    }

    [Fact]
    public void TheLinkAnswerIsReadByTheExistingLinkParser()
    {
        // RTM_NEWLINK payload as answered for a TUN: index 4, IFF_UP|IFF_RUNNING|..., IFLA_IFNAME, IFLA_MTU.
        byte[] payload = Convert.FromHexString("00" + "00" + "FFFF" + "04000000" + "D1100100" + "00000000"
            + "0800" + "0300" + "77673000" + "0800" + "0400" + "00050000");
        Assert.True(Netlink.TryParseLinkMessage(payload, out int index, out uint flags, out int mtu, out ReadOnlySpan<byte> name));
        Assert.Equal(4, index);
        Assert.Equal(0x41u, flags & 0x41); // IFF_UP | IFF_RUNNING
        Assert.Equal(1280, mtu);
        Assert.Equal("wg0"u8.ToArray(), name.ToArray());
    }
}
