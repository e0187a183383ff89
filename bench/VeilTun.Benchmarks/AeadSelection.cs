using VeilTun.Crypto;

namespace VeilTun.Benchmarks;

/// <summary>
/// VEILTUN_AEAD=avx512|avx2|advsimd|openssl|system (bench/aead.sh) forces the AEAD backend of a benchmark run, through
/// <see cref="ChaCha20Poly1305Context.SelectBackend"/>. Called from the [GlobalSetup] of the AEAD benchmarks, which
/// runs in BenchmarkDotNet's child process before any context exists. Unlike the daemon, a backend this machine
/// cannot run fails the run instead of measuring another one.
/// </summary>
internal static class AeadSelection
{
    public static void FromEnvironment()
    {
        string? value = Environment.GetEnvironmentVariable("VEILTUN_AEAD");
        if (string.IsNullOrEmpty(value)) return;
        if (!Enum.TryParse<AeadBackend>(value, ignoreCase: true, out var backend) || !Enum.IsDefined(backend) || char.IsDigit(value[0]))
            throw new ArgumentException($"VEILTUN_AEAD={value}: expected auto, avx512, avx2, advsimd, openssl or system");
        ChaCha20Poly1305Context.SelectBackend(backend);
    }
}
