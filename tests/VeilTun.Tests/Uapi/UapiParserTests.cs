using System.Net;
using System.Text;
using CsCheck;
using VeilTun.Crypto;
using VeilTun.Uapi;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Uapi;

public class UapiParserTests
{
    // Arbitrary test keys in hex (the UAPI encoding).
    internal const string KeyA = "1111111111111111111111111111111111111111111111111111111111111111";
    internal const string KeyB = "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33";
    internal const string Psk = "188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52";
    internal const string Zero = "0000000000000000000000000000000000000000000000000000000000000000";

    /// <summary>The lines as a request body on the wire: UTF-8, each line ended by '\n'.</summary>
    internal static byte[] Body(IEnumerable<string> lines) => Encoding.UTF8.GetBytes(string.Concat(lines.Select(l => l + "\n")));

    private static SetRequest Parse(params string[] lines)
    {
        Assert.True(UapiParser.TryParseSet(Body(lines), out var request, out var error), error.ToString());
        Assert.Equal(0, error.Errno);
        return request;
    }

    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    [Fact]
    public void WgSetconfStyleRequestIsParsedCompletely()
    {
        // The order of lines is the one wg(8) userspace_set_device writes (tools:src/ipc-uapi.h).
        var r = Parse(
            "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a",
            "listen_port=12912",
            "fwmark=0",
            "replace_peers=true",
            "public_key=" + KeyB,
            "preshared_key=" + Psk,
            "endpoint=[abcd:23::33%2]:51820",
            "persistent_keepalive_interval=111",
            "replace_allowed_ips=true",
            "allowed_ip=192.168.4.4/32",
            "allowed_ip=-10.0.0.0/8",
            "public_key=" + KeyA,
            "remove=true");

        // e84b... is already clamped (low 3 bits clear, top bit clear, bit 254 set), so it is stored unchanged.
        Assert.Equal(Hex("e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"), r.PrivateKey);
        Assert.Equal(12912, r.ListenPort);
        Assert.Equal(0u, r.Fwmark);
        Assert.True(r.ReplacePeers);
        Assert.Equal(2, r.Peers.Count);

        var p = r.Peers[0];
        Assert.Equal(Hex(KeyB), p.PublicKey);
        Assert.Equal(Hex(Psk), p.PresharedKey);
        Assert.Equal(NetEndpoint.FromIPv6(Hex("abcd0023000000000000000000000033"), 51820, 2), p.Endpoint);
        Assert.Equal(111, p.PersistentKeepaliveInterval);
        Assert.True(p.ReplaceAllowedIps);
        Assert.False(p.Remove);
        Assert.Equal(
            [new AllowedIpChange(IPAddress.Parse("192.168.4.4"), 32, false), new AllowedIpChange(IPAddress.Parse("10.0.0.0"), 8, true)],
            p.AllowedIps);

        Assert.Equal(Hex(KeyA), r.Peers[1].PublicKey);
        Assert.True(r.Peers[1].Remove);
    }

    [Fact]
    public void AbsentKeysStayUnset()
    {
        var r = Parse("public_key=" + KeyA);
        Assert.Null(r.PrivateKey);
        Assert.Null(r.ListenPort);
        Assert.Null(r.Fwmark);
        Assert.False(r.ReplacePeers);
        var p = Assert.Single(r.Peers);
        Assert.Null(p.PresharedKey);
        Assert.Null(p.Endpoint);
        Assert.Null(p.PersistentKeepaliveInterval);
        Assert.False(p.ReplaceAllowedIps);
        Assert.False(p.UpdateOnly);
        Assert.Empty(p.AllowedIps);
    }

    [Fact]
    public void PrivateKeyIsClampedUnlessZero()
    {
        Assert.Equal(new byte[32], Parse("private_key=" + Zero).PrivateKey);
        var k = Parse("private_key=" + new string('f', 64)).PrivateKey!;
        Assert.Equal(0xf8, k[0]);
        Assert.Equal(0x7f, k[31]);
        Assert.All(k[1..31], b => Assert.Equal(0xff, b));
    }

    [Fact]
    public void UpperCaseHexIsAcceptedLikeGo() =>
        Assert.Equal(Hex(KeyB), Parse("public_key=" + KeyB.ToUpperInvariant()).Peers[0].PublicKey);

