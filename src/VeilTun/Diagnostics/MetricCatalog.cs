namespace VeilTun.Diagnostics;

/// <summary>What kind of instrument a metric is (and so its Prometheus type).</summary>
internal enum MetricKind
{
    /// <summary>Monotonic sum: <c>ObservableCounter</c>, Prometheus <c>counter</c> (name ends in <c>_total</c>).</summary>
    Counter,

    /// <summary>Non-monotonic sum: <c>ObservableUpDownCounter</c>, Prometheus <c>gauge</c>.</summary>
    UpDownCounter,

    /// <summary>A value read as is: <c>ObservableGauge</c>, Prometheus <c>gauge</c>.</summary>
    Gauge,
}

/// <summary>One sample of a metric: the value and its tags (the <c>interface</c> tag is added by the caller).</summary>
internal readonly record struct MetricSample(double Value, (string Key, string Value)[] Tags)
{
    public static readonly (string, string)[] NoTags = [];
}

/// <summary>
/// One metric: its OpenTelemetry name, UCUM unit and description, and how to read its samples from a
/// <see cref="TunnelMetricsSnapshot"/>. Both the <c>VeilTun</c> meter and the Prometheus text use it, so the two
/// cannot disagree on a name, a tag or a value.
/// </summary>
internal sealed record MetricDescriptor(string Name, string Unit, MetricKind Kind, bool IsInteger, string Description,
    Func<TunnelMetricsSnapshot, IEnumerable<MetricSample>> Read)
{
    /// <summary>
    /// The Prometheus name, by OpenTelemetry's rules for its Prometheus exporters: dots become underscores, the unit
    /// is appended unless the name ends with it (<c>By</c> → <c>_bytes</c>, <c>s</c> → <c>_seconds</c>; annotations
    /// such as <c>{packet}</c> add nothing) and a counter ends in <c>_total</c>.
    /// </summary>
    public string PrometheusName { get; } = PrometheusNameOf(Name, Unit, Kind);

    /// <summary>The Prometheus <c># TYPE</c>.</summary>
    public string PrometheusType => Kind == MetricKind.Counter ? "counter" : "gauge";

    internal static string PrometheusNameOf(string name, string unit, MetricKind kind)
    {
        var n = name.Replace('.', '_');
        string? suffix = unit switch
        {
            "By" => "bytes",
            "s" => "seconds",
            _ => null,
        };
        if (suffix is not null && !n.EndsWith("_" + suffix, StringComparison.Ordinal)) n += "_" + suffix;
        if (kind == MetricKind.Counter) n += "_total";
        return n;
    }
}

/// <summary>Every metric VeilTun reports, in the order the Prometheus text prints them (docs/metrics.md).</summary>
internal static class MetricCatalog
{
    public static readonly MetricDescriptor[] All =
    [
        new("veiltun.tunnel.bytes", "By", MetricKind.Counter, true,
            "Bytes of WireGuard UDP payloads received (rx) and sent (tx), handshakes included, summed over the current peers.",
            s => [new(s.RxBytes, [("direction", "rx")]), new(s.TxBytes, [("direction", "tx")])]),
        new("veiltun.tunnel.packets", "{packet}", MetricKind.Counter, true,
            "WireGuard UDP datagrams received (rx, before any check) and sent (tx), handshakes, keepalives and DAITA decoys included.",
            s => [new(s.RxPackets, [("direction", "rx")]), new(s.TxPackets, [("direction", "tx")])]),
        new("veiltun.tunnel.drops", "{packet}", MetricKind.Counter, true,
            "Packets and datagrams dropped, by reason (only reasons that occurred).",
            s => s.Drops.Select(d => new MetricSample(d.Value, [("reason", d.Key)]))),
        new("veiltun.tunnel.handshakes", "{handshake}", MetricKind.Counter, true,
            "Handshakes completed, and given up after the retries (failed).",
            s => [new(s.HandshakesCompleted, [("result", "completed")]), new(s.HandshakesFailed, [("result", "failed")])]),
        new("veiltun.tunnel.peers", "{peer}", MetricKind.UpDownCounter, true,
            "Peers configured.",
            s => [new(s.Peers.Count, MetricSample.NoTags)]),
        new("veiltun.tunnel.pool.used", "{buffer}", MetricKind.UpDownCounter, true,
            "Packet buffers rented now, by pool (large: 64 KiB, small: 2 KiB, handshake).",
            s => s.Pools.Select(p => new MetricSample(p.Used, [("pool", p.Name)]))),
        new("veiltun.tunnel.pool.limit", "{buffer}", MetricKind.UpDownCounter, true,
            "The most packet buffers each pool creates; beyond it packets are dropped (pool_exhausted).",
            s => s.Pools.Select(p => new MetricSample(p.Limit, [("pool", p.Name)]))),
        new("veiltun.multihop.packets", "{packet}", MetricKind.Counter, true,
            "Multihop exit device: link packets dropped (queue full), invalid, not for us, and datagrams reassembled.",
            s => s.Multihop.Select(m => new MetricSample(m.Value, [("event", m.Key)]))),
        new("veiltun.peer.bytes", "By", MetricKind.Counter, true,
            "Bytes of WireGuard UDP payloads received from (rx) and sent to (tx) the peer, as wg show's transfer.",
            s => s.Peers.SelectMany(p => new MetricSample[]
            {
                new(p.RxBytes, [("public_key", p.PublicKey), ("direction", "rx")]),
                new(p.TxBytes, [("public_key", p.PublicKey), ("direction", "tx")]),
            })),
        new("veiltun.peer.last_handshake", "s", MetricKind.Gauge, false,
            "Time of the peer's last completed handshake, in seconds since the Unix epoch (0 if none).",
            s => s.Peers.Select(p => new MetricSample(
                p.LastHandshake is { } t ? (t - DateTimeOffset.UnixEpoch).Ticks / (double)TimeSpan.TicksPerSecond : 0,
                [("public_key", p.PublicKey)]))),
        new("veiltun.peer.last_handshake.age", "s", MetricKind.Gauge, false,
            "Seconds since the peer's last completed handshake (peers with one only).",
            s => s.Peers.Where(p => p.LastHandshake is not null).Select(p => new MetricSample(
                Math.Max(0, (s.Time - p.LastHandshake!.Value).Ticks / (double)TimeSpan.TicksPerSecond), [("public_key", p.PublicKey)]))),
        new("veiltun.peer.daita.bytes", "By", MetricKind.Counter, true,
            "DAITA bytes of the peer, by direction and kind: padding added to packets, and decoy packets (peers with DAITA only).",
            s => s.Peers.Where(p => p.Daita is not null).SelectMany(p => new MetricSample[]
            {
                new(p.Daita!.RxPaddingBytes, [("public_key", p.PublicKey), ("direction", "rx"), ("kind", "padding")]),
                new(p.Daita.TxPaddingBytes, [("public_key", p.PublicKey), ("direction", "tx"), ("kind", "padding")]),
                new(p.Daita.RxDecoyBytes, [("public_key", p.PublicKey), ("direction", "rx"), ("kind", "decoy")]),
                new(p.Daita.TxDecoyBytes, [("public_key", p.PublicKey), ("direction", "tx"), ("kind", "decoy")]),
            })),
    ];
}
