using System.Globalization;

namespace VeilTun.Diagnostics;

/// <summary>
/// One tunnel's counters at one moment: what the <c>VeilTun</c> <see cref="System.Diagnostics.Metrics.Meter"/>
/// reports (<see cref="TunnelMetrics"/>) and what <see cref="PrometheusText"/> prints. Taken from a running tunnel
/// by <see cref="Device.Tunnel.GetMetricsSnapshot"/>, or from a UAPI <c>get</c> reply by <see cref="ParseUapi"/>
/// (<c>veiltun metrics</c>); both read the same counters, so both give the same numbers. A plain data holder.
/// </summary>
public sealed class TunnelMetricsSnapshot
{
    /// <summary>The interface name: the <c>interface</c> tag and label.</summary>
    public required string Interface { get; init; }

    /// <summary>When the snapshot was taken (the reference for handshake ages).</summary>
    public DateTimeOffset Time { get; init; }

    /// <summary>The peers, in the device's order.</summary>
    public List<PeerMetrics> Peers { get; } = new();

    /// <summary>Drops by reason (snake_case <see cref="Noise.DropReason"/>, as the <c>veiltun_drop_*</c> keys); only non-zero ones.</summary>
    public SortedDictionary<string, long> Drops { get; } = new(StringComparer.Ordinal);

    /// <summary>WireGuard datagrams received from the UDP transport, before any check (handshakes and junk included).</summary>
    public long RxPackets { get; set; }

    /// <summary>WireGuard datagrams handed to the UDP transport and sent (handshakes, keepalives, DAITA decoys included).</summary>
    public long TxPackets { get; set; }

    /// <summary>Handshakes completed.</summary>
    public long HandshakesCompleted { get; set; }

    /// <summary>Handshakes given up after the retries.</summary>
    public long HandshakesFailed { get; set; }

    /// <summary>Packet buffer pools (large, small, handshake): buffers in use and the bound.</summary>
    public List<PoolMetrics> Pools { get; } = new();

    /// <summary>Multihop link counters of an exit device (dropped, invalid, not_for_us, reassembled); empty otherwise.</summary>
    public SortedDictionary<string, long> Multihop { get; } = new(StringComparer.Ordinal);

    /// <summary>Bytes received from all current peers (a peer's removal takes its bytes out of the sum).</summary>
    public long RxBytes => Peers.Sum(p => p.RxBytes);

    /// <summary>Bytes sent to all current peers.</summary>
    public long TxBytes => Peers.Sum(p => p.TxBytes);

    internal const string DropPrefix = "veiltun_drop_";
    internal const string MultihopPrefix = "veiltun_multihop_";
    internal const string PoolPrefix = "veiltun_pool_";
    internal const string RxPacketsKey = "veiltun_rx_packets";
    internal const string TxPacketsKey = "veiltun_tx_packets";
    internal const string HandshakesCompletedKey = "veiltun_handshakes_completed";
    internal const string HandshakesFailedKey = "veiltun_handshakes_failed";

    /// <summary>
    /// Reads the reply to a UAPI <c>get=1</c> (wg(8)'s keys and VeilTun's <c>veiltun_*</c> and <c>daita_*</c>
    /// keys; others are ignored, the private and preshared keys included). Malformed numbers count as 0.
    /// </summary>
    public static TunnelMetricsSnapshot ParseUapi(string interfaceName, string reply, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(reply);
        var snapshot = new TunnelMetricsSnapshot { Interface = interfaceName, Time = now };
        var pools = new Dictionary<string, (long Used, long Limit)>(StringComparer.Ordinal);
        PeerBuilder? peer = null;
        foreach (var raw in reply.Split('\n'))
        {
            int eq = raw.IndexOf('=');
            if (eq <= 0) continue;
            string key = raw[..eq], value = raw[(eq + 1)..];
            if (key == "public_key")
            {
                peer?.AddTo(snapshot);
                peer = new PeerBuilder(Convert.ToBase64String(Convert.FromHexString(value)));
                continue;
            }
            if (peer is not null)
            {
                switch (key)
                {
                    case "rx_bytes": peer.Rx = Number(value); break;
                    case "tx_bytes": peer.Tx = Number(value); break;
                    case "last_handshake_time_sec": peer.HandshakeSec = Number(value); break;
                    case "last_handshake_time_nsec": peer.HandshakeNsec = Number(value); break;
                    case "daita_rx_padding_bytes": peer.Daita[0] = Number(value); peer.HasDaita = true; break;
                    case "daita_tx_padding_bytes": peer.Daita[1] = Number(value); peer.HasDaita = true; break;
                    case "daita_rx_decoy_packet_bytes": peer.Daita[2] = Number(value); peer.HasDaita = true; break;
                    case "daita_tx_decoy_packet_bytes": peer.Daita[3] = Number(value); peer.HasDaita = true; break;
                }
                continue;
            }
            // Device keys (before the first peer).
            if (key.StartsWith(DropPrefix, StringComparison.Ordinal))
            {
                snapshot.Drops[key[DropPrefix.Length..]] = Number(value);
            }
            else if (key.StartsWith(MultihopPrefix, StringComparison.Ordinal))
            {
                snapshot.Multihop[key[MultihopPrefix.Length..]] = Number(value);
            }
            else if (key == RxPacketsKey)
            {
                snapshot.RxPackets = Number(value);
            }
            else if (key == TxPacketsKey)
            {
                snapshot.TxPackets = Number(value);
            }
            else if (key == HandshakesCompletedKey)
            {
                snapshot.HandshakesCompleted = Number(value);
            }
            else if (key == HandshakesFailedKey)
            {
                snapshot.HandshakesFailed = Number(value);
            }
            else if (key.StartsWith(PoolPrefix, StringComparison.Ordinal))
            {
                var rest = key[PoolPrefix.Length..];
                int us = rest.LastIndexOf('_');
                if (us <= 0) continue;
                string pool = rest[..us], what = rest[(us + 1)..];
                pools.TryGetValue(pool, out var p);
                if (what == "used") pools[pool] = (Number(value), p.Limit);
                else if (what == "limit") pools[pool] = (p.Used, Number(value));
            }
        }
        peer?.AddTo(snapshot);
        foreach (var (name, (used, limit)) in pools) snapshot.Pools.Add(new PoolMetrics(name, used, limit));
        return snapshot;
    }

    private static long Number(string s) => long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : 0;

    private sealed class PeerBuilder(string publicKey)
    {
        public long Rx, Tx, HandshakeSec, HandshakeNsec;
        public readonly long[] Daita = new long[4];
        public bool HasDaita;

        public void AddTo(TunnelMetricsSnapshot snapshot) => snapshot.Peers.Add(new PeerMetrics
        {
            PublicKey = publicKey,
            RxBytes = Rx,
            TxBytes = Tx,
            LastHandshake = HandshakeSec == 0 && HandshakeNsec == 0
                ? null
                : DateTimeOffset.UnixEpoch.AddTicks(HandshakeSec * TimeSpan.TicksPerSecond + HandshakeNsec / 100),
            Daita = HasDaita ? new DaitaMetrics(Daita[0], Daita[1], Daita[2], Daita[3]) : null,
        });
    }
}
