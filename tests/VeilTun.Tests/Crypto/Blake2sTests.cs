using System.Runtime.InteropServices;
using System.Text;
using Org.BouncyCastle.Crypto.Digests;
using VeilTun.Crypto;
using VeilTun.Tests.Vectors;
using Xunit;

namespace VeilTun.Tests.Crypto;

public class Blake2sTests
{
    private static readonly byte[] s_katKey = Blake2sVectors.Sequential(32);

    public static TheoryData<int, string> UnkeyedKat()
    {
        var data = new TheoryData<int, string>();
        foreach (var (length, digest) in Blake2sVectors.Unkeyed)
        {
            data.Add(length, digest);
        }

        return data;
    }

    public static TheoryData<int, string> KeyedKat()
    {
        var data = new TheoryData<int, string>();
        foreach (var (length, digest) in Blake2sVectors.Keyed)
        {
            data.Add(length, digest);
        }

        return data;
    }

    // ---- Known answers ----

    [Fact]
    public void AbcMatchesRfc7693AppendixB()
    {
        Span<byte> digest = stackalloc byte[Blake2s.HashSize];
        Blake2s.Hash("abc"u8, digest);
        Assert.Equal(Blake2sVectors.AbcDigest, Convert.ToHexStringLower(digest));
    }

    [Fact]
    public void EmptyInputMatchesReferenceKat()
    {
        Span<byte> digest = stackalloc byte[Blake2s.HashSize];
        Blake2s.Hash(ReadOnlySpan<byte>.Empty, digest);
        Assert.Equal("69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9", Convert.ToHexStringLower(digest));
    }

    [Theory]
    [MemberData(nameof(UnkeyedKat))]
    public void UnkeyedDigestMatchesReferenceKat(int length, string expected)
    {
        Span<byte> digest = stackalloc byte[Blake2s.HashSize];
        Blake2s.Hash(Blake2sVectors.Sequential(length), digest);
        Assert.Equal(expected, Convert.ToHexStringLower(digest));
    }

    [Theory]
    [MemberData(nameof(KeyedKat))]
    public void KeyedDigestMatchesReferenceKat(int length, string expected)
    {
        Span<byte> digest = stackalloc byte[Blake2s.HashSize];
        Blake2s.KeyedHash(s_katKey, Blake2sVectors.Sequential(length), digest);
        Assert.Equal(expected, Convert.ToHexStringLower(digest));
    }

    [Theory]
    [MemberData(nameof(KeyedKat))]
    public void KeyedDigestMatchesReferenceKatWhenFedOneByteAtATime(int length, string expected)
    {
        byte[] input = Blake2sVectors.Sequential(length);
        var state = default(Blake2sState);
        state.Init(Blake2s.HashSize, s_katKey);
        for (int i = 0; i < input.Length; i++)
        {
            state.Update(input.AsSpan(i, 1));
        }

        Span<byte> digest = stackalloc byte[Blake2s.HashSize];
        state.Final(digest);
        Assert.Equal(expected, Convert.ToHexStringLower(digest));
    }

    [Fact]
    public void TruncatedDigestMatchesReferenceAndIsNotAPrefix()
    {
        Span<byte> digest = stackalloc byte[16];
        Blake2s.Hash("abc"u8, digest);
        Assert.Equal(Blake2sVectors.Abc16Digest, Convert.ToHexStringLower(digest));
        Assert.False(Blake2sVectors.AbcDigest.StartsWith(Convert.ToHexStringLower(digest), StringComparison.Ordinal));
    }

    [Fact]
    public void SixteenByteKeyAndSixteenByteOutputMatchesReference()
    {
        // The shape of WireGuard's MAC(key, x) in mac1/mac2 and the cookie.
        Span<byte> mac = stackalloc byte[16];
        Blake2s.KeyedHash(Blake2sVectors.Sequential(16), "abc"u8, mac);
        Assert.Equal(Blake2sVectors.AbcKey16Mac16, Convert.ToHexStringLower(mac));
    }

    // ---- Cross-checks against BouncyCastle ----

    [Fact]
    public void UnkeyedHashMatchesBouncyCastleForRandomInputs()
    {
        var random = new Random(7693);
        foreach (int length in InterestingLengths(random))
        {
            byte[] input = RandomBytes(random, length);
            int outputLength = random.Next(1, Blake2s.HashSize + 1);

            byte[] actual = new byte[outputLength];
            Blake2s.Hash(input, actual);

            Assert.Equal(BouncyCastleDigest(input, outputLength, key: null), actual);
        }
    }

