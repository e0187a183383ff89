using BenchmarkDotNet.Attributes;
using VeilTun.Crypto;

namespace VeilTun.Benchmarks;

/// <summary>
/// The BLAKE2s family on handshake-sized inputs: HASH (MixHash), MAC (mac1, 16-byte output),
/// HMAC and KDF2 (MixKey with a DH result). For comparison, BouncyCastle hashes 150 bytes in 424 ns on the
/// development machine (docs/crypto.md).
/// </summary>
[MemoryDiagnoser]
public class Blake2sBenchmarks
{
    private readonly byte[] _input = new byte[150];
    private readonly byte[] _key = new byte[32];
    private readonly byte[] _dh = new byte[32];
    private readonly byte[] _hash = new byte[Blake2s.HashSize];
    private readonly byte[] _mac = new byte[16];
    private readonly byte[] _t1 = new byte[NoiseKdf.OutputSize];
    private readonly byte[] _t2 = new byte[NoiseKdf.OutputSize];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        random.NextBytes(_input);
        random.NextBytes(_key);
        random.NextBytes(_dh);
    }

    [Benchmark(Baseline = true)]
    public void Hash150() => Blake2s.Hash(_input, _hash);

    [Benchmark]
    public void KeyedHash150Mac16() => Blake2s.KeyedHash(_key, _input, _mac);

    [Benchmark]
    public void Hmac150() => HmacBlake2s.Compute(_key, _input, _hash);

    [Benchmark]
    public void Kdf2() => NoiseKdf.Kdf2(_key, _dh, _t1, _t2);
}
