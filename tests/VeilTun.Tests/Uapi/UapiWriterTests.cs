using System.Net;
using VeilTun.Uapi;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Uapi;

public class UapiWriterTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    private static string Get(DeviceSnapshot snapshot)
    {
        var writer = new StringWriter();
        UapiWriter.WriteGet(snapshot, writer);
        return writer.ToString();
    }

    internal static DeviceSnapshot SampleSnapshot()
    {
        var s = new DeviceSnapshot
        {
            PrivateKey = Hex("e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a"),
            ListenPort = 51820,
            Fwmark = 0x1234,
        };
        s.ExtraKeys.Add(new("jc", "4"));

        var p1 = new PeerSnapshot
        {
            PublicKey = Hex(UapiParserTests.KeyB),
            Endpoint = NetEndpoint.FromIPv4([192, 168, 1, 1], 51820),
            LastHandshakeTime = (1700000000, 123456789),
            TxBytes = 1428,
            RxBytes = 1372,
            PersistentKeepaliveInterval = 25,
        };
        p1.AllowedIps.Add((IPAddress.Parse("10.0.0.5"), 24)); // printed masked
        p1.AllowedIps.Add((IPAddress.Parse("fd00::"), 64));
        p1.AllowedIps.Add((IPAddress.Parse("2001:db8::1"), 128));
        s.Peers.Add(p1);

        var p2 = new PeerSnapshot
        {
            PublicKey = Hex(UapiParserTests.KeyA),
            PresharedKey = Hex(UapiParserTests.Psk),
            Endpoint = NetEndpoint.FromIPv6(Hex("20010db8000000000000000000000001"), 9998),
        };
        p2.ExtraKeys.Add(new("advanced_security", "on"));
        s.Peers.Add(p2);
        return s;
    }

    [Fact]
    public void GetOutputIsByteExactInWireguardGoOrder()
    {
        // Expected text written out by hand from wg-go IpcGetOperation's order.
        const string expected =
            "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n" +
            "listen_port=51820\n" +
            "fwmark=4660\n" +
            "jc=4\n" +
            "public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33\n" +
            "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n" +
            "protocol_version=1\n" +
            "endpoint=192.168.1.1:51820\n" +
            "last_handshake_time_sec=1700000000\n" +
            "last_handshake_time_nsec=123456789\n" +
            "tx_bytes=1428\n" +
            "rx_bytes=1372\n" +
            "persistent_keepalive_interval=25\n" +
            "allowed_ip=10.0.0.0/24\n" +
            "allowed_ip=fd00::/64\n" +
            "allowed_ip=2001:db8::1/128\n" +
            "public_key=1111111111111111111111111111111111111111111111111111111111111111\n" +
            "preshared_key=188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52\n" +
            "protocol_version=1\n" +
            "endpoint=[2001:db8::1]:9998\n" +
            "last_handshake_time_sec=0\n" +
            "last_handshake_time_nsec=0\n" +
            "tx_bytes=0\n" +
            "rx_bytes=0\n" +
            "persistent_keepalive_interval=0\n" +
            "advanced_security=on\n";
        Assert.Equal(expected, Get(SampleSnapshot()));
    }

    [Fact]
    public void UnsetDeviceValuesAndUnknownEndpointAreOmitted()
    {
        var s = new DeviceSnapshot { PrivateKey = new byte[32] };
        s.Peers.Add(new PeerSnapshot { PublicKey = Hex(UapiParserTests.KeyA) });
        Assert.Equal(
            "public_key=1111111111111111111111111111111111111111111111111111111111111111\n" +
            "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n" +
            "protocol_version=1\n" +
            "last_handshake_time_sec=0\n" +
            "last_handshake_time_nsec=0\n" +
            "tx_bytes=0\n" +
            "rx_bytes=0\n" +
            "persistent_keepalive_interval=0\n",
            Get(s));
        Assert.Equal("", Get(new DeviceSnapshot()));
    }

    [Theory] // Go netip formatting (RFC 5952 §4): dotted tail only for v4-mapped.
    [InlineData("0:0:0:0:0:ffff:102:304", 128, "::ffff:1.2.3.4/128")]
    [InlineData("0:0:0:0:0:0:102:304", 128, "::102:304/128")]
    [InlineData("1:0:0:1:0:0:0:0", 64, "1:0:0:1::/64")]
    [InlineData("1:0:0:2:0:0:3:4", 128, "1::2:0:0:3:4/128")]
    [InlineData("1:0:2:3:4:5:6:7", 128, "1:0:2:3:4:5:6:7/128")]
    [InlineData("0:0:0:0:0:0:0:1", 128, "::1/128")]
    [InlineData("2607:5300:6d8a:6bf8:dab1:f1df:c05f:1523", 83, "2607:5300:6d8a:6bf8:dab1:e000::/83")] // host bits cleared, as wireguard-go does
    [InlineData("192.95.5.93", 27, "192.95.5.64/27")]
    [InlineData("0.0.0.0", 0, "0.0.0.0/0")]
    public void AllowedIpsArePrintedMaskedInGoFormat(string address, int length, string expected)
    {
        var s = new DeviceSnapshot();
        var p = new PeerSnapshot { PublicKey = new byte[32] };
        p.AllowedIps.Add((IPAddress.Parse(address), length));
        s.Peers.Add(p);
        Assert.EndsWith($"\nallowed_ip={expected}\n", Get(s));
    }

    [Fact]
    public void ScopedIPv6EndpointKeepsItsZone()
    {
        var s = new DeviceSnapshot();
        // A scope id that is no interface on this machine is printed as a number.
        s.Peers.Add(new PeerSnapshot { PublicKey = new byte[32], Endpoint = NetEndpoint.FromIPv6(Hex("fe800000000000000000000000000001"), 5, 4000000000) });
        Assert.Contains("\nendpoint=[fe80::1%4000000000]:5\n", Get(s));
    }

    [Fact]
    public void InvalidSnapshotsAreProgrammingErrors()
    {
        var badKey = new DeviceSnapshot();
        badKey.Peers.Add(new PeerSnapshot { PublicKey = new byte[31] });
        Assert.Throws<ArgumentException>(() => Get(badKey));

        var badExtra = new DeviceSnapshot();
        badExtra.ExtraKeys.Add(new("a=b", "c"));
        Assert.Throws<ArgumentException>(() => Get(badExtra));

        var badPrefix = new DeviceSnapshot();
        var p = new PeerSnapshot { PublicKey = new byte[32] };
        p.AllowedIps.Add((IPAddress.Parse("10.0.0.0"), 33));
        badPrefix.Peers.Add(p);
        Assert.Throws<ArgumentOutOfRangeException>(() => Get(badPrefix));
    }

    [Fact]
    public void GetOutputParsesBackThroughTheSetParser()
    {
        // The keys shared by get and set (public_key, preshared_key, endpoint, allowed_ip, ...) must round-trip;
        // the read-only counters are dropped first since set does not accept them.
        var lines = Get(SampleSnapshot()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.StartsWith("last_handshake") && !l.StartsWith("tx_bytes") && !l.StartsWith("rx_bytes") &&
                        !l.StartsWith("jc=") && !l.StartsWith("advanced_security="))
            .ToArray();
        Assert.True(UapiParser.TryParseSet(UapiParserTests.Body(lines), out var r, out var error), error.ToString());
        Assert.Equal(51820, r!.ListenPort);
        Assert.Equal(0x1234u, r.Fwmark);
        Assert.Equal(2, r.Peers.Count);
        Assert.Equal(NetEndpoint.FromIPv6(Hex("20010db8000000000000000000000001"), 9998), r.Peers[1].Endpoint);
        Assert.Equal(new AllowedIpChange(IPAddress.Parse("10.0.0.0"), 24, false), r.Peers[0].AllowedIps[0]);
    }
}
