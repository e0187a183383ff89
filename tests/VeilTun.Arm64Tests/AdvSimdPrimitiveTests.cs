using System.Buffers.Binary;
using System.Text;
using VeilTun.Crypto;
using Xunit;

namespace VeilTun.Arm64Tests;

/// <summary>
/// The AdvSimd backend's pieces against RFC 8439's vectors: ChaCha20's block function (four blocks per call, lanes
/// in the column layout) and Poly1305. In a run without AdvSimd (<c>DOTNET_EnableHWIntrinsic=0</c>) each test checks
/// instead that the backend is refused (<see cref="Expectation.AdvSimdRunsElseIsRefused"/>).
/// </summary>
public sealed class AdvSimdPrimitiveTests
{
    private static uint[] Words(string hex)
    {
        byte[] bytes = Convert.FromHexString(hex);
        var words = new uint[bytes.Length / 4];
        for (int i = 0; i < words.Length; i++) words[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * 4));
        return words;
    }

    private static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    [Fact]
    public void Rfc8439Section232BlockFunctionVector()
    {
        if (!Expectation.AdvSimdRunsElseIsRefused()) return;
        var key = Words("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        var nonce = Words("000000090000004a00000000");
        var output = new byte[128];
        ChaCha20Poly1305AdvSimd.FirstBlocksForTest(key, nonce, output);
        // Block counter 1 is the second block: lane 1 of every register.
        Assert.Equal("10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
            + "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e", Hex(output.AsSpan(64)));
    }

    [Fact]
    public void Rfc8439AppendixA1BlockFunctionVectors1And2()
    {
        if (!Expectation.AdvSimdRunsElseIsRefused()) return;
        var output = new byte[256];
        ChaCha20Poly1305AdvSimd.FirstBlocksForTest(new uint[8], new uint[3], output);
        Assert.Equal("76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
            + "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586", Hex(output.AsSpan(0, 64)));
        Assert.Equal("9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
            + "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f", Hex(output.AsSpan(64, 64)));
    }

    [Fact]
    public void AllFourLanesOfAChunkMatchTheSystemAeadKeystream()
    {
        // Lanes 2 and 3 (block counters 2 and 3) have no RFC vector of their own: take the keystream from System's
        // AEAD (ciphertext of zeros = keystream from block 1) and compare blocks 1..3.
        if (!Expectation.AdvSimdRunsElseIsRefused()) return;
        var random = new Random(4);
        for (int round = 0; round < 20; round++)
        {
            var keyBytes = new byte[32];
            var nonceBytes = new byte[12];
            random.NextBytes(keyBytes);
            random.NextBytes(nonceBytes);
            var blocks = new byte[256];
            ChaCha20Poly1305AdvSimd.FirstBlocksForTest(Words(Hex(keyBytes)), Words(Hex(nonceBytes)), blocks);

            using var system = new System.Security.Cryptography.ChaCha20Poly1305(keyBytes);
            var keystream = new byte[192];
            system.Encrypt(nonceBytes, new byte[192], keystream, new byte[16]);
            Assert.Equal(Hex(keystream), Hex(blocks.AsSpan(64)));
        }
    }

    [Fact]
    public void Rfc8439Section252Poly1305Vector()
    {
        if (!Expectation.AdvSimdRunsElseIsRefused()) return;
        var key = Convert.FromHexString("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
        var tag = new byte[16];
        ChaCha20Poly1305AdvSimd.Poly1305ForTest(key, Encoding.ASCII.GetBytes("Cryptographic Forum Research Group"), tag);
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
        if (!Expectation.AdvSimdRunsElseIsRefused()) return;
        var tag = new byte[16];
        ChaCha20Poly1305AdvSimd.Poly1305ForTest(Convert.FromHexString(key), Convert.FromHexString(message), tag);
        Assert.Equal(expectedTag, Hex(tag));
    }
}
