using System.Runtime.Intrinsics.Arm;
using VeilTun.Crypto;
using Xunit;

namespace VeilTun.Arm64Tests;

/// <summary>Which AEAD backend the process picks, and that each qemu run emulates the CPU it was started for.</summary>
public sealed class BackendChoiceTests
{
    [Fact]
    public void TheProcessPicksTheExpectedBackend()
    {
        // Auto: the AdvSimd code on ARM64 wherever .NET enables intrinsics, never libcrypto or System there.
        Assert.Equal(Expectation.Aead, ChaCha20Poly1305Context.ImplementationName);
        using var context = new ChaCha20Poly1305Context();
        Assert.Equal(Expectation.Aead, context.Implementation == AeadBackend.OpenSsl ? "libcrypto" : context.Implementation.ToString().ToLowerInvariant());
        Assert.True(ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.OpenSsl), "libcrypto.so.3 must load (libssl3:arm64 under qemu)");
        if (Expectation.IsArm64)
        {
            Assert.False(ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.Avx512));
            Assert.False(ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.Avx2));
        }
    }

    [Fact]
    public void TheEmulatedCpuIsTheOneTheRunAskedFor()
    {
        switch (Expectation.Cpu)
        {
            case "max": // qemu's default: every extension it emulates, ARMv8.2's dot product and RDM among them
                Assert.True(Expectation.IsArm64);
                Assert.True(AdvSimd.Arm64.IsSupported);
                Assert.True(Dp.IsSupported);
                Assert.True(Rdm.IsSupported);
                break;
            case "cortex-a53": // ARMv8.0-A: AdvSimd (every ARMv8-A has it) but no dot product or RDM
                Assert.True(Expectation.IsArm64);
                Assert.True(AdvSimd.Arm64.IsSupported);
                Assert.False(Dp.IsSupported);
                Assert.False(Rdm.IsSupported);
                break;
            case "none": // DOTNET_EnableHWIntrinsic=0: .NET uses no vector instructions at all
                Assert.True(Expectation.IsArm64);
                Assert.False(AdvSimd.IsSupported);
                Assert.False(AdvSimd.Arm64.IsSupported);
                break;
            case null: // run by hand: only what holds everywhere
                Assert.True(!AdvSimd.IsSupported || Expectation.IsArm64);
                break;
            default:
                Assert.Fail($"VEILTUN_EXPECT_CPU={Expectation.Cpu}: expected max, cortex-a53 or none");
                break;
        }
    }
}
