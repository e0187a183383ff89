using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using VeilTun.Crypto;
using Xunit;

namespace VeilTun.Arm64Tests;

/// <summary>
/// What the run expects, told by tests/interop/arm64.sh: <c>VEILTUN_EXPECT_AEAD</c>, the backend the process must
/// pick (<c>advsimd</c> under qemu's default CPU and <c>-cpu cortex-a53</c>, <c>libcrypto</c> with
/// <c>DOTNET_EnableHWIntrinsic=0</c>), and <c>VEILTUN_EXPECT_CPU</c> (<c>max</c>, <c>cortex-a53</c> or <c>none</c>), so
/// each run proves it reached the CPU model or fallback it was meant to. Run by hand without them, the backend
/// expected is the one <see cref="AeadBackend.Auto"/> documents for this machine.
/// </summary>
internal static class Expectation
{
    public static bool IsArm64 => RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    /// <summary>The expected <see cref="ChaCha20Poly1305Context.ImplementationName"/>.</summary>
    public static string Aead => Environment.GetEnvironmentVariable("VEILTUN_EXPECT_AEAD") is { Length: > 0 } value ? value
        : IsArm64 && AdvSimd.Arm64.IsSupported ? "advsimd"
        : ChaCha20Poly1305Avx512.IsSupported ? "avx512"
        : ChaCha20Poly1305Avx2.IsSupported ? "avx2"
        : "libcrypto";

    /// <summary>The <see cref="AeadBackend"/> name of <see cref="Aead"/>.</summary>
    public static string Backend => Aead switch
    {
        "advsimd" => nameof(AeadBackend.AdvSimd),
        "avx512" => nameof(AeadBackend.Avx512),
        "avx2" => nameof(AeadBackend.Avx2),
        "libcrypto" => nameof(AeadBackend.OpenSsl),
        _ => nameof(AeadBackend.System),
    };

    /// <summary>The expected CPU model, or null when not told.</summary>
    public static string? Cpu => Environment.GetEnvironmentVariable("VEILTUN_EXPECT_CPU") is { Length: > 0 } value ? value : null;

    /// <summary>True when the AdvSimd backend is expected to run here.</summary>
    public static bool AdvSimdExpected => Aead == "advsimd";

    /// <summary>
    /// For a check of the AdvSimd code itself: true when it runs here (and was expected to). Where it was expected
    /// not to run (x64, or ARM64 with hardware intrinsics off), checks that it is refused instead, and returns false:
    /// the caller then has nothing more to check, and says so in its name or comment.
    /// </summary>
    public static bool AdvSimdRunsElseIsRefused()
    {
        Assert.Equal(AdvSimdExpected, ChaCha20Poly1305AdvSimd.IsSupported);
        if (ChaCha20Poly1305AdvSimd.IsSupported) return true;
        Assert.False(ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.AdvSimd));
        Assert.Throws<PlatformNotSupportedException>(() => new ChaCha20Poly1305Context(AeadBackend.AdvSimd));
        return false;
    }

    /// <summary>Every backend this process runs (the AdvSimd one where it runs, libcrypto where it loads, System).</summary>
    public static TheoryData<string> Backends()
    {
        var data = new TheoryData<string>();
        foreach (var backend in new[] { AeadBackend.AdvSimd, AeadBackend.Avx512, AeadBackend.Avx2, AeadBackend.OpenSsl, AeadBackend.System })
        {
            if (ChaCha20Poly1305Context.IsBackendSupported(backend)) data.Add(backend.ToString());
        }

        return data;
    }
}
