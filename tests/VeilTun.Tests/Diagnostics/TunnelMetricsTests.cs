using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Diagnostics;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Diagnostics;

/// <summary>
/// The VeilTun meter seen by a <see cref="MeterListener"/> (as dotnet-counters and OpenTelemetry see it) during a
/// two-peer in-memory session. The tests of this class run one after another; no other test listens to the meter.
/// </summary>
public sealed class TunnelMetricsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static int s_next;

    private sealed record Observed(string Instrument, double Value, Dictionary<string, string> Tags);

    /// <summary>Two tunnels on an in-memory network, A (192.0.2.1) peered with B (192.0.2.2), each with a unique name.</summary>
    private sealed class Pair : IDisposable
    {
        public readonly InMemoryNetwork Network = new();
        public readonly InMemoryTun TunA, TunB;
        public readonly SecretKey KeyA = SecretKey.Generate(), KeyB = SecretKey.Generate();
        public readonly Tunnel A, B;

        public Pair(IMeterFactory? factory = null)
        {
            int n = Interlocked.Increment(ref s_next);
            TunA = new InMemoryTun($"metA{n}");
            TunB = new InMemoryTun($"metB{n}");
            A = new Tunnel(new TunnelOptions { Tun = TunA, MeterFactory = factory, BindUdp = p => Network.Bind(Endpoint("198.51.100.1", p)) });
            B = new Tunnel(new TunnelOptions { Tun = TunB, MeterFactory = factory, BindUdp = p => Network.Bind(Endpoint("198.51.100.2", p)) });
            TunnelPeers.ConfigureAndStart(A, B, KeyA, KeyB);
        }

        public void PingAndReply(ushort seq)
        {
            Assert.True(TunA.Inject(Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 7, seq)));
            Assert.True(TunB.TryTake(out var request, Wait));
            Assert.True(TunB.Inject(Icmp.ReplyTo(request)));
            Assert.True(TunA.TryTake(out _, Wait));
        }

        public void Dispose()
        {
            A.Dispose();
            B.Dispose();
        }
    }

    private static NetEndpoint Endpoint(string address, int port) => NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(address), port));

    /// <summary>A listener on every VeilTun instrument (of <paramref name="scope"/>'s meter when given).</summary>
    private sealed class Listener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<Observed> _seen = new();

        public Listener(object? scope = null)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == TunnelMetrics.MeterName && instrument.Meter.Scope == scope) l.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => _seen.Enqueue(new(i.Name, v, ToDictionary(tags))));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => _seen.Enqueue(new(i.Name, v, ToDictionary(tags))));
            _listener.Start();
        }

        private static Dictionary<string, string> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var d = new Dictionary<string, string>();
            foreach (var t in tags) d[t.Key] = (string)t.Value!;
            return d;
        }

        /// <summary>One collection (after the meter's snapshot-reuse window), only the measurements of <paramref name="iface"/>.</summary>
        public List<Observed> Collect(string iface)
        {
            Thread.Sleep((int)TunnelMetrics.SnapshotReuseMilliseconds + 20);
            _seen.Clear();
            _listener.RecordObservableInstruments();
            return _seen.Where(o => o.Tags["interface"] == iface).ToList();
        }

        public void Dispose() => _listener.Dispose();
    }

    private static double Value(List<Observed> seen, string instrument, params (string Key, string Value)[] tags) =>
        Assert.Single(seen, o => o.Instrument == instrument && tags.All(t => o.Tags.GetValueOrDefault(t.Key) == t.Value)).Value;

    [Fact]
    public void InstrumentsMoveWithTrafficHandshakesAndDropsAndStopAtDispose()
    {
        using var listener = new Listener();
        using var pair = new Pair();
        string a = pair.A.Name, peerB = pair.KeyB.DerivePublicKey().ToBase64();

        var before = listener.Collect(a);
        Assert.Equal(1, Value(before, "veiltun.tunnel.peers"));
        Assert.Equal(0, Value(before, "veiltun.peer.bytes", ("public_key", peerB), ("direction", "tx")));
        Assert.Equal(0, Value(before, "veiltun.tunnel.handshakes", ("result", "completed")));
        Assert.Equal(1024, Value(before, "veiltun.tunnel.pool.limit", ("pool", "large")));
        Assert.DoesNotContain(before, o => o.Instrument == "veiltun.tunnel.drops");
        Assert.DoesNotContain(before, o => o.Instrument == "veiltun.peer.last_handshake.age");
        Assert.Equal(0, Value(before, "veiltun.peer.last_handshake", ("public_key", peerB)));

        pair.PingAndReply(1);
        var after = listener.Collect(a);
        double rx = Value(after, "veiltun.peer.bytes", ("public_key", peerB), ("direction", "rx"));
        double tx = Value(after, "veiltun.peer.bytes", ("public_key", peerB), ("direction", "tx"));
        Assert.True(tx >= 148 + 32 + 96, $"tx {tx}"); // initiation + the echo request sealed
        Assert.True(rx >= 92 + 32 + 96, $"rx {rx}"); // response + the echo reply sealed
        Assert.Equal(rx, Value(after, "veiltun.tunnel.bytes", ("direction", "rx")));
        Assert.Equal(tx, Value(after, "veiltun.tunnel.bytes", ("direction", "tx")));
        // Initiation + echo request out, response + echo reply in (and perhaps a keepalive): datagrams, not bytes.
        Assert.InRange(Value(after, "veiltun.tunnel.packets", ("direction", "tx")), 2, 4);
        Assert.InRange(Value(after, "veiltun.tunnel.packets", ("direction", "rx")), 2, 4);
        Assert.Equal(1, Value(after, "veiltun.tunnel.handshakes", ("result", "completed")));
        Assert.Equal(0, Value(after, "veiltun.tunnel.handshakes", ("result", "failed")));
        double handshakeTime = Value(after, "veiltun.peer.last_handshake", ("public_key", peerB));
        Assert.InRange(handshakeTime, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 30, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.InRange(Value(after, "veiltun.peer.last_handshake.age", ("public_key", peerB)), 0, 30);
        var instruments = after.Select(o => o.Instrument).ToHashSet();
        Assert.Contains("veiltun.tunnel.pool.used", instruments);

        // More traffic: the counters grow.
        pair.PingAndReply(2);
        var later = listener.Collect(a);
        Assert.True(Value(later, "veiltun.peer.bytes", ("public_key", peerB), ("direction", "tx")) > tx);
        Assert.True(Value(later, "veiltun.peer.bytes", ("public_key", peerB), ("direction", "rx")) > rx);
        Assert.True(Value(later, "veiltun.tunnel.packets", ("direction", "tx")) >= Value(after, "veiltun.tunnel.packets", ("direction", "tx")) + 1); // the second echo request

        // A transport message for an index nobody has: a drop, tagged with its reason.
        using (var attacker = pair.Network.Bind(Endpoint("198.51.100.66", 0)))
        {
            var bad = new byte[32];
            bad[0] = 4;
            bad[4] = 0xde; bad[5] = 0xad; bad[6] = 0xbe; bad[7] = 0xef;
            attacker.SendBytes(bad, Endpoint("198.51.100.1", 51820));
        }
        List<Observed> dropped = [];
        Assert.True(SpinWait.SpinUntil(() =>
        {
            dropped = listener.Collect(a);
            return dropped.Any(o => o.Instrument == "veiltun.tunnel.drops");
        }, Wait));
        Assert.Equal(1, Value(dropped, "veiltun.tunnel.drops", ("reason", "unknown_index")));

        // B's measurements carry B's name and A's public key; A's never mention A's key.
        var b = listener.Collect(pair.B.Name);
        Assert.True(Value(b, "veiltun.peer.bytes", ("public_key", pair.KeyA.DerivePublicKey().ToBase64()), ("direction", "rx")) > 0);
        Assert.DoesNotContain(dropped, o => o.Tags.GetValueOrDefault("public_key") == pair.KeyA.DerivePublicKey().ToBase64());

        pair.A.Dispose();
        Assert.Empty(listener.Collect(a));
        Assert.NotEmpty(listener.Collect(pair.B.Name));
        pair.B.Dispose();
        Assert.Empty(listener.Collect(pair.B.Name));
    }

    [Fact]
    public void WithoutAListenerNoSnapshotIsTaken()
    {
        using var pair = new Pair();
        pair.PingAndReply(1);
        // Listen to another meter only: VeilTun's instruments stay disabled and their callbacks never run.
        using var other = new Meter("NotVeilTun");
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) => { if (i.Meter == other) l.EnableMeasurementEvents(i); };
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal(0, pair.A.MetricsSnapshotsTaken);
        Assert.Equal(0, pair.B.MetricsSnapshotsTaken);
    }

    [Fact]
    public void AMeterFactoryGetsTheTunnelsInsteadOfTheSharedMeter()
    {
        using var factory = new TestMeterFactory();
        using var scoped = new Listener(factory);
        using var shared = new Listener();
        using var pair = new Pair(factory);
        pair.PingAndReply(1);
        var seen = scoped.Collect(pair.A.Name);
        Assert.True(Value(seen, "veiltun.peer.bytes", ("public_key", pair.KeyB.DerivePublicKey().ToBase64()), ("direction", "tx")) > 0);
        Assert.Empty(shared.Collect(pair.A.Name));
    }

    [Fact]
    public void MeterPrometheusAndUapiAgree()
    {
        using var pair = new Pair();
        pair.PingAndReply(1);
        Thread.Sleep(200); // let the echo reply's accounting settle
        var live = pair.A.GetMetricsSnapshot();
        var text = new StringWriter();
        VeilTun.Uapi.UapiWriter.WriteGet(pair.A.GetSnapshot(), text);
        var fromUapi = TunnelMetricsSnapshot.ParseUapi(pair.A.Name, text.ToString(), live.Time);
        static string Stable(string s) => string.Join('\n', s.Split('\n').Where(l => !l.Contains("pool_used", StringComparison.Ordinal)));
        Assert.Equal(Stable(PrometheusText.Format(live)), Stable(PrometheusText.Format(fromUapi)));
        Assert.Contains("veiltun_tunnel_handshakes_total{interface=\"" + pair.A.Name + "\",result=\"completed\"} 1\n", PrometheusText.Format(fromUapi));
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = new();

        public Meter Create(MeterOptions options)
        {
            lock (_meters)
            {
                if (_meters.FirstOrDefault(m => m.Name == options.Name) is { } existing) return existing;
                var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Scope = this });
                _meters.Add(meter);
                return meter;
            }
        }

        public void Dispose()
        {
            lock (_meters) foreach (var m in _meters) m.Dispose();
        }
    }
}
