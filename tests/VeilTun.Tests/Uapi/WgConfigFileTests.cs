using System.Net;
using VeilTun.Uapi;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Uapi;

public class WgConfigFileTests
{
    // Keys from the wg(8) man page example configuration.
    private const string ManPrivateKey = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    private const string ManPeer1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
    private const string ManPeer2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
    private const string ManPeer3 = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=";

    // The example from wg(8) "CONFIGURATION FILE FORMAT EXAMPLE", with the host name endpoint made numeric.
    private const string ManExample =
        "[Interface]\n" +
        "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n" +
        "ListenPort = 51820\n" +
        "\n" +
        "[Peer]\n" +
        "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n" +
        "Endpoint = 192.95.5.67:1234\n" +
        "AllowedIPs = 10.192.122.3/32, 10.192.124.1/24\n" +
        "\n" +
        "[Peer]\n" +
        "PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\n" +
        "Endpoint = [2607:5300:60:6b0::c05f:543]:2468\n" +
        "AllowedIPs = 10.192.122.4/32, 192.168.0.0/16\n" +
        "\n" +
        "[Peer]\n" +
        "PublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=\n" +
        "Endpoint = 203.0.113.10:16384\n" +
        "AllowedIPs = 10.10.10.230/32\n";

    private static SetRequest Parse(string text)
    {
        Assert.True(WgConfigFile.TryParse(text, out var request, out var error), error);
        Assert.Null(error);
        return request;
    }

    private static string Error(string text)
    {
        Assert.False(WgConfigFile.TryParse(text, out var request, out var error));
        Assert.Null(request);
        return error;
    }

    private static byte[] B64(string s) => Convert.FromBase64String(s);

    private static AllowedIpChange Ip(string address, int length, bool remove = false) => new(IPAddress.Parse(address), length, remove);

    [Fact]
    public void ManPageExampleGivesWhatSetconfSends()
    {
        var r = Parse(ManExample);
        var sk = B64(ManPrivateKey);
        sk[0] &= 248;
        sk[31] = (byte)((sk[31] & 127) | 64);
        Assert.Equal(sk, r.PrivateKey);
        Assert.Equal(51820, r.ListenPort);
        Assert.Equal(0u, r.Fwmark);     // always sent by setconf
        Assert.True(r.ReplacePeers);
        Assert.Equal(3, r.Peers.Count);

        Assert.Equal(B64(ManPeer1), r.Peers[0].PublicKey);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.95.5.67"), 1234), r.Peers[0].Endpoint!.Value.ToIPEndPoint());
        Assert.Equal([Ip("10.192.122.3", 32), Ip("10.192.124.0", 24)], r.Peers[0].AllowedIps);
        Assert.True(r.Peers[0].ReplaceAllowedIps);
        Assert.Null(r.Peers[0].PresharedKey);
        Assert.Null(r.Peers[0].PersistentKeepaliveInterval);

        Assert.Equal(B64(ManPeer2), r.Peers[1].PublicKey);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2607:5300:60:6b0::c05f:543"), 2468), r.Peers[1].Endpoint!.Value.ToIPEndPoint());
        Assert.Equal(B64(ManPeer3), r.Peers[2].PublicKey);
    }

    [Fact]
    public void MissingInterfaceValuesAreSentAsZero()
    {
        var r = Parse($"[Peer]\nPublicKey = {ManPeer1}\n");
        Assert.Equal(new byte[32], r.PrivateKey);
        Assert.Equal(0, r.ListenPort);
        Assert.Equal(0u, r.Fwmark);
        Assert.True(r.ReplacePeers);
        Assert.True(r.Peers[0].ReplaceAllowedIps); // set by "[Peer]" itself in config.c
    }