    [Fact]
    public void FullLengthHashMatchesBouncyCastleForRandomInputs()
    {
        var random = new Random(256);
        foreach (int length in InterestingLengths(random))
        {
            byte[] input = RandomBytes(random, length);
            byte[] actual = new byte[Blake2s.HashSize];
            Blake2s.Hash(input, actual);
            Assert.Equal(BouncyCastleDigest(input, Blake2s.HashSize, key: null), actual);
        }
    }

    [Fact]
    public void KeyedHashMatchesBouncyCastleForRandomInputs()
    {
        var random = new Random(2104);
        foreach (int length in InterestingLengths(random))
        {
            byte[] input = RandomBytes(random, length);
            byte[] key = RandomBytes(random, random.Next(1, Blake2s.MaxKeySize + 1));
            int outputLength = random.Next(1, Blake2s.HashSize + 1);

            byte[] actual = new byte[outputLength];
            Blake2s.KeyedHash(key, input, actual);

            Assert.Equal(BouncyCastleDigest(input, outputLength, key), actual);
        }
    }

    [Fact]
    public void IncrementalUpdatesWithRandomSplitsEqualOneShot()
    {
        var random = new Random(64);
        for (int trial = 0; trial < 300; trial++)
        {
            byte[] input = RandomBytes(random, random.Next(0, 301));
            byte[] key = RandomBytes(random, random.Next(0, Blake2s.MaxKeySize + 1));
            int outputLength = random.Next(1, Blake2s.HashSize + 1);

            var state = default(Blake2sState);
            state.Init(outputLength, key);
            int offset = 0;
            while (offset < input.Length)
            {
                // Pieces of 0..130 bytes, so empty updates and block-straddling ones both occur.
                int piece = Math.Min(random.Next(0, 131), input.Length - offset);
                state.Update(input.AsSpan(offset, piece));
                offset += piece;
            }

            byte[] incremental = new byte[outputLength];
            state.Final(incremental);

            byte[] oneShot = new byte[outputLength];
            if (key.Length == 0)
            {
                Blake2s.Hash(input, oneShot);
            }
            else
            {
                Blake2s.KeyedHash(key, input, oneShot);
            }

            Assert.Equal(oneShot, incremental);
            Assert.Equal(BouncyCastleDigest(input, outputLength, key.Length == 0 ? null : key), incremental);
        }
    }

    [Fact]
    public void VectorAndScalarCompressionAgree()
    {
        // The public API takes the vector path wherever Vector128 is accelerated, so the scalar
        // fallback is checked here directly, block by block, including the counter and final flag.
        var random = new Random(10);
        byte[] block = new byte[Blake2s.BlockSize];
        for (int trial = 0; trial < 500; trial++)
        {
            random.NextBytes(block);
            var scalar = default(Blake2sState.ChainValue);
            for (int i = 0; i < 8; i++)
            {
                scalar[i] = (uint)random.Next() ^ ((uint)random.Next() << 16);
            }

            var vector = scalar;
            ulong counter = trial % 3 == 0 ? (ulong)random.NextInt64() : (ulong)random.Next(0, 1 << 20);
            bool isLast = trial % 2 == 0;

            Blake2sState.CompressScalar(ref scalar, block, counter, isLast);
            Blake2sState.CompressVector(ref vector, block, counter, isLast);

            Assert.Equal(((ReadOnlySpan<uint>)scalar).ToArray(), ((ReadOnlySpan<uint>)vector).ToArray());
        }
    }

    // ---- Two-part hash (Noise MixHash) ----