    [Fact]
    public void ZeroPresharedKeyMeansClear() => Assert.Equal(new byte[32], Parse("public_key=" + KeyA, "preshared_key=" + Zero).Peers[0].PresharedKey);

    [Theory]
    [InlineData("listen_port=0", 0)]
    [InlineData("listen_port=65535", 65535)]
    [InlineData("listen_port=00080", 80)] // Go's strconv.ParseUint allows leading zeros
    public void ListenPortRange(string line, int expected) => Assert.Equal(expected, Parse(line).ListenPort);

    [Theory]
    [InlineData("fwmark=4294967295", 4294967295u)]
    [InlineData("fwmark=51820", 51820u)]
    public void FwmarkRange(string line, uint expected) => Assert.Equal(expected, Parse(line).Fwmark);

    [Theory]
    [InlineData("1.2.3.4:51820", "1.2.3.4", 51820)]
    [InlineData("[::1]:9998", "::1", 9998)]
    [InlineData("127.212.121.99:9999", "127.212.121.99", 9999)]
    [InlineData("[fd00::1:2]:0", "fd00::1:2", 0)]
    [InlineData("[::ffff:10.0.0.1]:1", "10.0.0.1", 1)] // NetEndpoint stores v4-mapped as IPv4
    public void EndpointForms(string value, string address, int port)
    {
        var ep = Parse("public_key=" + KeyA, "endpoint=" + value).Peers[0].Endpoint!.Value;
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), ep.ToIPEndPoint());
    }

    [Fact]
    public void NamedZoneIsResolvedToTheInterfaceIndex()
    {
        // /sys/class/net/lo/ifindex is an independent source for the loopback interface index on Linux.
        const string ifindex = "/sys/class/net/lo/ifindex";
        if (!File.Exists(ifindex)) return;
        uint expected = uint.Parse(File.ReadAllText(ifindex).Trim());
        var ep = Parse("public_key=" + KeyA, "endpoint=[fe80::1%lo]:51820").Peers[0].Endpoint!.Value;
        Assert.Equal(expected, ep.ScopeId);
        // A number is an index: kept when an interface has it, dropped when none has (as wireguard-go shows it).
        Assert.Equal(expected, Parse("public_key=" + KeyA, $"endpoint=[fe80::1%{expected}]:1").Peers[0].Endpoint!.Value.ScopeId);
        Assert.Equal(0u, Parse("public_key=" + KeyA, "endpoint=[fe80::1%4000000000]:1").Peers[0].Endpoint!.Value.ScopeId);

        // And a link-local endpoint on a known interface is printed with the name, as getnameinfo does.
        var s = new DeviceSnapshot();
        s.Peers.Add(new PeerSnapshot { PublicKey = new byte[32], Endpoint = ep });
        var writer = new StringWriter();
        UapiWriter.WriteGet(s, writer);
        Assert.Contains("\nendpoint=[fe80::1%lo]:51820\n", writer.ToString());
    }

    [Theory]
    [InlineData("0.0.0.0/0", "0.0.0.0", 0)]
    [InlineData("::/0", "::", 0)]
    [InlineData("192.95.5.93/27", "192.95.5.64", 27)] // host bits cleared on parse, as wireguard-go does
    [InlineData("2607:5300:6d8a:6bf8:dab1:f1df:c05f:1523/83", "2607:5300:6d8a:6bf8:dab1:e000::", 83)]
    [InlineData("::ffff:10.1.2.3/128", "::ffff:10.1.2.3", 128)]
    [InlineData("1:2:3:4:5:6:1.2.3.4/96", "1:2:3:4:5:6::", 96)]
    // Debian's wireguard-go (Go 1.19's strconv.Atoi for the length) accepts these; checked against it.
    [InlineData("1.2.3.4/032", "1.2.3.4", 32)]
    [InlineData("10.0.0.0/024", "10.0.0.0", 24)]
    [InlineData("10.0.0.0/+24", "10.0.0.0", 24)]
    [InlineData("10.0.0.0/-0", "0.0.0.0", 0)]
    public void AllowedIpForms(string value, string address, int length)
    {
        var change = Assert.Single(Parse("public_key=" + KeyA, "allowed_ip=" + value).Peers[0].AllowedIps);
        Assert.Equal(new AllowedIpChange(IPAddress.Parse(address), length, false), change);
    }

    [Fact]
    public void ReplaceAllowedIpsDiscardsEarlierLinesOfTheSection()
    {
        var p = Parse("public_key=" + KeyA, "allowed_ip=10.0.0.1/32", "replace_allowed_ips=true", "allowed_ip=10.0.0.2/32").Peers[0];
        Assert.True(p.ReplaceAllowedIps);
        Assert.Equal([new AllowedIpChange(IPAddress.Parse("10.0.0.2"), 32, false)], p.AllowedIps);
    }

    [Fact]
    public void LinesAfterRemoveAreValidatedButNotRecorded()
    {
        var p = Parse("public_key=" + KeyA, "allowed_ip=10.0.0.1/32", "remove=true", "allowed_ip=10.0.0.2/32", "endpoint=1.1.1.1:1").Peers[0];
        Assert.True(p.Remove);
        Assert.Null(p.Endpoint);
        Assert.Equal([new AllowedIpChange(IPAddress.Parse("10.0.0.1"), 32, false)], p.AllowedIps);

        Assert.False(UapiParser.TryParseSet(Body(["public_key=" + KeyA, "remove=true", "allowed_ip=10.0.0.2/40"]), out _, out var error));
        Assert.Equal(UapiError.ErrnoInvalid, error.Errno);
    }

    [Fact]
    public void UpdateOnlyAndProtocolVersionAreAccepted()
    {
        var p = Parse("public_key=" + KeyA, "protocol_version=1", "update_only=true").Peers[0];
        Assert.True(p.UpdateOnly);
    }

    [Fact]
    public void TheSamePeerMayAppearTwice()
    {
        var r = Parse("public_key=" + KeyA, "allowed_ip=10.0.0.1/32", "public_key=" + KeyA, "remove=true");
        Assert.Equal(2, r.Peers.Count);
        Assert.Equal(r.Peers[0].PublicKey, r.Peers[1].PublicKey);
    }

    [Fact]
    public void EmptyLineEndsTheRequestAndCarriageReturnIsStripped()
    {
        var r = Parse("listen_port=1\r", "", "bogus line that is never read");
        Assert.Equal(1, r.ListenPort);
    }

    [Fact]
    public void LastLineWithoutNewlineIsParsed()
    {
        Assert.True(UapiParser.TryParseSet("listen_port=7\nfwmark=3"u8, out var r, out var error), error.ToString());
        Assert.Equal(7, r.ListenPort);
        Assert.Equal(3u, r.Fwmark);
    }

    [Fact]
    public void EmptyBodyIsAnEmptyRequest()
    {
        Assert.True(UapiParser.TryParseSet(ReadOnlySpan<byte>.Empty, out var r, out _));
        Assert.Null(r.ListenPort);
        Assert.Empty(r.Peers);
        Assert.True(UapiParser.TryParseSet("\r\nlisten_port=x\n"u8, out r, out _));
        Assert.Null(r.ListenPort);
    }

    [Fact]
    public void OversizedLineIsEio()
    {
        string huge = "private_key=" + new string('a', UapiProtocol.MaxLineLength + 10);
        Assert.False(UapiParser.TryParseSet(Body([huge, "listen_port=1"]), out _, out var error));
        Assert.Equal(UapiError.ErrnoIo, error.Errno);
        Assert.Equal($"failed to read input: line longer than {UapiProtocol.MaxLineLength} bytes", error.Message);

        // The bound counts the line's bytes without its '\n'.
        string value = new string('v', UapiProtocol.MaxLineLength - "x=".Length);
        Assert.True(UapiParser.TryParseSet(Body(["x=" + value]), out var r, out error, isExtensionDeviceKey: k => k == "x"), error.ToString());
        Assert.Equal(value, Assert.Single(r.ExtensionKeys).Value);
        Assert.False(UapiParser.TryParseSet(Body(["x=" + value + "v"]), out _, out error, isExtensionDeviceKey: k => k == "x"));
        Assert.Equal(UapiError.ErrnoIo, error.Errno);
    }

    [Fact]
    public void TheFirstBadLineDecidesTheError()
    {
        Assert.False(UapiParser.TryParseSet(Body(["listen_port=x", "no equals sign", "private_key=" + new string('z', 100_000)]), out _, out var error));
        Assert.Equal("invalid listen_port \"x\": not a number from 0 to 65535", error.Message);
    }

    [Fact]
    public void InvalidUtf8BecomesReplacementCharacters()
    {
        Assert.False(UapiParser.TryParseSet([(byte)'b', 0xff, (byte)'d', .. "=1\n"u8], out _, out var error));
        Assert.Equal(UapiError.ErrnoInvalid, error.Errno);
        Assert.Equal("invalid UAPI device key \"b\\ufffdd\" (value \"1\")", error.Message); // U+FFFD, escaped
    }

    [Fact]
    public void ExtensionKeysAreKeptInOrderWhenAccepted()
    {
        string[] lines = ["jc=4", "jmin=40", "public_key=" + KeyA, "advanced=x", "advanced=y"];
        Assert.True(UapiParser.TryParseSet(Body(lines), out var r, out _, k => k == "advanced", k => k is "jc" or "jmin"));
        Assert.Equal([new("jc", "4"), new("jmin", "40")], r!.ExtensionKeys);
        Assert.Equal([new("advanced", "x"), new("advanced", "y")], r.Peers[0].ExtensionKeys);

        // Without the predicates the same keys are errors.
        Assert.False(UapiParser.TryParseSet(Body(lines), out _, out var error));
        Assert.Equal("invalid UAPI device key \"jc\" (value \"4\")", error.Message);
    }

    public static TheoryData<string[], int, string> Rejections => new()
    {
        // Device section.
        { ["private_key=abc"], -22, "invalid private_key (value not shown, 3 characters): expected 64 hex digits, got 3 characters" },
        { ["private_key=" + new string('x', 64)], -22, "invalid private_key (value not shown, 64 characters): not a hex string" },
        { ["listen_port=65536"], -22, "invalid listen_port \"65536\": not a number from 0 to 65535" },
        { ["listen_port=-1"], -22, "invalid listen_port \"-1\": not a number from 0 to 65535" },
        { ["listen_port=+1"], -22, "invalid listen_port \"+1\": not a number from 0 to 65535" },
        { ["listen_port="], -22, "invalid listen_port \"\": not a number from 0 to 65535" },
        { ["listen_port= 1"], -22, "invalid listen_port \" 1\": not a number from 0 to 65535" },
        { ["fwmark=4294967296"], -22, "invalid fwmark \"4294967296\": not a number from 0 to 4294967295" },
        { ["fwmark=0x10"], -22, "invalid fwmark \"0x10\": not a number from 0 to 4294967295" },
        { ["replace_peers=false"], -22, "invalid replace_peers \"false\": the only accepted value is \"true\"" },
        { ["replace_peers=TRUE"], -22, "invalid replace_peers \"TRUE\": the only accepted value is \"true\"" },
        { ["bogus=1"], -22, "invalid UAPI device key \"bogus\" (value \"1\")" },
        { ["endpoint=1.2.3.4:5"], -22, "invalid UAPI device key \"endpoint\" (value \"1.2.3.4:5\"): peer keys must follow a public_key line" },
        { ["no equals sign"], -71, "failed to parse line \"no equals sign\": expected key=value" },
        // Peer section.
        { ["public_key=" + KeyA[..63]], -22, $"invalid public_key \"{KeyA[..63]}\": expected 64 hex digits, got 63 characters" },
        { ["public_key=" + KeyA, "listen_port=1"], -22, "invalid UAPI peer key \"listen_port\" (value \"1\"): device keys must come before the first public_key line" },
        { ["public_key=" + KeyA, "bogus=1"], -22, "invalid UAPI peer key \"bogus\" (value \"1\")" },
        { ["public_key=" + KeyA, "remove=false"], -22, "invalid remove \"false\": the only accepted value is \"true\"" },
        { ["public_key=" + KeyA, "update_only=1"], -22, "invalid update_only \"1\": the only accepted value is \"true\"" },
        { ["public_key=" + KeyA, "replace_allowed_ips=yes"], -22, "invalid replace_allowed_ips \"yes\": the only accepted value is \"true\"" },
        { ["public_key=" + KeyA, "preshared_key=12"], -22, "invalid preshared_key (value not shown, 2 characters): expected 64 hex digits, got 2 characters" },
        { ["public_key=" + KeyA, "persistent_keepalive_interval=65536"], -22, "invalid persistent_keepalive_interval \"65536\": not a number from 0 to 65535" },
        { ["public_key=" + KeyA, "protocol_version=2"], -22, "invalid protocol_version \"2\": only version 1 is supported" },
        { ["public_key=" + KeyA, "allowed_ip=10.0.0.0/33"], -22, "invalid allowed_ip \"10.0.0.0/33\": prefix length exceeds 32" },
        { ["public_key=" + KeyA, "allowed_ip=::/129"], -22, "invalid allowed_ip \"::/129\": prefix length exceeds 128" },
        { ["public_key=" + KeyA, "allowed_ip=10.0.0.0"], -22, "invalid allowed_ip \"10.0.0.0\": missing \"/\" and prefix length" },
        { ["public_key=" + KeyA, "allowed_ip=10.0.0.300/32"], -22, "invalid allowed_ip \"10.0.0.300/32\": not an IP address: IPv4 field is greater than 255" },
        { ["public_key=" + KeyA, "allowed_ip=10.0.0.01/32"], -22, "invalid allowed_ip \"10.0.0.01/32\": not an IP address: IPv4 field has a leading zero" },
        { ["public_key=" + KeyA, "allowed_ip=10.0.0/24"], -22, "invalid allowed_ip \"10.0.0/24\": not an IP address: IPv4 address has fewer than 4 fields" },
        { ["public_key=" + KeyA, "allowed_ip=10.0.0.0/-1"], -22, "invalid allowed_ip \"10.0.0.0/-1\": prefix length \"-1\" is not a decimal number" },
        { ["public_key=" + KeyA, "allowed_ip=fe80::1%eth0/64"], -22, "invalid allowed_ip \"fe80::1%eth0/64\": an IPv6 zone is not allowed in a prefix" },
        { ["public_key=" + KeyA, "allowed_ip=1::2::3/64"], -22, "invalid allowed_ip \"1::2::3/64\": not an IP address: IPv6 address has more than one \"::\"" },
        { ["public_key=" + KeyA, "allowed_ip=12345::/64"], -22, "invalid allowed_ip \"12345::/64\": not an IP address: IPv6 field has more than 4 hex digits" },
        { ["public_key=" + KeyA, "allowed_ip=1:2:3:4:5:6:7/64"], -22, "invalid allowed_ip \"1:2:3:4:5:6:7/64\": not an IP address: IPv6 address is too short" },
        { ["public_key=" + KeyA, "allowed_ip=1:2:3:4:5:6:7:8:9/64"], -22, "invalid allowed_ip \"1:2:3:4:5:6:7:8:9/64\": not an IP address: IPv6 address is too long" },
        { ["public_key=" + KeyA, "allowed_ip=1:2:3:4::5:6:7:8/64"], -22, "invalid allowed_ip \"1:2:3:4::5:6:7:8/64\": not an IP address: \"::\" must stand for at least one zero field" },
        { ["public_key=" + KeyA, "allowed_ip=--10.0.0.0/8"], -22, "invalid allowed_ip \"--10.0.0.0/8\": not an IP address: unexpected character '-' in IPv4 address" },
        { ["public_key=" + KeyA, "allowed_ip=host/32"], -22, "invalid allowed_ip \"host/32\": not an IP address: not an IPv4 or IPv6 address" },
        { ["public_key=" + KeyA, "endpoint=1.2.3.4"], -22, "invalid endpoint \"1.2.3.4\": missing \":port\"" },
        { ["public_key=" + KeyA, "endpoint=1.2.3.4:"], -22, "invalid endpoint \"1.2.3.4:\": missing port after ':'" },
        { ["public_key=" + KeyA, "endpoint=1.2.3.4:65536"], -22, "invalid endpoint \"1.2.3.4:65536\": port \"65536\" is not a number from 0 to 65535" },
        { ["public_key=" + KeyA, "endpoint=::1:5"], -22, "invalid endpoint \"::1:5\": an IPv6 address must be in square brackets" },
        { ["public_key=" + KeyA, "endpoint=[1.2.3.4]:5"], -22, "invalid endpoint \"[1.2.3.4]:5\": square brackets are only for IPv6 addresses" },
        { ["public_key=" + KeyA, "endpoint=[::1:5"], -22, "invalid endpoint \"[::1:5\": missing ']' after the IPv6 address" },
        { ["public_key=" + KeyA, "endpoint=example.com:51820"], -22, "invalid endpoint \"example.com:51820\": not a numeric IP address (host names are resolved by wg(8), not by the daemon): unexpected character 'e' in IPv4 address" },
        { ["public_key=" + KeyA, "endpoint=[fe80::1%nosuchif0]:5"], -22, "invalid endpoint \"[fe80::1%nosuchif0]:5\": unknown IPv6 zone \"nosuchif0\" (not a number or an interface name)" },
        // Untrusted text is escaped in messages.
        { ["bad\u0001key=\"v\""], -22, "invalid UAPI device key \"bad\\x01key\" (value \"\\\"v\\\"\")" },
        // A '\n' inside a string ends the line: "line" is a line of its own.
        { ["line\nbreak"], -71, "failed to parse line \"line\": expected key=value" },
    };

    [Theory]
    [MemberData(nameof(Rejections))]
    public void BadLinesAreRejectedWithErrnoAndMessage(string[] lines, int errno, string message)
    {
        Assert.False(UapiParser.TryParseSet(Body(lines), out var request, out var error));
        Assert.Null(request);
        Assert.Equal(errno, error.Errno);
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void LongValuesAreCutInMessages()
    {
        Assert.False(UapiParser.TryParseSet(Body(["public_key=" + KeyA, "allowed_ip=" + new string('9', 5000)]), out _, out var error));
        Assert.True(error.Message.Length < 300, error.Message);
        Assert.Contains("(5000 characters)", error.Message);
    }

    [Fact]
    public void RandomLinesNeverThrow()
    {
        var keys = Gen.OneOf("private_key", "listen_port", "fwmark", "replace_peers", "public_key", "remove",
            "update_only", "preshared_key", "endpoint", "persistent_keepalive_interval", "replace_allowed_ips",
            "allowed_ip", "protocol_version", "x", "");
        var values = Gen.OneOf(
            Gen.String,
            Gen.String[Gen.Char["0123456789abcdefABCDEF:.[]%/-"], 0, 80],
            Gen.Const(KeyA), Gen.Const("true"), Gen.Const("1"));
        var line = Gen.OneOf(
            Gen.Select(keys, values, (k, v) => k + "=" + v),
            Gen.String);
        line.Array[0, 12].Sample(lines =>
        {
            bool ok = UapiParser.TryParseSet(Body(lines), out var request, out var error);
            Assert.Equal(ok, request is not null);
            Assert.Equal(ok, error.Errno == 0);
            if (!ok) Assert.NotEmpty(error.Message);
        }, iter: 20_000);
    }

    [Fact]
    public void AddressParserAgreesWithTheFrameworkOnCanonicalAddresses()
    {
        // Any address printed by IPAddress (a different implementation) must parse back to the same bytes.
        Gen.Byte.Array[16].Sample(bytes =>
        {
            var text = new IPAddress(bytes).ToString();
            var p = Parse("public_key=" + KeyA, $"allowed_ip={text}/128").Peers[0].AllowedIps[0];
            Assert.Equal(bytes, p.Address.GetAddressBytes());
        });
        Gen.Byte.Array[4].Sample(bytes =>
        {
            var text = new IPAddress(bytes).ToString();
            var p = Parse("public_key=" + KeyA, $"allowed_ip={text}/32").Peers[0].AllowedIps[0];
            Assert.Equal(bytes, p.Address.GetAddressBytes());
        });
    }

    [Fact]
    public void HexKeysFromKeyEncodingParse()
    {
        Gen.Byte.Array[32].Sample(key =>
        {
            var p = Parse("public_key=" + KeyEncoding.ToHex(key)).Peers[0];
            Assert.Equal(key, p.PublicKey);
        });
    }
}
