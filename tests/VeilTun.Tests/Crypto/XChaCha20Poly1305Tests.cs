using System.Text;
using Org.BouncyCastle.Crypto.Parameters;
using VeilTun.Crypto;
using Xunit;
using BcXChaCha20Poly1305 = Org.BouncyCastle.Crypto.Modes.XChaCha20Poly1305;

namespace VeilTun.Tests.Crypto;

public class XChaCha20Poly1305Tests
{
    // draft-irtf-cfrg-xchacha-03 §A.3.1 (AEAD_XCHACHA20_POLY1305 example).
    private static readonly byte[] s_key = Convert.FromHexString("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    private static readonly byte[] s_nonce = Convert.FromHexString("404142434445464748494a4b4c4d4e4f5051525354555657");
    private static readonly byte[] s_aad = Convert.FromHexString("50515253c0c1c2c3c4c5c6c7");
    private static readonly byte[] s_plaintext = Encoding.ASCII.GetBytes(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    private static readonly byte[] s_ciphertextAndTag = Convert.FromHexString(
        "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39"
        + "ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
        + "21f9664c97637da9768812f615c68b13b52e"
        + "c0875924c1c7987947deafd8780acf49");

    private static byte[] BouncyCastleSeal(byte[] key, byte[] nonce, byte[] plaintext, byte[] associatedData)
    {
        var cipher = new BcXChaCha20Poly1305();
        cipher.Init(true, new AeadParameters(new KeyParameter(key), 128, nonce, associatedData));
        var output = new byte[cipher.GetOutputSize(plaintext.Length)];
        int written = cipher.ProcessBytes(plaintext, 0, plaintext.Length, output, 0);
        written += cipher.DoFinal(output, written);
        Assert.Equal(output.Length, written);
        return output;
    }

    [Fact]
    public void DraftA31VectorSealsToThePublishedCiphertextAndTag()
    {
        var output = new byte[s_plaintext.Length + XChaCha20Poly1305Cipher.TagSize];

        XChaCha20Poly1305Cipher.Seal(s_key, s_nonce, s_plaintext, s_aad, output);

        Assert.Equal(Convert.ToHexString(s_ciphertextAndTag), Convert.ToHexString(output));
    }

    [Fact]
    public void DraftA31VectorOpensToThePublishedPlaintext()
    {
        var plaintext = new byte[s_plaintext.Length];

        Assert.True(XChaCha20Poly1305Cipher.TryOpen(s_key, s_nonce, s_ciphertextAndTag, s_aad, plaintext));

        Assert.Equal(s_plaintext, plaintext);
    }

    [Fact]
    public void BouncyCastleAgreesOnTheDraftVector()
    {
        // Checks the oracle itself, so the random cross-check below compares against something known-good.
        Assert.Equal(s_ciphertextAndTag, BouncyCastleSeal(s_key, s_nonce, s_plaintext, s_aad));
    }

    [Fact]
    public void RandomInputsMatchBouncyCastleAndRoundTrip()
    {
        var random = new Random(24);
        foreach (int length in new[] { 0, 1, 15, 16, 17, 63, 64, 65, 200, 1420 })
        {
            var key = new byte[32];
            var nonce = new byte[24];
            var plaintext = new byte[length];
            var associatedData = new byte[length % 3 == 0 ? 0 : 16];
            random.NextBytes(key);
            random.NextBytes(nonce);
            random.NextBytes(plaintext);
            random.NextBytes(associatedData);

            var output = new byte[length + 16];
            XChaCha20Poly1305Cipher.Seal(key, nonce, plaintext, associatedData, output);
            Assert.Equal(BouncyCastleSeal(key, nonce, plaintext, associatedData), output);

            var opened = new byte[length];
            Assert.True(XChaCha20Poly1305Cipher.TryOpen(key, nonce, output, associatedData, opened));
            Assert.Equal(plaintext, opened);
        }
    }

    [Fact]
    public void SealAndOpenWorkInPlace()
    {
        var buffer = new byte[s_plaintext.Length + 16];
        s_plaintext.CopyTo(buffer, 0);
        int length = s_plaintext.Length;

        XChaCha20Poly1305Cipher.Seal(s_key, s_nonce, buffer.AsSpan(0, length), s_aad, buffer);
        Assert.Equal(s_ciphertextAndTag, buffer);

        Assert.True(XChaCha20Poly1305Cipher.TryOpen(s_key, s_nonce, buffer, s_aad, buffer.AsSpan(0, length)));
        Assert.Equal(s_plaintext, buffer.AsSpan(0, length).ToArray());
    }

    [Fact]
    public void FlippedTagBitIsRejectedWithoutThrowingAndThePlaintextZeroed()
    {
        byte[] tampered = (byte[])s_ciphertextAndTag.Clone();
        tampered[^16] ^= 0x01;
        var plaintext = new byte[s_plaintext.Length];
        plaintext.AsSpan().Fill(0xAA);

        Assert.False(XChaCha20Poly1305Cipher.TryOpen(s_key, s_nonce, tampered, s_aad, plaintext));

        Assert.All(plaintext, b => Assert.Equal(0, b));
    }

    [Fact]
    public void WrongNonceOrAssociatedDataIsRejected()
    {
        byte[] otherNonce = (byte[])s_nonce.Clone();
        otherNonce[23] ^= 0x01;
        var plaintext = new byte[s_plaintext.Length];

        Assert.False(XChaCha20Poly1305Cipher.TryOpen(s_key, otherNonce, s_ciphertextAndTag, s_aad, plaintext));
        Assert.False(XChaCha20Poly1305Cipher.TryOpen(s_key, s_nonce, s_ciphertextAndTag, default, plaintext));
    }

    [Fact]
    public void InputShorterThanATagIsRejectedWithoutThrowing()
    {
        for (int length = 0; length < 16; length++)
        {
            Assert.False(XChaCha20Poly1305Cipher.TryOpen(s_key, s_nonce, new byte[length], default, Span<byte>.Empty));
        }
    }

    [Fact]
    public void WrongSizesThrowArgumentException()
    {
        Assert.Throws<ArgumentException>(() => XChaCha20Poly1305Cipher.Seal(new byte[31], s_nonce, s_plaintext, default, new byte[s_plaintext.Length + 16]));
        Assert.Throws<ArgumentException>(() => XChaCha20Poly1305Cipher.Seal(s_key, new byte[12], s_plaintext, default, new byte[s_plaintext.Length + 16]));
        Assert.Throws<ArgumentException>(() => XChaCha20Poly1305Cipher.Seal(s_key, s_nonce, s_plaintext, default, new byte[s_plaintext.Length]));
        Assert.Throws<ArgumentException>(() => XChaCha20Poly1305Cipher.TryOpen(s_key, s_nonce, s_ciphertextAndTag, s_aad, new byte[1]));
    }
}
