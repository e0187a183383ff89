using BenchmarkDotNet.Attributes;
using VeilTun.Crypto;

namespace VeilTun.Benchmarks;

/// <summary>
/// Sealing one TSO segment (52-byte IPv4/TCP header + 1368 payload bytes = 1420) three ways, on the default backend
/// (VEILTUN_AEAD picks another: <see cref="AeadSelection"/>): the contiguous plaintext in place (the floor), the payload spliced
/// in from the super-packet (<see cref="ChaCha20Poly1305Context.SealSpliced"/>), and the copy the splitter does today
/// followed by the in-place seal.
/// </summary>
[MemoryDiagnoser]
public class AeadSpliceBenchmarks
{
    private const int Header = 52;
    private const int Payload = 1368;
    private const int PayloadOffset = 13; // an odd place in the super-packet, as segment payloads after the first are

    private readonly byte[] _superPacket = new byte[65536];
    private readonly byte[] _segment = new byte[Header + Payload + ChaCha20Poly1305Context.TagSize];
    private ChaCha20Poly1305Context _context = null!;
    private ulong _counter;

    [GlobalSetup]
    public void Setup()
    {
        AeadSelection.FromEnvironment();
        var random = new Random(5);
        var key = new byte[ChaCha20Poly1305Context.KeySize];
        random.NextBytes(key);
        _context = new ChaCha20Poly1305Context();
        _context.SetKey(key);
        random.NextBytes(_superPacket);
        random.NextBytes(_segment);
    }

    [GlobalCleanup]
    public void Cleanup() => _context.Dispose();

    [Benchmark(Baseline = true)]
    public void SealInPlace() =>
        _context.Seal(++_counter, _segment.AsSpan(0, Header + Payload), default, _segment);

    [Benchmark]
    public void SealSpliced() =>
        _context.SealSpliced(++_counter, _segment, Header, _superPacket.AsSpan(PayloadOffset, Payload));

    [Benchmark]
    public void CopyThenSeal()
    {
        _superPacket.AsSpan(PayloadOffset, Payload).CopyTo(_segment.AsSpan(Header));
        _context.Seal(++_counter, _segment.AsSpan(0, Header + Payload), default, _segment);
    }
}
