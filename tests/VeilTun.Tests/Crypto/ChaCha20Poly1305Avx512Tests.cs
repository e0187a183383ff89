using System.Buffers.Binary;
using System.Text;
using VeilTun.Crypto;
using Xunit;

namespace VeilTun.Tests.Crypto;

/// <summary>
/// The AVX-512 ChaCha20 and Poly1305 pieces on their own, against RFC 8439's vectors (the whole AEAD is checked
/// against OpenSSL and System in ChaCha20Poly1305ContextTests and below on random inputs).
/// </summary>
public sealed class ChaCha20Poly1305Avx512Tests
{
    private static uint[] Words(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        var words = new uint[bytes.Length / 4];
        for (int i = 0; i < words.Length; i++) words[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * 4));
        return words;
    }

    [Fact]
    public void Rfc8439Section232BlockFunctionVector()
    {
        if (!ChaCha20Poly1305Avx512.IsSupported) return;
        var key = Words("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        var nonce = Words("000000090000004a00000000");
        var output = new byte[256];
        ChaCha20Poly1305Avx512.FirstBlocksForTest(key, nonce, output);
        // Block counter 1 is the second block.
        Assert.Equal("10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
            + "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e",
            Convert.ToHexString(output, 64, 64).ToLowerInvariant());
    }

    [Fact]
    public void Rfc8439Section252Poly1305Vector()
    {
        if (!ChaCha20Poly1305Avx512.IsSupported) return;
        var key = Convert.FromHexString("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
        var tag = new byte[16];
        ChaCha20Poly1305Avx512.Poly1305ForTest(key, Encoding.ASCII.GetBytes("Cryptographic Forum Research Group"), tag);
        Assert.Equal("a8061dc1305136c6c22b8baf0c0127a9", Convert.ToHexString(tag).ToLowerInvariant());
    }

    [Fact]
    public void RandomMessagesSealAndOpenExactlyAsOpenSsl()
    {
        if (!ChaCha20Poly1305Avx512.IsSupported) return;
        var random = new Random(20261126);
        var key = new byte[32];
        using var avx = new ChaCha20Poly1305Context(AeadBackend.Avx512);
        using var openSsl = new ChaCha20Poly1305Context(AeadBackend.OpenSsl);
        int[] edges = [0, 1, 15, 16, 17, 63, 64, 65, 191, 192, 193, 255, 256, 257, 447, 448, 449, 1420, 1436, 65535, 65536 + 37];
        for (int round = 0; round < 600; round++)
        {
            if (round % 50 == 0)
            {
                random.NextBytes(key);
                avx.SetKey(key);
                openSsl.SetKey(key);
            }
            int length = round < edges.Length ? edges[round] : random.Next(0, round % 7 == 0 ? 70000 : 2000);
            var plaintext = new byte[length];
            var aad = new byte[random.Next(0, 100)];
            random.NextBytes(plaintext);
            random.NextBytes(aad);
            ulong counter = (ulong)random.NextInt64();
            var expected = new byte[length + 16];
            var actual = new byte[length + 16];
            openSsl.Seal(counter, plaintext, aad, expected);
            avx.Seal(counter, plaintext, aad, actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"seal differs at length {length}, aad {aad.Length}");

            var opened = new byte[length];
            Assert.True(avx.TryOpen(counter, actual, aad, opened));
            Assert.True(opened.AsSpan().SequenceEqual(plaintext));

            // One flipped bit anywhere (ciphertext, tag or associated data) fails, and nothing is decrypted.
            if (random.Next(2) == 0 || aad.Length == 0)
                actual[random.Next(actual.Length)] ^= (byte)(1 << random.Next(8));
            else
                aad[random.Next(aad.Length)] ^= (byte)(1 << random.Next(8));
            Array.Fill(opened, (byte)0xA5);
            Assert.False(avx.TryOpen(counter, actual, aad, opened));
            Assert.DoesNotContain(opened, b => b != 0 && b != 0xA5);
        }
    }
}
