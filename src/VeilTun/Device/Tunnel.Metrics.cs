using System.Globalization;
using VeilTun.Diagnostics;

namespace VeilTun.Device;

// Metrics: a snapshot of the counters the tunnel keeps anyway (per-peer bytes, drops, handshakes, pools, DAITA,
// multihop), read when asked for. The VeilTun meter (Diagnostics/TunnelMetrics.cs) and the veiltun_* UAPI keys that
// `veiltun metrics` reads both come from here; nothing is counted for them on the data path.
public sealed partial class Tunnel
{
    /// <summary>
    /// The tunnel's counters now: what the <c>VeilTun</c> meter reports for it, and what
    /// <see cref="PrometheusText"/> prints. Takes the tunnel lock once, briefly (one pass over the peers).
    /// </summary>
    public TunnelMetricsSnapshot GetMetricsSnapshot()
    {
        Interlocked.Increment(ref _metricsSnapshots);
        var snapshot = new TunnelMetricsSnapshot { Interface = Name, Time = (_options.WallClock ?? TimeProvider.System).GetUtcNow() };
        lock (_sync)
        {
            foreach (var peer in _engine.Peers)
            {
                snapshot.Peers.Add(new PeerMetrics
                {
                    PublicKey = peer.PublicKey.ToBase64(),
                    RxBytes = peer.RxBytes,
                    TxBytes = peer.TxBytes,
                    LastHandshake = peer.LastHandshake,
                    Daita = peer.Daita is { } d ? new DaitaMetrics(d.RxPaddingBytes, d.TxPaddingBytes, d.RxDecoyBytes, d.TxDecoyBytes) : null,
                });
            }
        }
        snapshot.RxPackets = Interlocked.Read(ref _rxDatagrams);
        snapshot.TxPackets = Interlocked.Read(ref _txDatagrams);
        snapshot.HandshakesCompleted = _engine.HandshakesCompleted;
        snapshot.HandshakesFailed = _engine.HandshakesFailed;
        foreach (var (reason, count) in GetDropCounts()) snapshot.Drops[ToSnake(reason.ToString())] = count;
        snapshot.Pools.AddRange(PoolMetrics());
        if (ExtraStats is { } extra)
        {
            foreach (var (key, value) in extra())
            {
                if (key.StartsWith(TunnelMetricsSnapshot.MultihopPrefix, StringComparison.Ordinal) && long.TryParse(value, CultureInfo.InvariantCulture, out long n))
                    snapshot.Multihop[key[TunnelMetricsSnapshot.MultihopPrefix.Length..]] = n;
            }
        }
        return snapshot;
    }

    private int _metricsSnapshots;

    // WireGuard datagrams received from the UDP transport (before any check) and sent to it, counted once per batch.
    private long _rxDatagrams, _txDatagrams;

    /// <summary>Test hook: how many times <see cref="GetMetricsSnapshot"/> ran (none while nobody listens).</summary>
    internal int MetricsSnapshotsTaken => Volatile.Read(ref _metricsSnapshots);

    private PoolMetrics[] PoolMetrics() =>
    [
        new("large", _pools.Large.Outstanding, _pools.Large.MaxBuffers),
        new("small", _pools.Small.Outstanding, _pools.Small.MaxBuffers),
        new("handshake", _handshakePool.Outstanding, _handshakePool.MaxBuffers),
    ];

    /// <summary>The device-level counter keys of a UAPI get besides the drops: datagrams, handshakes and pool use.</summary>
    private void AppendCounterKeys(List<KeyValuePair<string, string>> keys)
    {
        static string Text(long n) => n.ToString(CultureInfo.InvariantCulture);
        keys.Add(new(TunnelMetricsSnapshot.RxPacketsKey, Text(Interlocked.Read(ref _rxDatagrams))));
        keys.Add(new(TunnelMetricsSnapshot.TxPacketsKey, Text(Interlocked.Read(ref _txDatagrams))));
        keys.Add(new(TunnelMetricsSnapshot.HandshakesCompletedKey, Text(_engine.HandshakesCompleted)));
        keys.Add(new(TunnelMetricsSnapshot.HandshakesFailedKey, Text(_engine.HandshakesFailed)));
        foreach (var pool in PoolMetrics())
        {
            keys.Add(new($"{TunnelMetricsSnapshot.PoolPrefix}{pool.Name}_used", Text(pool.Used)));
            keys.Add(new($"{TunnelMetricsSnapshot.PoolPrefix}{pool.Name}_limit", Text(pool.Limit)));
        }
    }
}
