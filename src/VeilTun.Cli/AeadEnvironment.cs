using VeilTun.Crypto;

namespace VeilTun.Cli;

/// <summary>
/// <c>VEILTUN_AEAD=avx512|avx2|advsimd|openssl|system</c>: the daemon's way to force the ChaCha20-Poly1305 backend, mapped
/// onto <see cref="ChaCha20Poly1305Context.SelectBackend"/> before anything creates a context. Unset or any other
/// value means <see cref="AeadBackend.Auto"/>. A backend this machine cannot run falls back, as it always has:
/// avx512, avx2 and advsimd to Auto, openssl to system.
/// </summary>
internal static class AeadEnvironment
{
    public const string Variable = "VEILTUN_AEAD";

    /// <summary>Reads <see cref="Variable"/> and selects the backend it names.</summary>
    public static void Apply() => ChaCha20Poly1305Context.SelectBackend(Parse(Environment.GetEnvironmentVariable(Variable)));

    /// <summary>The backend for a value of <see cref="Variable"/>, after the fallbacks; always one this machine runs.</summary>
    public static AeadBackend Parse(string? value)
    {
        var backend = value switch
        {
            "avx512" => AeadBackend.Avx512,
            "avx2" => AeadBackend.Avx2,
            "advsimd" => AeadBackend.AdvSimd,
            "openssl" => AeadBackend.OpenSsl,
            "system" => AeadBackend.System,
            _ => AeadBackend.Auto,
        };
        if (ChaCha20Poly1305Context.IsBackendSupported(backend)) return backend;
        return backend == AeadBackend.OpenSsl ? AeadBackend.System : AeadBackend.Auto;
    }
}
