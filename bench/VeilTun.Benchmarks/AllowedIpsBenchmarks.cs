using BenchmarkDotNet.Attributes;
using VeilTun.Routing;

namespace VeilTun.Benchmarks;

/// <summary>
/// Per-packet cryptokey-routing cost: <see cref="AllowedIps{TPeer}.Lookup(ReadOnlySpan{byte})"/> on tables of 100,000
/// random prefixes per family spread over 10,000 peers (cf. wireguard-go's BenchmarkTrie*). Half of the probe addresses
/// fall inside an inserted prefix, half are uniformly random. Expect zero allocations.
/// </summary>
[MemoryDiagnoser]
public class AllowedIpsBenchmarks
{
    private const int PrefixCount = 100_000;
    private const int PeerCount = 10_000;
    private const int ProbeCount = 4096;

    private readonly AllowedIps<object> _table = new();
    private byte[] _probes4 = [];
    private byte[] _probes6 = [];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(6479);
        var peers = new object[PeerCount];
        for (int i = 0; i < peers.Length; i++)
        {
            peers[i] = new object();
        }

        var inserted4 = new byte[PrefixCount * 4];
        var inserted6 = new byte[PrefixCount * 16];
        rng.NextBytes(inserted4);
        rng.NextBytes(inserted6);
        for (int i = 0; i < PrefixCount; i++)
        {
            object peer = peers[rng.Next(PeerCount)];
            _table.Insert(inserted4.AsSpan(i * 4, 4), rng.Next(8, 33), peer);
            _table.Insert(inserted6.AsSpan(i * 16, 16), rng.Next(16, 129), peer);
        }

        _probes4 = new byte[ProbeCount * 4];
        _probes6 = new byte[ProbeCount * 16];
        rng.NextBytes(_probes4);
        rng.NextBytes(_probes6);
        for (int i = 0; i < ProbeCount; i += 2)
        {
            // Every other probe is an inserted address (so it hits a deep node); the rest stay random.
            int source = rng.Next(PrefixCount);
            inserted4.AsSpan(source * 4, 4).CopyTo(_probes4.AsSpan(i * 4));
            inserted6.AsSpan(source * 16, 16).CopyTo(_probes6.AsSpan(i * 16));
        }
    }

    [Benchmark(OperationsPerInvoke = ProbeCount)]
    public int LookupIPv4()
    {
        ReadOnlySpan<byte> probes = _probes4;
        int hits = 0;
        for (int i = 0; i < ProbeCount; i++)
        {
            if (_table.Lookup(probes.Slice(i * 4, 4)) is not null)
            {
                hits++;
            }
        }

        return hits;
    }

    [Benchmark(OperationsPerInvoke = ProbeCount)]
    public int LookupIPv6()
    {
        ReadOnlySpan<byte> probes = _probes6;
        int hits = 0;
        for (int i = 0; i < ProbeCount; i++)
        {
            if (_table.Lookup(probes.Slice(i * 16, 16)) is not null)
            {
                hits++;
            }
        }

        return hits;
    }
}
