using System.Text;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Macs;
using Org.BouncyCastle.Crypto.Parameters;
using VeilTun.Crypto;
using VeilTun.Tests.Vectors;
using Xunit;

namespace VeilTun.Tests.Crypto;

public class NoiseKdfTests
{
    public static TheoryData<int> WireGuardGoVectors()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Blake2sVectors.WireGuardKdf.Length; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(WireGuardGoVectors))]
    public void Kdf3MatchesWireGuardGo(int index)
    {
        var v = Blake2sVectors.WireGuardKdf[index];
        byte[] t1 = new byte[32], t2 = new byte[32], t3 = new byte[32];

        NoiseKdf.Kdf3(Convert.FromHexString(v.Key), Convert.FromHexString(v.Input), t1, t2, t3);

        Assert.Equal(v.T1, Convert.ToHexStringLower(t1));
        Assert.Equal(v.T2, Convert.ToHexStringLower(t2));
        Assert.Equal(v.T3, Convert.ToHexStringLower(t3));
    }

    [Theory]
    [MemberData(nameof(WireGuardGoVectors))]
    public void Kdf2MatchesWireGuardGo(int index)
    {
        var v = Blake2sVectors.WireGuardKdf[index];
        byte[] t1 = new byte[32], t2 = new byte[32];

        NoiseKdf.Kdf2(Convert.FromHexString(v.Key), Convert.FromHexString(v.Input), t1, t2);

        Assert.Equal(v.T1, Convert.ToHexStringLower(t1));
        Assert.Equal(v.T2, Convert.ToHexStringLower(t2));
    }

    [Theory]
    [MemberData(nameof(WireGuardGoVectors))]
    public void Kdf1MatchesWireGuardGo(int index)
    {
        var v = Blake2sVectors.WireGuardKdf[index];
        byte[] t1 = new byte[32];

        NoiseKdf.Kdf1(Convert.FromHexString(v.Key), Convert.FromHexString(v.Input), t1);

        Assert.Equal(v.T1, Convert.ToHexStringLower(t1));
    }

    [Fact]
    public void MatchesHkdfBuiltFromBouncyCastleHMac()
    {
        var random = new Random(5869);
        for (int trial = 0; trial < 50; trial++)
        {
            byte[] key = RandomBytes(random, 32);
            byte[] input = RandomBytes(random, trial % 5 == 0 ? 0 : random.Next(1, 100));

            byte[] prk = BouncyCastleHmac(key, input);
            byte[] expected1 = BouncyCastleHmac(prk, [0x01]);
            byte[] expected2 = BouncyCastleHmac(prk, [.. expected1, 0x02]);
            byte[] expected3 = BouncyCastleHmac(prk, [.. expected2, 0x03]);

            byte[] t1 = new byte[32], t2 = new byte[32], t3 = new byte[32];
            NoiseKdf.Kdf3(key, input, t1, t2, t3);

            Assert.Equal(expected1, t1);
            Assert.Equal(expected2, t2);
            Assert.Equal(expected3, t3);
        }
    }

    [Fact]
    public void Kdf2MayWriteItsFirstOutputOverTheKey()
    {
        // The handshake does (ck, k) = KDF2(ck, dh) with ck as both key and first output.
        var random = new Random(3);
        byte[] ck = RandomBytes(random, 32);
        byte[] dh = RandomBytes(random, 32);
        byte[] expected1 = new byte[32], expected2 = new byte[32];
        NoiseKdf.Kdf2(ck, dh, expected1, expected2);

        byte[] k = new byte[32];
        NoiseKdf.Kdf2(ck, dh, ck, k);

        Assert.Equal(expected1, ck);
        Assert.Equal(expected2, k);
    }

    [Fact]
    public void Kdf2MayWriteItsSecondOutputOverTheKeyAndInput()
    {
        var random = new Random(4);
        byte[] key = RandomBytes(random, 32);
        byte[] input = RandomBytes(random, 32);
        byte[] expected1 = new byte[32], expected2 = new byte[32];
        NoiseKdf.Kdf2(key, input, expected1, expected2);

        byte[] t1 = new byte[32];
        byte[] keyCopy = (byte[])key.Clone();
        NoiseKdf.Kdf2(keyCopy, input, t1, keyCopy);
        Assert.Equal(expected1, t1);
        Assert.Equal(expected2, keyCopy);

        byte[] inputCopy = (byte[])input.Clone();
        NoiseKdf.Kdf2(key, inputCopy, t1, inputCopy);
        Assert.Equal(expected1, t1);
        Assert.Equal(expected2, inputCopy);
    }

    [Fact]
    public void Kdf1AndKdf3MayWriteOverTheKey()
    {
        var random = new Random(5);
        byte[] key = RandomBytes(random, 32);
        byte[] input = RandomBytes(random, 32);
        byte[] expected1 = new byte[32], expected2 = new byte[32], expected3 = new byte[32];
        NoiseKdf.Kdf3(key, input, expected1, expected2, expected3);

        byte[] ck = (byte[])key.Clone();
        NoiseKdf.Kdf1(ck, input, ck);
        Assert.Equal(expected1, ck);

        // The psk step: (ck, tau, k) = KDF3(ck, psk).
        ck = (byte[])key.Clone();
        byte[] tau = new byte[32], k = new byte[32];
        NoiseKdf.Kdf3(ck, input, ck, tau, k);
        Assert.Equal(expected1, ck);
        Assert.Equal(expected2, tau);
        Assert.Equal(expected3, k);
    }

    [Fact]
    public void RejectsOutputsThatAreNotThirtyTwoBytes()
    {
        Assert.Throws<ArgumentException>(() => NoiseKdf.Kdf1(new byte[32], new byte[32], new byte[31]));
        Assert.Throws<ArgumentException>(() => NoiseKdf.Kdf2(new byte[32], new byte[32], new byte[32], new byte[33]));
        Assert.Throws<ArgumentException>(() => NoiseKdf.Kdf3(new byte[32], new byte[32], new byte[32], new byte[32], new byte[0]));
    }

    [Fact]
    public void RejectsOverlappingOutputs()
    {
        byte[] buffer = new byte[64];
        Assert.Throws<ArgumentException>(() => NoiseKdf.Kdf2(new byte[32], new byte[32], buffer.AsSpan(0, 32), buffer.AsSpan(16, 32)));
        Assert.Throws<ArgumentException>(() => NoiseKdf.Kdf3(new byte[32], new byte[32], buffer.AsSpan(0, 32), buffer.AsSpan(32, 32), buffer.AsSpan(0, 32)));
    }

    // ---- Noise constants (they exercise HASH exactly as the handshake does) ----

    [Fact]
    public void InitialChainKeyIsHashOfTheConstruction()
    {
        byte[] ci = new byte[Blake2s.HashSize];
        Blake2s.Hash(Encoding.ASCII.GetBytes(Blake2sVectors.Construction), ci);
        Assert.Equal(Blake2sVectors.InitialChainKey, Convert.ToHexStringLower(ci));
    }

    [Fact]
    public void InitialHashIsHashOfChainKeyAndIdentifier()
    {
        byte[] hi = new byte[Blake2s.HashSize];
        Blake2s.Hash(Convert.FromHexString(Blake2sVectors.InitialChainKey), Encoding.ASCII.GetBytes(Blake2sVectors.Identifier), hi);
        Assert.Equal(Blake2sVectors.InitialHash, Convert.ToHexStringLower(hi));
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] BouncyCastleHmac(byte[] key, byte[] message)
    {
        var hmac = new HMac(new Blake2sDigest(256));
        hmac.Init(new KeyParameter(key));
        hmac.BlockUpdate(message, 0, message.Length);
        byte[] output = new byte[hmac.GetMacSize()];
        hmac.DoFinal(output, 0);
        return output;
    }
}
