using System.Net;
using System.Text;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Tun;
using VeilTun.Uapi;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>
/// Scale: 10,000 peers and 100,000 allowed IPs on one device, configured through the UAPI as `wg
/// setconf` would and dumped back as `wg show dump` reads it. Correctness only; the timings (setconf and dump
/// against wireguard-go) are measured by hand in docs/performance.md, not asserted here.
/// </summary>
public class ScaleTests
{
    private const int Peers = 10_000;
    private const int IpsPerPeer = 10; // 100,000 in all: 8 IPv4 /32 + 2 IPv6 /128 per peer

    private static IPAddress V4(int peer, int i) => new([(byte)(10 + i), (byte)(peer >> 8), (byte)peer, 1]);

    private static IPAddress V6(int peer, int i) =>
        IPAddress.Parse($"2001:db8:{peer:x}:{i:x}::1");

    [Fact]
    public void TenThousandPeersWithAHundredThousandAllowedIpsRoundTripThroughTheUapi()
    {
        using var tunnel = new Tunnel(new TunnelOptions { Tun = new InMemoryTun("scale0"), StartUp = false });
        var keys = new byte[Peers][];
        var lines = new List<string> { $"private_key={Convert.ToHexStringLower(SecretKey.Generate().Bytes)}", "replace_peers=true" };
        var rng = new Random(5);
        for (int p = 0; p < Peers; p++)
        {
            keys[p] = new byte[32];
            rng.NextBytes(keys[p]);
            keys[p][31] &= 0x7f;
            lines.Add($"public_key={Convert.ToHexStringLower(keys[p])}");
            lines.Add($"endpoint=198.51.100.{p % 250 + 1}:{10000 + p}");
            lines.Add("replace_allowed_ips=true");
            for (int i = 0; i < 8; i++) lines.Add($"allowed_ip={V4(p, i)}/32");
            for (int i = 0; i < 2; i++) lines.Add($"allowed_ip={V6(p, i)}/128");
        }
        Assert.True(UapiParser.TryParseSet(VeilTun.Tests.Uapi.UapiParserTests.Body(lines), out var request, out var error), error.Message);
        Assert.Null(tunnel.Configure(request));

        var text = new StringWriter();
        UapiWriter.WriteGet(tunnel.GetSnapshot(), text);
        var dump = text.ToString().Split('\n');
        Assert.Equal(Peers, dump.Count(l => l.StartsWith("public_key=", StringComparison.Ordinal)));
        Assert.Equal(Peers * IpsPerPeer, dump.Count(l => l.StartsWith("allowed_ip=", StringComparison.Ordinal)));

        // Every peer comes back with exactly its own prefixes, in order, after its own public key.
        var byKey = new Dictionary<string, List<string>>();
        List<string>? current = null;
        foreach (var l in dump)
        {
            if (l.StartsWith("public_key=", StringComparison.Ordinal)) byKey[l[11..]] = current = new List<string>();
            else if (l.StartsWith("allowed_ip=", StringComparison.Ordinal)) current!.Add(l[11..]);
        }
        for (int p = 0; p < Peers; p += 997)
        {
            var expected = Enumerable.Range(0, 8).Select(i => $"{V4(p, i)}/32").Concat(Enumerable.Range(0, 2).Select(i => $"{V6(p, i)}/128"));
            Assert.Equal(expected, byKey[Convert.ToHexStringLower(keys[p])]);
        }

        // Removing half the peers leaves exactly the other half's prefixes.
        var removal = new List<string>();
        for (int p = 0; p < Peers; p += 2) removal.AddRange([$"public_key={Convert.ToHexStringLower(keys[p])}", "remove=true"]);
        Assert.True(UapiParser.TryParseSet(VeilTun.Tests.Uapi.UapiParserTests.Body(removal), out var remove, out _));
        Assert.Null(tunnel.Configure(remove));
        text = new StringWriter();
        UapiWriter.WriteGet(tunnel.GetSnapshot(), text);
        var after = text.ToString();
        Assert.Equal(Peers / 2, after.Split('\n').Count(l => l.StartsWith("public_key=", StringComparison.Ordinal)));
        Assert.Equal(Peers / 2 * IpsPerPeer, after.Split('\n').Count(l => l.StartsWith("allowed_ip=", StringComparison.Ordinal)));
        Assert.DoesNotContain($"allowed_ip={V4(0, 0)}/32\n", after);
        Assert.Contains($"allowed_ip={V4(1, 0)}/32\n", after);
    }
}
