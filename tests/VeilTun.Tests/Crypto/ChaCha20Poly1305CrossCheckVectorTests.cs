using System.Text;
using Org.BouncyCastle.Crypto.Parameters;
using VeilTun.CrossCheck;
using VeilTun.Crypto;
using Xunit;
using BcChaCha20Poly1305 = Org.BouncyCastle.Crypto.Modes.ChaCha20Poly1305;

namespace VeilTun.Tests.Crypto;

/// <summary>
/// Makes the cross-check vectors that tests/VeilTun.Arm64Tests checks the AdvSimd backend against under qemu-aarch64
/// (tests/interop/arm64.sh): every case sealed by every backend this machine runs and by BouncyCastle, all equal, and
/// the lines equal to the committed file (tests/VeilTun.Arm64Tests/Vectors/chacha20poly1305-x64.txt). With
/// <c>VEILTUN_WRITE_VECTORS=1</c> the test writes the file instead (after the same cross-checks).
/// </summary>
public sealed class ChaCha20Poly1305CrossCheckVectorTests
{
    [Fact]
    public void EveryBackendAndBouncyCastleMakeTheCommittedArm64CrossCheckVectors()
    {
        var backends = ((IEnumerable<object[]>)ChaCha20Poly1305ContextTests.Backends()).Select(row => Enum.Parse<AeadBackend>((string)row[0])).ToList();
        // At least libcrypto and System besides BouncyCastle; on this project's machines also AVX-512 and AVX2.
        Assert.True(backends.Count >= 2, string.Join(", ", backends));
        var contexts = backends.Select(backend => new ChaCha20Poly1305Context(backend)).ToList();
        try
        {
            var text = new StringBuilder(CrossCheckVectors.Header);
            int[] lengths = CrossCheckVectors.Lengths();
            for (int index = 0; index < lengths.Length; index++)
            {
                var c = CrossCheckVectors.Case.Make(index, lengths[index]);
                byte[] expected = BouncyCastleSeal(c);
                foreach (var context in contexts)
                {
                    context.SetKey(c.Key);
                    var sealedText = new byte[expected.Length];
                    context.Seal(c.Counter, c.Plaintext, c.AssociatedData, sealedText);
                    Assert.True(expected.AsSpan().SequenceEqual(sealedText), $"{context.Implementation} differs from BouncyCastle: case {index}, length {lengths[index]}");
                    var opened = new byte[c.Plaintext.Length];
                    Assert.True(context.TryOpen(c.Counter, expected, c.AssociatedData, opened), $"{context.Implementation} does not open case {index}");
                    Assert.True(c.Plaintext.AsSpan().SequenceEqual(opened));
                }

                text.Append(CrossCheckVectors.Line(c, expected)).Append('\n');
            }

            if (Environment.GetEnvironmentVariable("VEILTUN_WRITE_VECTORS") == "1")
            {
                File.WriteAllText(Path.Combine(RepositoryRoot(), "tests", "VeilTun.Arm64Tests", "Vectors", CrossCheckVectors.FileName), text.ToString());
                return;
            }

            string committed = CrossCheckVectors.ReadCommitted();
            Assert.True(committed == text.ToString(), "the committed vectors differ from what the x64 backends and BouncyCastle make: regenerate with VEILTUN_WRITE_VECTORS=1");
            Assert.Equal(lengths.Length, CrossCheckVectors.Parse(committed).Count);
        }
        finally
        {
            foreach (var context in contexts) context.Dispose();
        }
    }

    private static byte[] BouncyCastleSeal(CrossCheckVectors.Case c)
    {
        var cipher = new BcChaCha20Poly1305();
        cipher.Init(true, new AeadParameters(new KeyParameter(c.Key), 128, CrossCheckVectors.Nonce(c.Counter), c.AssociatedData));
        var output = new byte[cipher.GetOutputSize(c.Plaintext.Length)];
        int written = cipher.ProcessBytes(c.Plaintext, 0, c.Plaintext.Length, output, 0);
        written += cipher.DoFinal(output, written);
        Assert.Equal(output.Length, written);
        return output;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "VeilTun.slnx"))) return dir.FullName;
        }

        throw new DirectoryNotFoundException("VeilTun.slnx not found above the test assembly");
    }
}
