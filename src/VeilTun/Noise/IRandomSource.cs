using System.Security.Cryptography;

namespace VeilTun.Noise;

/// <summary>
/// Where the protocol gets randomness (ephemeral keys, indices, cookie secrets and nonces, timer jitter).
/// Injected so tests can be deterministic. Implementations must be thread-safe.
/// </summary>
internal interface IRandomSource
{
    void Fill(Span<byte> destination);
}

/// <summary>The operating system's CSPRNG.</summary>
internal sealed class SystemRandomSource : IRandomSource
{
    public static readonly SystemRandomSource Instance = new();

    public void Fill(Span<byte> destination) => RandomNumberGenerator.Fill(destination);
}
