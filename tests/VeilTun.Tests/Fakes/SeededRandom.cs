using VeilTun.Noise;

namespace VeilTun.Tests.Fakes;

/// <summary>Deterministic randomness for reproducible protocol tests.</summary>
public sealed class SeededRandom(int seed) : IRandomSource
{
    private readonly Random _random = new(seed);

    public void Fill(Span<byte> destination)
    {
        lock (_random) _random.NextBytes(destination);
    }
}