    [Fact]
    public void CommentsWhitespaceCaseAndCrlfAreHandledLikeWg()
    {
        var r = Parse(
            "# leading comment\r\n" +
            "  [interface]  # trailing comment\r\n" +
            "listenport=5 1 8 2 0\r\n" + // wg removes all whitespace, even inside values
            "\tFWMARK = 0x1f\r\n" +
            "[PEER]\r\n" +
            $"publickey = {ManPeer1}\r\n" +
            "allowedips = 10.0.0.1 , fd00::1\r\n" +
            "PERSISTENTKEEPALIVE = off\r\n");
        Assert.Equal(51820, r.ListenPort);
        Assert.Equal(0x1fu, r.Fwmark);
        Assert.Equal([Ip("10.0.0.1", 32), Ip("fd00::1", 128)], r.Peers[0].AllowedIps); // no "/n": /32 and /128
        Assert.Equal(0, r.Peers[0].PersistentKeepaliveInterval);
    }

    [Theory]
    [InlineData("off", 0u)]
    [InlineData("OFF", 0u)]
    [InlineData("0", 0u)]
    [InlineData("51820", 51820u)]
    [InlineData("0xca6c", 0xca6cu)]
    [InlineData("0xFFFFFFFF", 0xffffffffu)]
    [InlineData("4294967295", 4294967295u)]
    public void FwMarkForms(string value, uint expected) => Assert.Equal(expected, Parse($"[Interface]\nFwMark = {value}\n").Fwmark);

    [Fact]
    public void IncrementalAllowedIpsTurnReplacingOff()
    {
        var p = Parse($"[Peer]\nPublicKey = {ManPeer1}\nAllowedIPs = +10.0.0.0/8, -192.168.0.0/16\n").Peers[0];
        Assert.False(p.ReplaceAllowedIps);
        Assert.Equal([Ip("10.0.0.0", 8), Ip("192.168.0.0", 16, remove: true)], p.AllowedIps);

        // A later plain AllowedIPs line turns it back on, as parse_allowedips does.
        var q = Parse($"[Peer]\nPublicKey = {ManPeer1}\nAllowedIPs = +10.0.0.0/8\nAllowedIPs = 10.1.0.0/16\n").Peers[0];
        Assert.True(q.ReplaceAllowedIps);
        Assert.Equal(2, q.AllowedIps.Count);
    }

