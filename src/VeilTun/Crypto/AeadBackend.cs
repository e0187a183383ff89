namespace VeilTun.Crypto;

/// <summary>
/// The implementations of the transport-data AEAD (ChaCha20-Poly1305). All give the same bytes; they differ in
/// speed and in what they need. Pass one to <see cref="ChaCha20Poly1305Context.SelectBackend"/> to force it.
/// </summary>
public enum AeadBackend
{
    /// <summary>The fastest this machine runs: <see cref="Avx512"/>, else <see cref="Avx2"/>, else <see cref="AdvSimd"/>
    /// (every ARM64 CPU), else <see cref="OpenSsl"/>, else <see cref="System"/>.</summary>
    Auto,

    /// <summary>VeilTun's own code in 512-bit vectors (x64 CPUs with AVX-512F).</summary>
    Avx512,

    /// <summary>The same algorithm in 256-bit vectors (x64 CPUs with AVX2).</summary>
    Avx2,

    /// <summary>OpenSSL 3's libcrypto (libcrypto.so.3), one EVP context per direction.</summary>
    OpenSsl,

    /// <summary><see cref="System.Security.Cryptography.ChaCha20Poly1305"/>, which re-keys on every call: the slowest,
    /// available wherever .NET supports ChaCha20-Poly1305.</summary>
    System,

    /// <summary>VeilTun's own code in 128-bit AdvSimd (NEON) vectors: ARM64 CPUs (phones, Graviton, Apple silicon under
    /// Linux), where .NET enables hardware intrinsics.</summary>
    AdvSimd,
}
