using VeilTun.Crypto;
using Xunit;
using BcX25519 = Org.BouncyCastle.Math.EC.Rfc7748.X25519;

namespace VeilTun.Tests.Crypto;

public class X25519Tests
{
    /// <summary>RFC 7748 §5.2: (scalar, input u-coordinate, output u-coordinate). The scalars are unclamped and the
    /// second u has its top bit set, which must be ignored.</summary>
    public static TheoryData<string, string, string> Rfc7748Section52() => new()
    {
        {
            "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
            "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
        },
        {
            "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
            "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"
        },
    };

    /// <summary>Low-order public keys from the kernel's netns.sh (tools/testing/selftests/wireguard): 0, 1, the two order-8 points,
    /// p-1, p and p+1. libsodium rejects every one of them (its blacklist, top bit ignored).</summary>
    public static TheoryData<string> LowOrderPublicKeys() => new()
    {
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=",
        "X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc=",
        "7P///////////////////////////////////////38=",
        "7f///////////////////////////////////////38=",
        "7v///////////////////////////////////////38=",
    };

    [Theory]
    [MemberData(nameof(Rfc7748Section52))]
    public void Rfc7748Section52VectorsGiveThePublishedOutput(string scalar, string u, string expected)
    {
        var output = new byte[32];

        Assert.True(X25519.TrySharedSecret(Convert.FromHexString(scalar), Convert.FromHexString(u), output));

        Assert.Equal(expected, Convert.ToHexStringLower(output));
    }

    [Fact]
    public void Rfc7748Section52IteratedVectorsMatchAfterOneAndAThousandIterations()
    {
        // RFC 7748 §5.2: k = u = 9; each step k, u = X25519(k, u), k.
        var k = new byte[32];
        var u = new byte[32];
        var next = new byte[32];
        k[0] = 9;
        u[0] = 9;

        for (int i = 1; i <= 1000; i++)
        {
            Assert.True(X25519.TrySharedSecret(k, u, next));
            k.CopyTo(u, 0);
            next.CopyTo(k, 0);
            if (i == 1)
            {
                Assert.Equal("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079", Convert.ToHexStringLower(k));
            }
        }

        Assert.Equal("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51", Convert.ToHexStringLower(k));
    }

    [Fact]
    public void Rfc7748Section61AliceAndBobDeriveThePublishedKeysAndSharedSecret()
    {
        byte[] alicePrivate = Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        byte[] bobPrivate = Convert.FromHexString("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        var alicePublic = new byte[32];
        var bobPublic = new byte[32];
        var aliceShared = new byte[32];
        var bobShared = new byte[32];

        X25519.DerivePublicKey(alicePrivate, alicePublic);
        X25519.DerivePublicKey(bobPrivate, bobPublic);
        Assert.True(X25519.TrySharedSecret(alicePrivate, bobPublic, aliceShared));
        Assert.True(X25519.TrySharedSecret(bobPrivate, alicePublic, bobShared));

        Assert.Equal("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", Convert.ToHexStringLower(alicePublic));
        Assert.Equal("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", Convert.ToHexStringLower(bobPublic));
        Assert.Equal("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", Convert.ToHexStringLower(aliceShared));
        Assert.Equal(aliceShared, bobShared);
    }

    [Theory]
    [MemberData(nameof(LowOrderPublicKeys))]
    public void LowOrderPublicKeyIsRejectedAndTheOutputZeroed(string publicKeyBase64)
    {
        byte[] publicKey = Convert.FromBase64String(publicKeyBase64);
        byte[] privateKey = Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        var shared = new byte[32];
        shared.AsSpan().Fill(0xAA);

        Assert.False(X25519.TrySharedSecret(privateKey, publicKey, shared));
        Assert.All(shared, b => Assert.Equal(0, b));

        // RFC 7748 §5 ignores the top bit of u, so the same points with it set must be rejected too.
        publicKey[31] |= 0x80;
        shared.AsSpan().Fill(0xAA);
        Assert.False(X25519.TrySharedSecret(privateKey, publicKey, shared));
        Assert.All(shared, b => Assert.Equal(0, b));

        // Oracle: BouncyCastle's X25519 also refuses (all-zero result) for each of these points.
        Assert.False(BcX25519.CalculateAgreement(privateKey, 0, publicKey, 0, new byte[32], 0));
    }

    [Fact]
    public void UnclampedPrivateKeyBehavesLikeItsClampedForm()
    {
        var random = new Random(7748);
        var peerPublic = new byte[32];
        X25519.DerivePublicKey(Convert.FromHexString("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"), peerPublic);

        for (int i = 0; i < 32; i++)
        {
            var raw = new byte[32];
            random.NextBytes(raw);
            raw[0] |= 0x07; // make sure clamping really changes the key
            raw[31] |= 0x80;
            byte[] clamped = (byte[])raw.Clone();
            X25519.ClampPrivateKey(clamped);
            Assert.NotEqual(raw, clamped);

            var publicRaw = new byte[32];
            var publicClamped = new byte[32];
            X25519.DerivePublicKey(raw, publicRaw);
            X25519.DerivePublicKey(clamped, publicClamped);
            Assert.Equal(publicClamped, publicRaw);

            var sharedRaw = new byte[32];
            var sharedClamped = new byte[32];
            Assert.True(X25519.TrySharedSecret(raw, peerPublic, sharedRaw));
            Assert.True(X25519.TrySharedSecret(clamped, peerPublic, sharedClamped));
            Assert.Equal(sharedClamped, sharedRaw);
        }
    }

    [Fact]
    public void ClampPrivateKeyClearsTheLowThreeBitsAndTheTopBitAndSetsBit254()
    {
        var ones = new byte[32];
        ones.AsSpan().Fill(0xFF);
        var zeros = new byte[32];

        X25519.ClampPrivateKey(ones);
        X25519.ClampPrivateKey(zeros);

        Assert.Equal("f8" + new string('f', 60) + "7f", Convert.ToHexStringLower(ones));
        Assert.Equal(new string('0', 62) + "40", Convert.ToHexStringLower(zeros));
    }

    [Fact]
    public void RandomKeyPairsAgreeWithBouncyCastle()
    {
        var random = new Random(25519);
        for (int i = 0; i < 16; i++)
        {
            var privateA = new byte[32];
            var privateB = new byte[32];
            random.NextBytes(privateA);
            random.NextBytes(privateB);
            var publicB = new byte[32];
            var expectedPublicB = new byte[32];
            X25519.DerivePublicKey(privateB, publicB);
            BcX25519.ScalarMultBase(privateB, 0, expectedPublicB, 0);
            Assert.Equal(expectedPublicB, publicB);

            var shared = new byte[32];
            var expectedShared = new byte[32];
            Assert.True(X25519.TrySharedSecret(privateA, publicB, shared));
            Assert.True(BcX25519.CalculateAgreement(privateA, 0, publicB, 0, expectedShared, 0));
            Assert.Equal(expectedShared, shared);
        }
    }

    [Fact]
    public void WrongLengthsThrowArgumentException()
    {
        Assert.Throws<ArgumentException>(() => X25519.ClampPrivateKey(new byte[31]));
        Assert.Throws<ArgumentException>(() => X25519.DerivePublicKey(new byte[31], new byte[32]));
        Assert.Throws<ArgumentException>(() => X25519.DerivePublicKey(new byte[32], new byte[33]));
        Assert.Throws<ArgumentException>(() => X25519.TrySharedSecret(new byte[32], new byte[31], new byte[32]));
        Assert.Throws<ArgumentException>(() => X25519.TrySharedSecret(new byte[32], new byte[32], new byte[16]));
    }
}
