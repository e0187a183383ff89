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

/// <summary>
/// The operating system's CSPRNG: getrandom(2) on Linux (no OpenSSL loaded for it), else
/// <see cref="RandomNumberGenerator"/>.
/// </summary>
internal sealed class SystemRandomSource : IRandomSource
{
    public static readonly SystemRandomSource Instance = new();

    private static bool s_noGetRandom = !OperatingSystem.IsLinux();

    public void Fill(Span<byte> destination)
    {
        if (!Volatile.Read(ref s_noGetRandom))
        {
            if (Interop.LibcIo.TryGetRandom(destination)) return;
            Volatile.Write(ref s_noGetRandom, true);
        }
        RandomNumberGenerator.Fill(destination);
    }
}
