using BenchmarkDotNet.Attributes;
using VeilTun.Crypto;

namespace VeilTun.Benchmarks;

/// <summary>The two halves of the AVX-512 AEAD at 1420 bytes: ChaCha20 keystream blocks and Poly1305.</summary>
public class Avx512AeadPartsBenchmarks
{
    private readonly uint[] _key = [1, 2, 3, 4, 5, 6, 7, 8];
    private readonly uint[] _nonce = [0, 9, 10];
    private readonly byte[] _blocks = new byte[512];
    private readonly byte[] _polyKey = new byte[32];
    private readonly byte[] _message = new byte[1420 + 16];
    private readonly byte[] _tag = new byte[16];

    [Benchmark]
    public void ChaCha20TwentyFourBlocks()
    {
        for (int i = 0; i < 3; i++) ChaCha20Poly1305Avx512.FirstBlocksForTest(_key, _nonce, _blocks);
    }

    [Benchmark]
    public void Poly1305Of1436Bytes() => ChaCha20Poly1305Avx512.Poly1305ForTest(_polyKey, _message, _tag);
}
