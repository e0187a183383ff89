using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using VeilTun.Device;

namespace VeilTun.Diagnostics;

/// <summary>
/// The <c>VeilTun</c> <see cref="Meter"/>: observable instruments over the counters tunnels keep anyway (docs/metrics.md
/// lists them). A <see cref="Tunnel"/> registers when created and unregisters when disposed; every measurement carries
/// the tunnel's <c>interface</c> tag. Observable instruments cost nothing until a listener (dotnet-counters,
/// OpenTelemetry, a <see cref="MeterListener"/>) collects them: then each collection takes one
/// <see cref="Tunnel.GetMetricsSnapshot"/> per tunnel (reused by the other instruments of the same collection) and
/// the data path is never touched.
/// </summary>
public static class TunnelMetrics
{
    /// <summary>The meter's name (<c>dotnet-counters monitor --counters VeilTun</c>, OpenTelemetry's <c>AddMeter("VeilTun")</c>).</summary>
    public const string MeterName = "VeilTun";

    /// <summary>A snapshot serves every instrument observed within this long (one collection reads them all in a row).</summary>
    internal static readonly long SnapshotReuseMilliseconds = 100;

    private static readonly string? s_version = typeof(TunnelMetrics).Assembly.GetName().Version?.ToString();
    private static readonly Lock s_lock = new();
    private static Instruments? s_shared;
    private static readonly ConditionalWeakTable<Meter, Instruments> s_byMeter = new();

    /// <summary>
    /// Registers a tunnel with the process-wide <c>VeilTun</c> meter, or with the one <paramref name="factory"/>
    /// creates (a host's <see cref="IMeterFactory"/>). Dispose the result to unregister.
    /// </summary>
    internal static IDisposable Register(Tunnel tunnel, IMeterFactory? factory)
    {
        Instruments instruments;
        lock (s_lock)
        {
            if (factory is null)
            {
                instruments = s_shared ??= new Instruments(new Meter(MeterName, s_version));
            }
            else
            {
                var meter = factory.Create(new MeterOptions(MeterName) { Version = s_version });
                instruments = s_byMeter.GetValue(meter, static m => new Instruments(m));
            }
        }
        return instruments.Add(tunnel);
    }

    /// <summary>The instruments of one meter and the tunnels they report.</summary>
    private sealed class Instruments
    {
        private readonly Lock _lock = new();
        private Registration[] _tunnels = [];

        public Instruments(Meter meter)
        {
            foreach (var d in MetricCatalog.All)
            {
                switch (d.Kind, d.IsInteger)
                {
                    case (MetricKind.Counter, true):
                        meter.CreateObservableCounter(d.Name, () => Observe(d, v => new Measurement<long>((long)v.Value, v.Tags)), d.Unit, d.Description);
                        break;
                    case (MetricKind.UpDownCounter, true):
                        meter.CreateObservableUpDownCounter(d.Name, () => Observe(d, v => new Measurement<long>((long)v.Value, v.Tags)), d.Unit, d.Description);
                        break;
                    case (MetricKind.Gauge, false):
                        meter.CreateObservableGauge(d.Name, () => Observe(d, v => new Measurement<double>(v.Value, v.Tags)), d.Unit, d.Description);
                        break;
                    default:
                        throw new InvalidOperationException($"{d.Name}: no instrument for {d.Kind} of {(d.IsInteger ? "long" : "double")}");
                }
            }
        }

        public IDisposable Add(Tunnel tunnel)
        {
            var registration = new Registration(this, tunnel);
            lock (_lock) _tunnels = [.. _tunnels, registration];
            return registration;
        }

        public void Remove(Registration registration)
        {
            lock (_lock) _tunnels = _tunnels.Where(r => r != registration).ToArray();
        }

        private List<Measurement<T>> Observe<T>(MetricDescriptor d, Func<Tagged, Measurement<T>> make)
            where T : struct
        {
            var result = new List<Measurement<T>>();
            foreach (var r in Volatile.Read(ref _tunnels))
            {
                if (r.Snapshot() is not { } snapshot) continue;
                foreach (var sample in d.Read(snapshot))
                {
                    var tags = new KeyValuePair<string, object?>[sample.Tags.Length + 1];
                    tags[0] = new("interface", snapshot.Interface);
                    for (int i = 0; i < sample.Tags.Length; i++) tags[i + 1] = new(sample.Tags[i].Key, sample.Tags[i].Value);
                    result.Add(make(new Tagged(sample.Value, tags)));
                }
            }
            return result;
        }
    }

    private readonly record struct Tagged(double Value, KeyValuePair<string, object?>[] Tags);

    private sealed class Registration(Instruments owner, Tunnel tunnel) : IDisposable
    {
        private readonly Lock _lock = new();
        private TunnelMetricsSnapshot? _snapshot;
        private long _takenAt;
        private bool _disposed;

        /// <summary>The tunnel's snapshot, taken now or reused from the same collection; null once unregistered.</summary>
        public TunnelMetricsSnapshot? Snapshot()
        {
            lock (_lock)
            {
                if (_disposed) return null;
                long now = Environment.TickCount64;
                if (_snapshot is null || now - _takenAt >= SnapshotReuseMilliseconds)
                {
                    _snapshot = tunnel.GetMetricsSnapshot();
                    _takenAt = now;
                }
                return _snapshot;
            }
        }

        public void Dispose()
        {
            lock (_lock)
            {
                if (_disposed) return;
                _disposed = true;
                _snapshot = null;
            }
            owner.Remove(this);
        }
    }
}
