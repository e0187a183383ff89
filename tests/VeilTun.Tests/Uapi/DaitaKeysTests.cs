using VeilTun.Crypto;
using VeilTun.Daita;
using VeilTun.Device;
using VeilTun.Tun;
using VeilTun.Uapi;
using Xunit;

namespace VeilTun.Tests.Uapi;

/// <summary>GotaTun 0.8.1's per-peer DAITA UAPI keys (GotaTun's device/uapi/command.rs), parsed and applied.</summary>
public class DaitaKeysTests
{
    // Two machines of the maybenot 2.2.2 crate tests: the no-op machine and the simulator example.
    private const string NoOp = "02eNpjYEAHjOgCAAA0AAI=";
    private const string Example = "02eNp1ibEJAEAIA5Nf7B3N0v1cSESwEL0m5A6YvBqSgP7WeXfM5UoBW7ICYg==";

    private static List<KeyValuePair<string, string>> Keys(params string[] lines) =>
        lines.Select(l => l.Split('=', 2)).Select(p => new KeyValuePair<string, string>(p[0], p[1])).ToList();

    [Theory]
    // Rust's f64 Display: shortest round-trip digits, positional, no ".0".
    [InlineData(0.0, "0")]
    [InlineData(1.0, "1")]
    [InlineData(0.5, "0.5")]
    [InlineData(0.123, "0.123")]
    [InlineData(1e-7, "0.0000001")]
    [InlineData(2.5e-10, "0.00000000025")]
    [InlineData(1e21, "1000000000000000000000")]
    [InlineData(123.456, "123.456")]
    [InlineData(2.9802322387695312E-08, "0.000000029802322387695312")] // 2^-25: .NET's own shortest form does not round-trip
    [InlineData(-0.5, "-0.5")]
    public void FractionsPrintAsRustDisplays(double value, string expected) =>
        Assert.Equal(expected, DaitaKeys.FormatRustF64(value));

    [Fact]
    public void EnableThenMachinesAndLimitsBuildSettings()
    {
        Assert.True(DaitaKeys.TryParse(Keys("daita_enable=1", $"daita_machine={NoOp}", $"daita_machine={Example}",
            "daita_max_decoy_frac=0.5", "daita_max_delay_frac=0.25", "daita_max_delayed_packets=10", "daita_min_delay_capacity=3"),
            out bool touched, out var s, out var error), error);
        Assert.True(touched);
        Assert.Equal(2, s!.Machines.Count);
        Assert.Equal([NoOp, Example], s.MachineStrings);
        Assert.Equal((0.5, 0.25, 10, 3), (s.MaxDecoyFrac, s.MaxDelayFrac, s.MaxDelayedPackets, s.MinDelayCapacity));
    }

    [Fact]
    public void EnableAloneGivesGotaTunsDefaults()
    {
        Assert.True(DaitaKeys.TryParse(Keys("daita_enable=1"), out _, out var s, out _));
        Assert.Equal((0, 0.0, 0.0, 1024, 50), (s!.Machines.Count, s.MaxDecoyFrac, s.MaxDelayFrac, s.MaxDelayedPackets, s.MinDelayCapacity));
    }

    [Fact]
    public void NoDaitaKeysLeaveSettingsAloneAndZeroTurnsItOff()
    {
        Assert.True(DaitaKeys.TryParse(Keys("something_else=1"), out bool touched, out _, out _));
        Assert.False(touched);
        Assert.True(DaitaKeys.TryParse(Keys("daita_enable=1", $"daita_machine={NoOp}", "daita_enable=0"), out touched, out var s, out _));
        Assert.True(touched);
        Assert.Null(s);
    }

    [Fact]
    public void ASecondEnableStartsAgainFromTheDefaults()
    {
        Assert.True(DaitaKeys.TryParse(Keys("daita_enable=1", $"daita_machine={NoOp}", "daita_enable=1", $"daita_machine={Example}"),
            out _, out var s, out _));
        Assert.Equal([Example], s!.MachineStrings);
    }

    [Theory]
    [InlineData("daita_machine=" + NoOp)] // before daita_enable
    [InlineData("daita_enable=true")] // only "1" and "0"
    [InlineData("daita_enable=1", "daita_machine=02eNpjYE")] // truncated machine
    [InlineData("daita_enable=1", "daita_max_decoy_frac=1.5")]
    [InlineData("daita_enable=1", "daita_max_delay_frac=-0.1")]
    [InlineData("daita_enable=1", "daita_max_delay_frac=NaN")]
    [InlineData("daita_enable=1", "daita_max_delayed_packets=0")] // NonZeroUsize
    [InlineData("daita_enable=1", "daita_min_delay_capacity=-1")]
    [InlineData("daita_enable=0", "daita_max_decoy_frac=0.5")] // after turning it off
    public void InvalidKeysAreRejectedWithAReason(params string[] lines)
    {
        Assert.False(DaitaKeys.TryParse(Keys(lines), out _, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void ATunnelTakesDaitaOverUapiAndEchoesItWithCounters()
    {
        using var tunnel = new Tunnel(new TunnelOptions { Tun = new InMemoryTun("daita0") });
        var peer = SecretKey.Generate().DerivePublicKey();
        string hex = Convert.ToHexStringLower(peer.Bytes);
        Assert.Null(Set(tunnel, $"public_key={hex}", "allowed_ip=192.0.2.2/32"));

        // An invalid set fails with EINVAL and changes nothing (not even the key before it).
        var bad = Set(tunnel, $"public_key={hex}", "persistent_keepalive_interval=25", "daita_enable=1", "daita_max_decoy_frac=2");
        Assert.Equal(-22, bad?.Errno); // printed as errno=-22, as wireguard-go does
        Assert.DoesNotContain("daita_enable", Get(tunnel));
        Assert.Contains("persistent_keepalive_interval=0", Get(tunnel));

        Assert.Null(Set(tunnel, $"public_key={hex}", "daita_enable=1", $"daita_machine={Example}", "daita_max_decoy_frac=0.5"));
        var text = Get(tunnel);
        var lines = text.Split('\n');
        int at = Array.IndexOf(lines, "daita_enable=1");
        Assert.True(at > 0, text);
        Assert.Equal(
        [
            "daita_enable=1", $"daita_machine={Example}", "daita_max_delayed_packets=1024", "daita_min_delay_capacity=50",
            "daita_max_decoy_frac=0.5", "daita_max_delay_frac=0", "daita_rx_padding_bytes=0", "daita_tx_padding_bytes=0",
            "daita_rx_decoy_packet_bytes=0", "daita_tx_decoy_packet_bytes=0",
        ], lines[at..(at + 10)]);

        // A later set without DAITA keys keeps it; daita_enable=0 removes it.
        Assert.Null(Set(tunnel, $"public_key={hex}", "persistent_keepalive_interval=5"));
        Assert.Contains("daita_enable=1", Get(tunnel));
        Assert.Null(Set(tunnel, $"public_key={hex}", "daita_enable=0"));
        Assert.DoesNotContain("daita_", Get(tunnel));
    }

    private static UapiError? Set(Tunnel tunnel, params string[] lines)
    {
        if (!UapiParser.TryParseSet(UapiParserTests.Body(lines), out var request, out var error, isExtensionPeerKey: DaitaKeys.IsSetKey)) return error;
        return tunnel.Configure(request);
    }

    private static string Get(Tunnel tunnel)
    {
        var w = new StringWriter();
        UapiWriter.WriteGet(tunnel.GetSnapshot(), w);
        return w.ToString();
    }
}
