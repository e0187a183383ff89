using System.Buffers.Binary;
using System.Text;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;
using VeilTun.Crypto;
using Xunit;
using BcPoly1305 = Org.BouncyCastle.Crypto.Macs.Poly1305;
using SystemChaCha20Poly1305 = System.Security.Cryptography.ChaCha20Poly1305;

namespace VeilTun.Tests.Crypto;

/// <summary>
/// The AVX2 backend: its ChaCha20 and Poly1305 pieces against RFC 8439's vectors and BouncyCastle, and the whole AEAD
/// against OpenSSL and System on every length up to 2100 bytes (it also runs every per-backend theory of
/// ChaCha20Poly1305ContextTests and ChaCha20Poly1305SplicedTests). Each test passes vacuously on a CPU without AVX2.
/// </summary>
public sealed class ChaCha20Poly1305Avx2Tests
{
    private static uint[] Words(ReadOnlySpan<byte> bytes)
    {
        var words = new uint[bytes.Length / 4];
        for (int i = 0; i < words.Length; i++) words[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes[(i * 4)..]);
        return words;
    }

    private static uint[] Words(string hex) => Words(Convert.FromHexString(hex));

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    [Fact]
    public void Rfc8439Section232BlockFunctionVector()
    {
        if (!ChaCha20Poly1305Avx2.IsSupported) return;
        var key = Words("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        var nonce = Words("000000090000004a00000000");
        var output = new byte[128];
        ChaCha20Poly1305Avx2.FirstBlocksForTest(key, nonce, output);
        // Block counter 1 is the second block (the high lane of the first register set).
        Assert.Equal("10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
            + "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e", Hex(output.AsSpan(64)));
    }

    [Fact]
    public void Rfc8439AppendixA1BlockFunctionVectors1And2()
    {
        if (!ChaCha20Poly1305Avx2.IsSupported) return;
        var output = new byte[128];
        ChaCha20Poly1305Avx2.FirstBlocksForTest(new uint[8], new uint[3], output);
        // All-zero key and nonce, block counters 0 and 1.
        Assert.Equal("76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
            + "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586", Hex(output.AsSpan(0, 64)));
        Assert.Equal("9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
            + "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f", Hex(output.AsSpan(64, 64)));
    }

    [Fact]
    public void AllSixBlocksOfAChunkMatchBouncyCastleChaCha20()
    {
        // Blocks 0..5 come from three register sets, two lanes each: every set and lane must get its own counter.
        if (!ChaCha20Poly1305Avx2.IsSupported) return;
        var random = new Random(7539);
        for (int round = 0; round < 50; round++)
        {
            var key = new byte[32];
            var nonce = new byte[12];
            random.NextBytes(key);
            random.NextBytes(nonce);
            var actual = new byte[384];
            ChaCha20Poly1305Avx2.FirstBlocksForTest(Words(key), Words(nonce), actual);

            var engine = new ChaCha7539Engine();
            engine.Init(true, new ParametersWithIV(new KeyParameter(key), nonce));
            var expected = new byte[384];
            engine.ProcessBytes(new byte[384], 0, 384, expected, 0);
            Assert.Equal(Hex(expected), Hex(actual));
        }
    }

    [Fact]
    public void Rfc8439Section252Poly1305Vector()
    {
        if (!ChaCha20Poly1305Avx2.IsSupported) return;
        var key = Convert.FromHexString("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
        var tag = new byte[16];
        ChaCha20Poly1305Avx2.Poly1305ForTest(key, Encoding.ASCII.GetBytes("Cryptographic Forum Research Group"), tag);
        Assert.Equal("a8061dc1305136c6c22b8baf0c0127a9", Hex(tag));
    }

    // RFC 8439 Appendix A.3: #1 (all zero), then the edge cases #5..#11 (h reaching p, carries through every limb,
    // the final reduction and s's addition wrapping). Key = r || s.
    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000",
        "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "00000000000000000000000000000000")]
    [InlineData("0200000000000000000000000000000000000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffff", "03000000000000000000000000000000")]
    [InlineData("02000000000000000000000000000000ffffffffffffffffffffffffffffffff",
        "02000000000000000000000000000000", "03000000000000000000000000000000")]
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000",
        "fffffffffffffffffffffffffffffffff0ffffffffffffffffffffffffffffff11000000000000000000000000000000",
        "05000000000000000000000000000000")]
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000",
        "fffffffffffffffffffffffffffffffffbfefefefefefefefefefefefefefefe01010101010101010101010101010101",
        "00000000000000000000000000000000")]
    [InlineData("0200000000000000000000000000000000000000000000000000000000000000",
        "fdffffffffffffffffffffffffffffff", "faffffffffffffffffffffffffffffff")]
    [InlineData("0100000000000000040000000000000000000000000000000000000000000000",
        "e33594d7505e43b900000000000000003394d7505e4379cd01000000000000000000000000000000000000000000000001000000000000000000000000000000",
        "14000000000000005500000000000000")]
    [InlineData("0100000000000000040000000000000000000000000000000000000000000000",
        "e33594d7505e43b900000000000000003394d7505e4379cd010000000000000000000000000000000000000000000000",
        "13000000000000000000000000000000")]
    public void Rfc8439AppendixA3Poly1305Vectors(string key, string message, string expectedTag)
    {
        if (!ChaCha20Poly1305Avx2.IsSupported) return;
        var tag = new byte[16];
        ChaCha20Poly1305Avx2.Poly1305ForTest(Convert.FromHexString(key), Convert.FromHexString(message), tag);
        Assert.Equal(expectedTag, Hex(tag));
    }

    [Fact]
    public void Poly1305MatchesBouncyCastleOnEveryLengthFrom0To2100()
    {
        // Runs of 16+ blocks go through the vector lanes: every run length, every partial last block, random keys,
        // and at every seventh length the largest limbs (message all ones, r at its clamp maximum, s all ones) for
        // the carries.
        if (!ChaCha20Poly1305Avx2.IsSupported) return;
        var random = new Random(1305);
        var key = new byte[32];
        var tag = new byte[16];
        var expected = new byte[16];
        for (int length = 0; length <= 2100; length++)
        {
            var message = new byte[length];
            if (length % 7 == 0)
            {
                message.AsSpan().Fill(0xff);
                key.AsSpan().Fill(0xff); // Poly1305 clamps r to 0ffffffc0ffffffc0ffffffc0fffffff
            }
            else
            {
                random.NextBytes(message);
                random.NextBytes(key);
            }
            ChaCha20Poly1305Avx2.Poly1305ForTest(key, message, tag);

            var mac = new BcPoly1305();
            mac.Init(new KeyParameter(key));
            mac.BlockUpdate(message, 0, message.Length);
            mac.DoFinal(expected, 0);
            Assert.True(expected.AsSpan().SequenceEqual(tag), $"length {length}: {Hex(tag)}, BouncyCastle {Hex(expected)}");
        }
    }

    [Fact]
    public void EveryLengthFrom0To2100SealsAsOpenSslAndSystemOpensAndRejectsAFlippedBit()
    {
        if (!ChaCha20Poly1305Avx2.IsSupported) return;
        var random = new Random(20261127);
        var key = new byte[32];
        using var avx2 = new ChaCha20Poly1305Context(AeadBackend.Avx2);
        using var openSsl = new ChaCha20Poly1305Context(AeadBackend.OpenSsl);
        SystemChaCha20Poly1305? system = null;
        try
        {
            for (int length = 0; length <= 2100; length++)
            {
                if (length % 100 == 0)
                {
                    random.NextBytes(key);
                    avx2.SetKey(key);
                    openSsl.SetKey(key);
                    system?.Dispose();
                    system = new SystemChaCha20Poly1305(key);
                }
                var plaintext = new byte[length];
                var aad = new byte[random.Next(3) == 0 ? 0 : random.Next(1, 100)];
                random.NextBytes(plaintext);
                random.NextBytes(aad);
                ulong counter = (ulong)random.NextInt64();
                var expected = new byte[length + 16];
                var actual = new byte[length + 16];
                openSsl.Seal(counter, plaintext, aad, expected);
                avx2.Seal(counter, plaintext, aad, actual);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"seal differs from OpenSSL at length {length}, aad {aad.Length}");
                var nonce = new byte[12];
                BinaryPrimitives.WriteUInt64LittleEndian(nonce.AsSpan(4), counter);
                var independent = new byte[length + 16];
                system!.Encrypt(nonce, plaintext, independent.AsSpan(0, length), independent.AsSpan(length), aad);
                Assert.True(independent.AsSpan().SequenceEqual(actual), $"seal differs from System at length {length}");

                var opened = new byte[length];
                Assert.True(avx2.TryOpen(counter, actual, aad, opened), $"does not open at length {length}");
                Assert.True(opened.AsSpan().SequenceEqual(plaintext));

                // One flipped bit anywhere (ciphertext, tag or associated data) fails, and the backend itself writes
                // nothing (the context would zero the output on top of that).
                if (random.Next(2) == 0 || aad.Length == 0)
                    actual[random.Next(actual.Length)] ^= (byte)(1 << random.Next(8));
                else
                    aad[random.Next(aad.Length)] ^= (byte)(1 << random.Next(8));
                Array.Fill(opened, (byte)0xA5);
                Assert.False(ChaCha20Poly1305Avx2.TryOpen(Words(key), Words(nonce), actual.AsSpan(0, length), aad, actual.AsSpan(length), opened));
                Assert.True(opened.All(b => b == 0xA5), $"wrote output on a bad tag at length {length}");
            }
        }
        finally
        {
            system?.Dispose();
        }
    }

    [Fact]
    public void SplicedSealEqualsSealOverTheContiguousPlaintext()
    {
        if (!ChaCha20Poly1305Avx2.IsSupported) return;
        var random = new Random(1368);
        var keyBytes = new byte[32];
        var nonceBytes = new byte[12];
        int cases = 0;
        // Around the keystream chunks (320 bytes after the Poly1305 block, then 384), blocks and packet sizes.
        int[] lengths = [0, 1, 15, 16, 17, 63, 64, 65, 319, 320, 321, 383, 384, 385, 703, 704, 705, 1087, 1088, 1089, 1420, 2100];
        foreach (int length in lengths)
        {
            for (int trial = 0; trial < 12; trial++)
            {
                random.NextBytes(keyBytes);
                random.NextBytes(nonceBytes);
                uint[] key = Words(keyBytes), nonce = Words(nonceBytes);
                int at = random.Next(0, length + 1);
                int middleLength = trial == 0 ? length - at : random.Next(0, length - at + 1);
                var plaintext = new byte[length];
                random.NextBytes(plaintext);
                var expected = new byte[length + 16];
                ChaCha20Poly1305Avx2.Seal(key, nonce, plaintext, default, expected.AsSpan(0, length), expected.AsSpan(length));

                var middle = plaintext.AsSpan(at, middleLength).ToArray();
                var buffer = new byte[length + 16];
                plaintext.CopyTo(buffer, 0);
                for (int i = at; i < at + middleLength; i++) buffer[i] = (byte)~plaintext[i]; // the hole must not be read
                ChaCha20Poly1305Avx2.SealSpliced(key, nonce, buffer.AsSpan(0, length), at, middle, buffer.AsSpan(length));
                Assert.True(expected.AsSpan().SequenceEqual(buffer), $"length {length}, at {at}, middle {middleLength}");
                cases++;
            }
        }
        Assert.Equal(lengths.Length * 12, cases);
    }

    [Fact]
    public void AgreesWithTheAvx512BackendWhereBothRun()
    {
        if (!ChaCha20Poly1305Avx2.IsSupported || !ChaCha20Poly1305Avx512.IsSupported) return;
        var random = new Random(512);
        var key = new uint[8];
        var nonce = new uint[3];
        foreach (int length in new[] { 0, 1, 255, 256, 1420, 4096 + 33, 65535 })
        {
            for (int i = 0; i < 8; i++) key[i] = (uint)random.Next();
            for (int i = 0; i < 3; i++) nonce[i] = (uint)random.Next();
            var plaintext = new byte[length];
            var aad = new byte[random.Next(0, 300)];
            random.NextBytes(plaintext);
            random.NextBytes(aad);
            var a = new byte[length + 16];
            var b = new byte[length + 16];
            ChaCha20Poly1305Avx2.Seal(key, nonce, plaintext, aad, a.AsSpan(0, length), a.AsSpan(length));
            ChaCha20Poly1305Avx512.Seal(key, nonce, plaintext, aad, b.AsSpan(0, length), b.AsSpan(length));
            Assert.True(a.AsSpan().SequenceEqual(b), $"length {length}");
        }
    }
}
