using BenchmarkDotNet.Attributes;
using VeilTun.Crypto;

namespace VeilTun.Benchmarks;

/// <summary>
/// Transport-data AEAD cost per packet (the libcrypto EVP baseline on the development machine: 798 ns seal / 807 ns
/// open at 1420 B, ~400 ns at 64 B) and the handshake's X25519 (26.6 µs there). Seal and open run in place on one reused
/// <see cref="ChaCha20Poly1305Context"/> with a fresh counter (nonce) per call, as the data path does, on the default
/// backend (AVX-512, else AVX2, else libcrypto); VEILTUN_AEAD=avx512, avx2, openssl or system
/// picks another (bench/aead.sh; <see cref="AeadSelection"/>).
/// </summary>
[MemoryDiagnoser]
public class AeadBenchmarks
{
    private const int LargePacket = 1420; // default WireGuard MTU payload
    private const int SmallPacket = 64;

    private readonly byte[] _large = new byte[LargePacket + ChaCha20Poly1305Context.TagSize];
    private readonly byte[] _small = new byte[SmallPacket + ChaCha20Poly1305Context.TagSize];
    private readonly byte[] _sealedLarge = new byte[LargePacket + ChaCha20Poly1305Context.TagSize];
    private readonly byte[] _sealedSmall = new byte[SmallPacket + ChaCha20Poly1305Context.TagSize];
    private readonly byte[] _privateKey = new byte[X25519.KeySize];
    private readonly byte[] _peerPublicKey = new byte[X25519.KeySize];
    private readonly byte[] _sharedSecret = new byte[X25519.KeySize];
    private ChaCha20Poly1305Context _context = null!;
    private ulong _counter;

    [GlobalSetup]
    public void Setup()
    {
        AeadSelection.FromEnvironment();
        var random = new Random(42);
        var key = new byte[ChaCha20Poly1305Context.KeySize];
        random.NextBytes(key);
        _context = new ChaCha20Poly1305Context();
        _context.SetKey(key);

        random.NextBytes(_large);
        random.NextBytes(_small);

        // Valid packets for the open benchmarks (counter 0), copied into the work buffer before each open.
        random.NextBytes(_sealedLarge);
        random.NextBytes(_sealedSmall);
        _context.Seal(0, _sealedLarge.AsSpan(0, LargePacket), default, _sealedLarge);
        _context.Seal(0, _sealedSmall.AsSpan(0, SmallPacket), default, _sealedSmall);

        random.NextBytes(_privateKey);
        var peerPrivateKey = new byte[X25519.KeySize];
        random.NextBytes(peerPrivateKey);
        X25519.DerivePublicKey(peerPrivateKey, _peerPublicKey);
    }

    [GlobalCleanup]
    public void Cleanup() => _context.Dispose();

    [Benchmark]
    public void Seal1420InPlace() =>
        _context.Seal(++_counter, _large.AsSpan(0, LargePacket), default, _large);

    [Benchmark]
    public void Seal64InPlace() =>
        _context.Seal(++_counter, _small.AsSpan(0, SmallPacket), default, _small);

    /// <summary>Includes copying the 1436-byte sealed packet into the work buffer (in-place open destroys it).</summary>
    [Benchmark]
    public bool Open1420InPlace()
    {
        _sealedLarge.CopyTo(_large, 0);
        return _context.TryOpen(0, _large, default, _large.AsSpan(0, LargePacket));
    }

    /// <summary>Includes copying the 80-byte sealed packet into the work buffer (in-place open destroys it).</summary>
    [Benchmark]
    public bool Open64InPlace()
    {
        _sealedSmall.CopyTo(_small, 0);
        return _context.TryOpen(0, _small, default, _small.AsSpan(0, SmallPacket));
    }

    [Benchmark]
    public bool X25519SharedSecret() =>
        X25519.TrySharedSecret(_privateKey, _peerPublicKey, _sharedSecret);
}
