using VeilTun.Diagnostics;
using Xunit;

namespace VeilTun.Tests.Diagnostics;

public sealed class PrometheusTextTests
{
    private static TunnelMetricsSnapshot Snapshot(string iface, string key, long rx, long tx)
    {
        var s = new TunnelMetricsSnapshot { Interface = iface, Time = DateTimeOffset.FromUnixTimeSeconds(1_700_000_100) };
        s.Peers.Add(new PeerMetrics { PublicKey = key, RxBytes = rx, TxBytes = tx, LastHandshake = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_500) });
        s.Drops["invalid_mac1"] = 3;
        s.Pools.Add(new PoolMetrics("large", 2, 1024));
        return s;
    }

    [Fact]
    public void LabelValuesAreEscapedAndEachFamilyIsHeadedOnce()
    {
        var text = PrometheusText.Format(
            Snapshot("wg0", "AAAA+/==", 10, 20),
            Snapshot("we\"ird\\na\nme", "BBBB+/==", 1, 2));
        var lines = text.Split('\n');
        Assert.Equal("", lines[^1]); // ends with a line feed
        foreach (var d in lines.Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)))
            Assert.Single(lines, d);
        Assert.Equal(lines.Count(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)), lines.Count(l => l.StartsWith("# HELP ", StringComparison.Ordinal)));
        Assert.Contains("# TYPE veiltun_peer_bytes_total counter", lines);
        Assert.Contains("# TYPE veiltun_tunnel_peers gauge", lines);
        Assert.Contains("veiltun_peer_bytes_total{interface=\"wg0\",public_key=\"AAAA+/==\",direction=\"rx\"} 10", lines);
        Assert.Contains("veiltun_peer_bytes_total{interface=\"we\\\"ird\\\\na\\nme\",public_key=\"BBBB+/==\",direction=\"tx\"} 2", lines);
        Assert.Contains("veiltun_tunnel_drops_total{interface=\"wg0\",reason=\"invalid_mac1\"} 3", lines);
        Assert.Contains("veiltun_peer_last_handshake_seconds{interface=\"wg0\",public_key=\"AAAA+/==\"} 1700000000.5", lines);
        Assert.Contains("veiltun_peer_last_handshake_age_seconds{interface=\"wg0\",public_key=\"AAAA+/==\"} 99.5", lines);
        // The two interfaces' samples of a family follow its one header, with no other family in between.
        int header = Array.IndexOf(lines, "# TYPE veiltun_tunnel_bytes_total counter");
        Assert.StartsWith("veiltun_tunnel_bytes_total{interface=\"wg0\"", lines[header + 1]);
        Assert.StartsWith("veiltun_tunnel_bytes_total{interface=\"we", lines[header + 3]);
        // Families with no samples (no DAITA, no multihop) are left out whole.
        Assert.DoesNotContain("daita", text);
        Assert.DoesNotContain("multihop", text);
    }

    [Fact]
    public void HelpTextEscapesBackslashAndLineFeedOnly()
    {
        Assert.Equal(@"a\\b\nc""d", PrometheusText.EscapeHelp("a\\b\nc\"d"));
        Assert.Equal(@"a\\b\nc\""d", PrometheusText.EscapeLabelValue("a\\b\nc\"d"));
    }

    [Theory]
    [InlineData("veiltun.peer.bytes", "By", MetricKind.Counter, "veiltun_peer_bytes_total")]
    [InlineData("veiltun.tunnel.drops", "{packet}", MetricKind.Counter, "veiltun_tunnel_drops_total")]
    [InlineData("veiltun.tunnel.peers", "{peer}", MetricKind.UpDownCounter, "veiltun_tunnel_peers")]
    [InlineData("veiltun.peer.last_handshake", "s", MetricKind.Gauge, "veiltun_peer_last_handshake_seconds")]
    [InlineData("veiltun.peer.last_handshake.age", "s", MetricKind.Gauge, "veiltun_peer_last_handshake_age_seconds")]
    internal void NamesFollowOpenTelemetrysPrometheusMapping(string name, string unit, MetricKind kind, string expected) =>
        Assert.Equal(expected, MetricDescriptor.PrometheusNameOf(name, unit, kind));

    [Fact]
    public void EveryInstrumentHasAUniqueNameAndAUcumUnit()
    {
        var names = MetricCatalog.All.Select(d => d.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Equal(names.Count, MetricCatalog.All.Select(d => d.PrometheusName).Distinct().Count());
        Assert.All(MetricCatalog.All, d => Assert.Matches(@"^(By|s|\{[a-z]+\})$", d.Unit));
        Assert.All(MetricCatalog.All, d => Assert.StartsWith("veiltun.", d.Name));
    }

    [Fact]
    public void UapiReplyIsReadIntoTheSnapshot()
    {
        var key = new byte[32];
        key[0] = 0xfb;
        var reply = "private_key=" + new string('1', 64) + "\nlisten_port=51820\nveiltun_drop_unknown_index=4\nveiltun_handshakes_completed=2\n" +
            "veiltun_handshakes_failed=1\nveiltun_pool_large_used=3\nveiltun_pool_large_limit=1024\nveiltun_multihop_reassembled=7\n" +
            "public_key=" + Convert.ToHexStringLower(key) + "\nlast_handshake_time_sec=1700000000\nlast_handshake_time_nsec=250000000\n" +
            "tx_bytes=100\nrx_bytes=200\ndaita_rx_padding_bytes=5\ndaita_tx_padding_bytes=6\ndaita_rx_decoy_packet_bytes=7\n" +
            "daita_tx_decoy_packet_bytes=8\nerrno=0\n\n";
        var s = TunnelMetricsSnapshot.ParseUapi("wg0", reply, DateTimeOffset.UnixEpoch);
        Assert.Equal(4, s.Drops["unknown_index"]);
        Assert.Equal((2, 1), (s.HandshakesCompleted, s.HandshakesFailed));
        Assert.Equal(new PoolMetrics("large", 3, 1024), Assert.Single(s.Pools));
        Assert.Equal(7, s.Multihop["reassembled"]);
        var p = Assert.Single(s.Peers);
        Assert.Equal(Convert.ToBase64String(key), p.PublicKey);
        Assert.Equal((200, 100), (p.RxBytes, p.TxBytes));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_250), p.LastHandshake);
        Assert.Equal(new DaitaMetrics(5, 6, 7, 8), p.Daita);
        Assert.Contains("veiltun_peer_daita_bytes_total{interface=\"wg0\",public_key=\"" + p.PublicKey + "\",direction=\"tx\",kind=\"decoy\"} 8\n",
            PrometheusText.Format(s));
    }
}
