using CsCheck;
using VeilTun.Crypto;
using Xunit;

namespace VeilTun.Tests.Crypto;

public class KeyEncodingTests
{
    // The low-order points of the kernel's netns.sh: base64 and the same bytes in hex. The hex is the well-known
    // Curve25519 order-8 point 0xe0eb7a7c...; the base64 form is the one netns.sh uses.
    private const string LowOrderBase64 = "4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=";
    private const string LowOrderHex = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800";

    [Fact]
    public void NetnsLowOrderKeyDecodesToKnownBytes()
    {
        var fromBase64 = new byte[32];
        var fromHex = new byte[32];
        Assert.True(KeyEncoding.TryParseBase64(LowOrderBase64, fromBase64));
        Assert.True(KeyEncoding.TryParseHex(LowOrderHex, fromHex));
        Assert.Equal(fromHex, fromBase64);
        Assert.Equal(LowOrderBase64, KeyEncoding.ToBase64(fromHex));
        Assert.Equal(LowOrderHex, KeyEncoding.ToHex(fromBase64));
    }

    [Theory] // RFC 4648 §10 test vectors.
    [InlineData("", "")]
    [InlineData("f", "Zg==")]
    [InlineData("fo", "Zm8=")]
    [InlineData("foo", "Zm9v")]
    [InlineData("foob", "Zm9vYg==")]
    [InlineData("fooba", "Zm9vYmE=")]
    [InlineData("foobar", "Zm9vYmFy")]
    public void ToBase64MatchesRfc4648Vectors(string input, string expected) =>
        Assert.Equal(expected, KeyEncoding.ToBase64(System.Text.Encoding.ASCII.GetBytes(input)));

    [Fact] // RFC 4648 §10: BASE16("foobar") = "666F6F626172" (we print lowercase, as wg-go does).
    public void ToHexMatchesRfc4648Vector() =>
        Assert.Equal("666f6f626172", KeyEncoding.ToHex("foobar"u8));

    [Fact]
    public void HexAcceptsUpperCaseLikeGo()
    {
        var lower = new byte[32];
        var upper = new byte[32];
        Assert.True(KeyEncoding.TryParseHex(LowOrderHex, lower));
        Assert.True(KeyEncoding.TryParseHex(LowOrderHex.ToUpperInvariant(), upper));
        Assert.Equal(lower, upper);
    }

    [Theory]
    [InlineData("")]
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b8")] // 62
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b8000")] // 65
    [InlineData("g0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")]
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b80 ")]
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b80:")] // ':' is '9'+1
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b80@")] // '@' is 'A'-1
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b80G")]
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b80\u0130")]
    public void BadHexIsRejectedAndOutputZeroed(string text)
    {
        var key = Enumerable.Repeat((byte)0xaa, 32).ToArray();
        Assert.False(KeyEncoding.TryParseHex(text, key));
        Assert.All(key, b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData("")]
    [InlineData("4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA")]   // 43, no padding
    [InlineData("4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA==")] // 45
    [InlineData("4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAAA")]  // 44 but no '='
    [InlineData("4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAB=")]  // non-zero trailing bits (wg rejects)
    [InlineData("4Ot6fDtBuK4WVuP68Z-EatoJjeucMrH9hmIFFl9JuAA=")]  // URL-safe alphabet is not base64 here
    [InlineData("4Ot6fDtBuK4WVuP68Z_EatoJjeucMrH9hmIFFl9JuAA=")]
    [InlineData("4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9Ju=A=")]
    [InlineData("4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuA\u00c0=")]
    public void BadBase64IsRejectedAndOutputZeroed(string text)
    {
        var key = Enumerable.Repeat((byte)0xaa, 32).ToArray();
        Assert.False(KeyEncoding.TryParseBase64(text, key));
        Assert.All(key, b => Assert.Equal(0, b));
    }

    [Fact]
    public void WrongSizedDestinationIsAProgrammingError()
    {
        Assert.Throws<ArgumentException>(() => KeyEncoding.TryParseHex(LowOrderHex, new byte[31]));
        Assert.Throws<ArgumentException>(() => KeyEncoding.TryParseBase64(LowOrderBase64, new byte[33]));
    }

    [Fact]
    public void RandomKeysRoundTripAndAgreeWithTheFramework()
    {
        Gen.Byte.Array[32].Sample(key =>
        {
            string b64 = KeyEncoding.ToBase64(key);
            string hex = KeyEncoding.ToHex(key);
            // System.Convert is an independent implementation of the same encodings.
            Assert.Equal(Convert.ToBase64String(key), b64);
            Assert.Equal(Convert.ToHexStringLower(key), hex);
            var back = new byte[32];
            Assert.True(KeyEncoding.TryParseBase64(b64, back));
            Assert.Equal(key, back);
            Assert.True(KeyEncoding.TryParseHex(hex, back));
            Assert.Equal(key, back);
        });
    }

    [Fact]
    public void Base64ParserAgreesWithTheFrameworkOnRandomText()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ .";
        Gen.Char[alphabet].Array[44].Select(c => new string(c)).Sample(text =>
        {
            var ours = new byte[32];
            bool ok = KeyEncoding.TryParseBase64(text, ours);
            // Convert is lenient about padding bits and whitespace, so it is an oracle only for canonical strings:
            // ours accepts exactly the 44-character strings that Convert decodes to 32 bytes and re-encodes unchanged.
            bool canonical;
            try
            {
                var bytes = Convert.FromBase64String(text);
                canonical = bytes.Length == 32 && Convert.ToBase64String(bytes) == text;
                if (canonical) Assert.Equal(bytes, ours);
            }
            catch (FormatException)
            {
                canonical = false;
            }
            Assert.Equal(canonical, ok);
        });
    }
}