    [Fact]
    public void TwoPartHashEqualsHashOfConcatenation()
    {
        var random = new Random(2);
        for (int trial = 0; trial < 200; trial++)
        {
            byte[] a = RandomBytes(random, random.Next(0, 200));
            byte[] b = RandomBytes(random, random.Next(0, 200));

            byte[] expected = new byte[Blake2s.HashSize];
            Blake2s.Hash([.. a, .. b], expected);

            byte[] actual = new byte[Blake2s.HashSize];
            Blake2s.Hash(a, b, actual);

            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void TwoPartHashMayWriteOverItsFirstInput()
    {
        // MixHash writes h = HASH(h || data) in place.
        byte[] h = Convert.FromHexString(Blake2sVectors.InitialChainKey);
        byte[] data = Encoding.ASCII.GetBytes(Blake2sVectors.Identifier);

        Blake2s.Hash(h, data, h);

        Assert.Equal(Blake2sVectors.InitialHash, Convert.ToHexStringLower(h));
    }

    // ---- State lifecycle and argument checks ----

    [Fact]
    public void FinalWipesTheWholeState()
    {
        var state = default(Blake2sState);
        state.Init(Blake2s.HashSize, s_katKey);
        state.Update(Blake2sVectors.Sequential(100));
        Assert.Contains(MemoryMarshal.AsBytes(new Span<Blake2sState>(ref state)).ToArray(), b => b != 0);

        state.Final(new byte[Blake2s.HashSize]);

        Assert.All(MemoryMarshal.AsBytes(new Span<Blake2sState>(ref state)).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(0, state.OutputLength);
    }

    [Fact]
    public void UpdateAfterFinalThrowsUntilInitAgain()
    {
        var state = default(Blake2sState);
        state.Init(Blake2s.HashSize);
        state.Final(new byte[Blake2s.HashSize]);

        Assert.Throws<InvalidOperationException>(() =>
        {
            var copy = state;
            copy.Update("abc"u8);
        });

        state.Init(Blake2s.HashSize);
        state.Update("abc"u8);
        byte[] digest = new byte[Blake2s.HashSize];
        state.Final(digest);
        Assert.Equal(Blake2sVectors.AbcDigest, Convert.ToHexStringLower(digest));
    }

    [Fact]
    public void DefaultStateRejectsFinal()
    {
        Assert.Throws<InvalidOperationException>(() => default(Blake2sState).Final(new byte[Blake2s.HashSize]));
    }

    [Fact]
    public void InitDiscardsEarlierInputAndKey()
    {
        var state = default(Blake2sState);
        state.Init(16, s_katKey);
        state.Update(Blake2sVectors.Sequential(90));

        state.Init(Blake2s.HashSize);
        state.Update("abc"u8);
        byte[] digest = new byte[Blake2s.HashSize];
        state.Final(digest);

        Assert.Equal(Blake2sVectors.AbcDigest, Convert.ToHexStringLower(digest));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(33)]
    [InlineData(-1)]
    public void InitRejectsDigestLengthOutsideOneToThirtyTwo(int outputLength)
    {
        var state = default(Blake2sState);
        Assert.Throws<ArgumentOutOfRangeException>(() => state.Init(outputLength));
    }

    [Fact]
    public void InitRejectsKeyLongerThanThirtyTwoBytes()
    {
        var state = default(Blake2sState);
        Assert.Throws<ArgumentException>(() => state.Init(Blake2s.HashSize, new byte[33]));
    }

    [Fact]
    public void HashRejectsEmptyAndOversizedOutput()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Blake2s.Hash("abc"u8, Span<byte>.Empty));
        Assert.Throws<ArgumentOutOfRangeException>(() => Blake2s.Hash("abc"u8, new byte[33]));
    }

    [Fact]
    public void KeyedHashRejectsEmptyKey()
    {
        Assert.Throws<ArgumentException>(() => Blake2s.KeyedHash(ReadOnlySpan<byte>.Empty, "abc"u8, new byte[16]));
    }

    [Fact]
    public void FinalRejectsOutputOfAnotherLength()
    {
        var state = default(Blake2sState);
        state.Init(16);
        Assert.Throws<ArgumentException>(() =>
        {
            var copy = state;
            copy.Final(new byte[Blake2s.HashSize]);
        });
    }

    // ---- Helpers ----

    /// <summary>0..300 at random plus every block boundary ± 1 up to 300 (multiples of 64 are the risky case).</summary>
    private static IEnumerable<int> InterestingLengths(Random random)
    {
        for (int boundary = 0; boundary <= 320; boundary += Blake2s.BlockSize)
        {
            if (boundary > 0)
            {
                yield return boundary - 1;
            }

            yield return boundary;
            yield return boundary + 1;
        }

        for (int i = 0; i < 200; i++)
        {
            yield return random.Next(0, 301);
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] BouncyCastleDigest(byte[] input, int outputLength, byte[]? key)
    {
        var digest = key is null ? new Blake2sDigest(outputLength * 8) : new Blake2sDigest(key, outputLength, null, null);
        digest.BlockUpdate(input, 0, input.Length);
        byte[] output = new byte[outputLength];
        digest.DoFinal(output, 0);
        return output;
    }
}
