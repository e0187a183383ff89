using System.Text;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Macs;
using Org.BouncyCastle.Crypto.Parameters;
using VeilTun.Crypto;
using VeilTun.Tests.Vectors;
using Xunit;

namespace VeilTun.Tests.Crypto;

public class HmacBlake2sTests
{
    private static readonly byte[] s_fox = Encoding.ASCII.GetBytes(Blake2sVectors.FoxMessage);

    [Fact]
    public void ShortKeyMatchesPythonHmac()
    {
        byte[] mac = new byte[HmacBlake2s.MacSize];
        HmacBlake2s.Compute("key"u8, s_fox, mac);
        Assert.Equal(Blake2sVectors.HmacShortKeyFox, Convert.ToHexStringLower(mac));
    }

    [Fact]
    public void KeyLongerThanOneBlockIsHashedFirst()
    {
        byte[] mac = new byte[HmacBlake2s.MacSize];
        HmacBlake2s.Compute(Blake2sVectors.Sequential(100), s_fox, mac);
        Assert.Equal(Blake2sVectors.HmacLongKeyFox, Convert.ToHexStringLower(mac));
    }

    [Fact]
    public void EmptyKeyAndEmptyMessageMatchPythonHmac()
    {
        byte[] mac = new byte[HmacBlake2s.MacSize];
        HmacBlake2s.Compute(ReadOnlySpan<byte>.Empty, ReadOnlySpan<byte>.Empty, mac);
        Assert.Equal(Blake2sVectors.HmacEmptyKeyEmpty, Convert.ToHexStringLower(mac));
    }

    [Fact]
    public void MatchesBouncyCastleHMacForRandomKeysAndMessages()
    {
        var random = new Random(2104);
        int[] keyLengths = [0, 1, 16, 31, 32, 33, 63, 64, 65, 100, 128, 200];
        for (int trial = 0; trial < 300; trial++)
        {
            int keyLength = trial < keyLengths.Length ? keyLengths[trial] : random.Next(0, 201);
            int messageLength = trial % 7 == 0 ? 64 * random.Next(0, 5) : random.Next(0, 301);
            byte[] key = RandomBytes(random, keyLength);
            byte[] message = RandomBytes(random, messageLength);

            byte[] actual = new byte[HmacBlake2s.MacSize];
            HmacBlake2s.Compute(key, message, actual);

            Assert.Equal(BouncyCastleHmac(key, message), actual);
        }
    }

    [Fact]
    public void OutputMayOverlapKeyAndInput()
    {
        var random = new Random(1);
        byte[] key = RandomBytes(random, 32);
        byte[] message = RandomBytes(random, 32);
        byte[] expected = BouncyCastleHmac(key, message);

        byte[] inPlaceKey = (byte[])key.Clone();
        HmacBlake2s.Compute(inPlaceKey, message, inPlaceKey);
        Assert.Equal(expected, inPlaceKey);

        byte[] inPlaceMessage = (byte[])message.Clone();
        HmacBlake2s.Compute(key, inPlaceMessage, inPlaceMessage);
        Assert.Equal(expected, inPlaceMessage);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(33)]
    public void RejectsOutputThatIsNotThirtyTwoBytes(int length)
    {
        Assert.Throws<ArgumentException>(() => HmacBlake2s.Compute("key"u8, "msg"u8, new byte[length]));
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
