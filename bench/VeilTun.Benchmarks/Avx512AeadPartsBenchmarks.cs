using BenchmarkDotNet.Attributes;
using VeilTun.Crypto;

namespace VeilTun.Benchmarks;

/// <summary>
/// The two halves of the managed AEADs at 1420 bytes, ChaCha20 keystream blocks and Poly1305: AVX-512
/// (<see cref="ChaCha20Poly1305Avx512"/>) and AVX2 (<see cref="ChaCha20Poly1305Avx2"/>; on an AVX-512 CPU the JIT may
/// give its 256-bit code AVX-512 encodings and registers: DOTNET_EnableAVX512=0 runs it as on an AVX2-only CPU).
/// </summary>
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

    /// <summary>24 blocks as the AVX2 code makes them for a 1420-byte packet: four steps of six.</summary>
    [Benchmark]
    public void ChaCha20TwentyFourBlocksAvx2()
    {
        for (int i = 0; i < 4; i++) ChaCha20Poly1305Avx2.FirstBlocksForTest(_key, _nonce, _blocks.AsSpan(0, 384));
    }

    [Benchmark]
    public void Poly1305Of1436BytesAvx2() => ChaCha20Poly1305Avx2.Poly1305ForTest(_polyKey, _message, _tag);
}