    [Theory]
    [InlineData("1.2.3.4:51820", "1.2.3.4", 51820)]
    [InlineData("[fd00::1]:51820", "fd00::1", 51820)]
    [InlineData("fd00::1:51820", "fd00::1", 51820)]  // wg splits at the last ':' when there are no brackets
    [InlineData("[1.2.3.4]:1", "1.2.3.4", 1)]
    public void EndpointForms(string value, string address, int port) =>
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port),
            Parse($"[Peer]\nPublicKey = {ManPeer1}\nEndpoint = {value}\n").Peers[0].Endpoint!.Value.ToIPEndPoint());

    [Fact]
    public void PresharedKeyAndKeepaliveAreRead()
    {
        var p = Parse($"[Peer]\nPublicKey = {ManPeer1}\nPresharedKey = {ManPeer2}\nPersistentKeepalive = 25\n").Peers[0];
        Assert.Equal(B64(ManPeer2), p.PresharedKey);
        Assert.Equal(25, p.PersistentKeepaliveInterval);
    }

    public static TheoryData<string, string> Errors => new()
    {
        {
            "[Interface]\n# a comment\nListenPort = 51820\n\n[Peer]\nPublicKey = " + ManPeer1 + "\nAllowedIPs = 10.0.0.1/32, 10.0.0.300/32\n",
            "line 7: AllowedIPs: '10.0.0.300/32' is not an address"
        },
        { $"[Peer]\nPublicKey = {ManPeer1}\nAllowedIPs = 10.0.0.0/33\n", "line 3: AllowedIPs: '10.0.0.0/33' has a prefix length greater than 32" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nAllowedIPs = ::/129\n", "line 3: AllowedIPs: '::/129' has a prefix length greater than 128" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nAllowedIPs = 10.0.0.0/x\n", "line 3: AllowedIPs: '10.0.0.0/x' does not end in a decimal prefix length" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nAllowedIPs = 10.0.0.0/8,\n", "line 3: AllowedIPs: empty entry in the list" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nAllowedIPs = fe80::1%eth0/64\n", "line 3: AllowedIPs: 'fe80::1%eth0/64' is not an address" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nEndpoint = vpn.example.com:51820\n", "line 3: Endpoint: 'vpn.example.com:51820' is not a numeric address (host names are not resolved here; resolve the name first)" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nEndpoint = 1.2.3.4\n", "line 3: Endpoint: '1.2.3.4' has no port" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nEndpoint = [::1\n", "line 3: Endpoint: '[::1' has no matching ']'" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nEndpoint = 1.2.3.4:65536\n", "line 3: Endpoint: '1.2.3.4:65536' does not end in a port number from 0 to 65535" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nPersistentKeepalive = 65536\n", "line 3: PersistentKeepalive: '65536' is neither off nor a number from 0 to 65535" },
        { "[Interface]\nListenPort = http\n", "line 2: ListenPort: 'http' is not a port number from 0 to 65535 (service names are not supported)" },
        { "[Interface]\nListenPort = 65536\n", "line 2: ListenPort: '65536' is not a port number from 0 to 65535 (service names are not supported)" },
        { "[Interface]\nFwMark = 0X10\n", "line 2: FwMark: '0X10' is neither 0/off nor a number from 0 to 0xffffffff" },
        { "[Interface]\nFwMark = 0x100000000\n", "line 2: FwMark: '0x100000000' is neither 0/off nor a number from 0 to 0xffffffff" },
        { "[Interface]\nPrivateKey = c2VjcmV0\n", "line 2: PrivateKey: not a valid key (value not shown; expected 44 base64 characters ending in '=')" },
        { "[Peer]\nPublicKey = AAAA\n", "line 2: PublicKey: 'AAAA' is not a valid key (expected 44 base64 characters ending in '=')" },
        { $"[Peer]\nPublicKey = {ManPeer1}\nPresharedKey = abc\n", "line 3: PresharedKey: not a valid key (value not shown; expected 44 base64 characters ending in '=')" },
        { "[Interface]\nListenPort =\n", "line 2: ListenPort: missing value" },
        { "[Interface]\nAddress = 10.0.0.1/24\n", "line 2: Address is a wg-quick setting, which wg setconf does not accept (remove wg-quick settings first, e.g. with 'wg-quick strip')" },
        { "[Interface]\nmtu = 1420\n", "line 2: MTU is a wg-quick setting, which wg setconf does not accept (remove wg-quick settings first, e.g. with 'wg-quick strip')" },
        { "[Interface]\nSaveConfig = true\n", "line 2: SaveConfig is a wg-quick setting, which wg setconf does not accept (remove wg-quick settings first, e.g. with 'wg-quick strip')" },
        { "[Interface]\nPostUp = iptables -A FORWARD\n", "line 2: PostUp is a wg-quick setting, which wg setconf does not accept (remove wg-quick settings first, e.g. with 'wg-quick strip')" },
        { "[Interface]\nFoo = 1\n", "line 2: unknown key 'Foo' in [Interface]" },
        { "[Interface]\nPublicKey = " + ManPeer1 + "\n", "line 2: PublicKey belongs in [Peer], not in [Interface]" },
        { "[Peer]\nListenPort = 1\n", "line 2: ListenPort belongs in [Interface], not in [Peer]" },
        { "ListenPort = 1\n", "line 1: 'ListenPort' is outside of an [Interface] or [Peer] section" },
        { "[Interfaces]\n", "line 1: unknown section '[Interfaces]' (expected [Interface] or [Peer])" },
        { "[Interface]\njunk\n", "line 2: 'junk' is not a Key = Value line" },
        { "[Interface]\n\n[Peer]\nEndpoint = 1.2.3.4:5\n", "line 3: [Peer] section has no PublicKey" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void ErrorsNameTheLineKeyValueAndReason(string text, string expected) => Assert.Equal(expected, Error(text));

    [Fact]
    public void ShowconfOutputMatchesWgFormat()
    {
        // Expected text follows tools:src/showconf.c; Convert (an independent base64) encodes the keys.
        var s = UapiWriterTests.SampleSnapshot();
        string expected =
            "[Interface]\n" +
            "ListenPort = 51820\n" +
            "FwMark = 0x1234\n" +
            $"PrivateKey = {Convert.ToBase64String(s.PrivateKey!)}\n" +
            "\n" +
            "[Peer]\n" +
            $"PublicKey = {Convert.ToBase64String(s.Peers[0].PublicKey)}\n" +
            "AllowedIPs = 10.0.0.0/24, fd00::/64, 2001:db8::1/128\n" +
            "Endpoint = 192.168.1.1:51820\n" +
            "PersistentKeepalive = 25\n" +
            "\n" +
            "[Peer]\n" +
            $"PublicKey = {Convert.ToBase64String(s.Peers[1].PublicKey)}\n" +
            $"PresharedKey = {Convert.ToBase64String(s.Peers[1].PresharedKey!)}\n" +
            "Endpoint = [2001:db8::1]:9998\n";
        Assert.Equal(expected, WgConfigFile.Write(s));
    }

    [Fact]
    public void ShowconfOfAnEmptyDeviceIsTheBareSection() =>
        Assert.Equal("[Interface]\n\n", WgConfigFile.Write(new DeviceSnapshot { PrivateKey = new byte[32] }));

    [Fact]
    public void ShowconfPrintsAddressesLikeInetNtop()
    {
        var s = new DeviceSnapshot();
        var p = new PeerSnapshot { PublicKey = new byte[32] };
        p.AllowedIps.Add((IPAddress.Parse("::102:304"), 128));       // glibc: IPv4-compatible form
        p.AllowedIps.Add((IPAddress.Parse("::ffff:102:304"), 128));  // v4-mapped
        p.AllowedIps.Add((IPAddress.Parse("::1"), 128));
        s.Peers.Add(p);
        Assert.Contains("AllowedIPs = ::1.2.3.4/128, ::ffff:1.2.3.4/128, ::1/128\n", WgConfigFile.Write(s));
    }

    [Fact]
    public void WriteThenParseRoundTrips()
    {
        var s = UapiWriterTests.SampleSnapshot();
        var r = Parse(WgConfigFile.Write(s));
        Assert.Equal(s.PrivateKey, r.PrivateKey); // the sample key is already clamped
        Assert.Equal(s.ListenPort, r.ListenPort);
        Assert.Equal(s.Fwmark, r.Fwmark);
        Assert.Equal(s.Peers.Count, r.Peers.Count);
        for (int i = 0; i < s.Peers.Count; i++)
        {
            var sp = s.Peers[i];
            var rp = r.Peers[i];
            Assert.Equal(sp.PublicKey, rp.PublicKey);
            Assert.Equal(sp.PresharedKey, rp.PresharedKey);
            Assert.Equal(sp.Endpoint, rp.Endpoint!.Value);
            Assert.Equal(sp.PersistentKeepaliveInterval, rp.PersistentKeepaliveInterval ?? 0);
            Assert.True(rp.ReplaceAllowedIps);
            var expected = sp.AllowedIps.Select(a =>
            {
                var bytes = a.Address.GetAddressBytes();
                for (int b = 0; b < bytes.Length; b++) bytes[b] &= (byte)(0xff00 >> Math.Clamp(a.PrefixLength - 8 * b, 0, 8));
                return new AllowedIpChange(new IPAddress(bytes), a.PrefixLength, false);
            });
            Assert.Equal(expected, rp.AllowedIps);
        }
    }

    [Fact]
    public void ScopedLinkLocalEndpointIsWrittenWithItsScope()
    {
        var s = new DeviceSnapshot();
        var ep = NetEndpoint.FromIPv6(Convert.FromHexString("fe800000000000000000000000000001"), 51820, 4000000000);
        s.Peers.Add(new PeerSnapshot { PublicKey = B64(ManPeer1), Endpoint = ep });
        string text = WgConfigFile.Write(s);
        Assert.Contains("Endpoint = [fe80::1%4000000000]:51820\n", text);
        // Read back, a scope that names no interface here is dropped, as wireguard-go does.
        Assert.Equal(NetEndpoint.FromIPv6(Convert.FromHexString("fe800000000000000000000000000001"), 51820), Parse(text).Peers[0].Endpoint);
    }
}
