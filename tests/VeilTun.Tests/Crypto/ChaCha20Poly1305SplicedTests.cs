using VeilTun.Crypto;
using VeilTun.Noise;
using Xunit;
using Xunit.Abstractions;
using SystemChaCha20Poly1305 = System.Security.Cryptography.ChaCha20Poly1305;

namespace VeilTun.Tests.Crypto;

/// <summary>
/// <see cref="ChaCha20Poly1305Context.SealSpliced"/>: sealing a plaintext whose middle lies in another buffer (a TSO
/// segment's payload still in the super-packet) must give exactly what <see cref="ChaCha20Poly1305Context.Seal(ulong, ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/>
/// gives over the contiguous plaintext, on every backend.
/// </summary>
public sealed class ChaCha20Poly1305SplicedTests(ITestOutputHelper output)
{
    // Around the keystream chunks (AVX-512: 448 bytes after the Poly1305 block, then 512; AVX2: 320, then 384),
    // ChaCha20 blocks (64) and Poly1305 blocks (16), plus WireGuard packet sizes.
    private static readonly int[] s_edgeLengths =
        [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 52, 63, 64, 65, 319, 320, 321, 383, 384, 385, 447, 448, 449, 511, 512, 513,
         703, 704, 705, 959, 960, 961, 1087, 1088, 1089, 1420, 1440, 1472, 2100];

    public static TheoryData<string> Backends() => ChaCha20Poly1305ContextTests.Backends();

    private static ChaCha20Poly1305Context NewContext(string backend, ReadOnlySpan<byte> key)
    {
        var context = new ChaCha20Poly1305Context(Enum.Parse<AeadBackend>(backend));
        context.SetKey(key);
        return context;
    }

    // Splices (at, middle length) for one plaintext length: both ends, empty and whole middles, a 52-byte TCP/IP
    // header in front, positions around the keystream chunk edges, and random ones.
    private static List<(int At, int Middle)> Splices(int length, Random random)
    {
        var splices = new HashSet<(int, int)>();
        int[] ats = [0, 1, 7, 52, length / 2, 320, 383, 447, 448, 449, 704, 960, length - 17, length - 1, length, random.Next(0, length + 1), random.Next(0, length + 1)];
        foreach (int at in ats)
        {
            if (at < 0 || at > length) continue;
            int room = length - at;
            int[] middles = [0, 1, 9, room, room - 1, room - 8, 1368, random.Next(0, room + 1), random.Next(0, room + 1)];
            foreach (int middle in middles)
            {
                if (middle >= 0 && middle <= room) splices.Add((at, middle));
            }
        }

        return splices.Order().ToList();
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void SplicedSealEqualsSealOverTheContiguousPlaintextAndOpens(string backend)
    {
        var random = new Random(5_1368);
        var key = new byte[32];
        random.NextBytes(key);
        using var context = NewContext(backend, key);
        using var oracle = new SystemChaCha20Poly1305(key);
        var lengths = new List<int>(s_edgeLengths);
        for (int i = 0; i < 60; i++) lengths.Add(random.Next(0, 2101));

        int cases = 0;
        foreach (int length in lengths)
        {
            foreach ((int at, int middleLength) in Splices(length, random))
            {
                ulong counter = (ulong)random.NextInt64();
                var plaintext = new byte[length];
                random.NextBytes(plaintext);

                // The middle sits at an arbitrary offset inside a larger "super-packet" with other data around it.
                int middleOffset = random.Next(0, 40);
                var superPacket = new byte[middleOffset + middleLength + random.Next(0, 40)];
                random.NextBytes(superPacket);
                plaintext.AsSpan(at, middleLength).CopyTo(superPacket.AsSpan(middleOffset));
                byte[] superPacketBefore = (byte[])superPacket.Clone();

                // The segment buffer: the plaintext around the splice; the hole holds the complement of the plaintext
                // (every byte wrong, so reading any hole byte changes the output) and the tag area holds garbage.
                var buffer = new byte[length + 16];
                random.NextBytes(buffer);
                plaintext.AsSpan(0, at).CopyTo(buffer);
                plaintext.AsSpan(at + middleLength).CopyTo(buffer.AsSpan(at + middleLength));
                for (int i = at; i < at + middleLength; i++) buffer[i] = (byte)~plaintext[i];

                context.SealSpliced(counter, buffer, at, superPacket.AsSpan(middleOffset, middleLength));

                var expected = new byte[length + 16];
                context.Seal(counter, plaintext, default, expected);
                string where = $"{backend}: length {length}, at {at}, middle {middleLength}";
                Assert.True(expected.AsSpan().SequenceEqual(buffer), $"differs from Seal; {where}");
                var nonce = new byte[12];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(nonce.AsSpan(4), counter);
                var independent = new byte[length + 16];
                oracle.Encrypt(nonce, plaintext, independent.AsSpan(0, length), independent.AsSpan(length));
                Assert.True(independent.AsSpan().SequenceEqual(buffer), $"differs from System.Security.Cryptography; {where}");
                Assert.True(superPacketBefore.AsSpan().SequenceEqual(superPacket), $"middle's buffer was written; {where}");

                var opened = new byte[length];
                Assert.True(context.TryOpen(counter, buffer, default, opened), $"does not open; {where}");
                Assert.True(plaintext.AsSpan().SequenceEqual(opened), $"opens to another plaintext; {where}");
                cases++;
            }
        }

        output.WriteLine($"{backend}: {cases} spliced seals over {lengths.Count} lengths");
        Assert.True(cases > 1000, $"only {cases} cases");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void SegmentLayoutHeaderInPlacePayloadFromTheSuperPacketAndZeroPadding(string backend)
    {
        // What the TSO split will seal: 52 bytes of IPv4/TCP header in the segment buffer, 1368 payload bytes at an
        // odd offset of a 64 KiB super-packet, then DAITA/WireGuard zero padding behind in the segment buffer.
        var random = new Random(52);
        var key = new byte[32];
        random.NextBytes(key);
        using var context = NewContext(backend, key);
        var superPacket = new byte[65536];
        random.NextBytes(superPacket);
        const int header = 52, payload = 1368, padding = 12;
        for (int segment = 0; segment < 40; segment++)
        {
            int source = 13 + segment * payload;
            var buffer = new byte[header + payload + padding + 16];
            random.NextBytes(buffer.AsSpan(0, header));
            var plaintext = new byte[header + payload + padding];
            buffer.AsSpan(0, header).CopyTo(plaintext);
            superPacket.AsSpan(source, payload).CopyTo(plaintext.AsSpan(header));

            context.SealSpliced((ulong)segment, buffer, header, superPacket.AsSpan(source, payload));

            var expected = new byte[plaintext.Length + 16];
            context.Seal((ulong)segment, plaintext, default, expected);
            Assert.Equal(expected, buffer);
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void BadSplicesThrowArgumentExceptionAndWriteNothing(string backend)
    {
        using var context = NewContext(backend, new byte[32]);
        var memory = new byte[300];
        new Random(1).NextBytes(memory);
        byte[] before = (byte[])memory.Clone();
        var other = new byte[64];

        void Throws(int bufferStart, int bufferLength, int at, byte[] middleArray, int middleStart, int middleLength)
        {
            Assert.Throws<ArgumentException>(() =>
                context.SealSpliced(1, memory.AsSpan(bufferStart, bufferLength), at, middleArray.AsSpan(middleStart, middleLength)));
            Assert.Equal(before, memory);
        }

        // ciphertextAndTag = memory[100, 200): plaintext [100, 184), tag [184, 200).
        Throws(100, 15, 0, other, 0, 0); // shorter than a tag
        Throws(100, 0, 0, other, 0, 0);
        Throws(100, 100, -1, other, 0, 0);
        Throws(100, 100, -1, other, 0, 1);
        Throws(100, 100, int.MinValue, other, 0, 1);
        Throws(100, 100, 85, other, 0, 0); // at one past the plaintext
        Throws(100, 100, 84, other, 0, 1); // middle would end one byte into the tag
        Throws(100, 100, 21, other, 0, 64);
        Throws(100, 100, int.MaxValue, other, 0, 1); // at + middle.Length overflows
        Throws(116, 16, 0, other, 0, 1); // empty plaintext, non-empty middle

        // middle overlapping ciphertextAndTag anywhere, including exactly the spliced bytes and the tag.
        Throws(100, 100, 10, memory, 110, 10);
        Throws(100, 100, 0, memory, 90, 11); // its last byte is the buffer's first
        Throws(100, 100, 0, memory, 150, 10);
        Throws(100, 100, 0, memory, 190, 5); // inside the tag
        Throws(100, 100, 70, memory, 199, 2); // its first byte is the tag's last
        Throws(100, 100, 0, memory, 50, 200); // around the whole buffer
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void MiddleRightNextToTheBufferAndTheLargestValidSplicesAreAccepted(string backend)
    {
        var key = new byte[32];
        key[3] = 3;
        using var context = NewContext(backend, key);

        // (buffer start, at, middle start, middle length) in one 300-byte array; buffer = [100, 200), plaintext 84.
        (int At, int MiddleStart, int MiddleLength)[] splices =
            [(0, 90, 10), (74, 200, 10), (0, 100, 0), (84, 250, 0), (20, 200, 64), (0, 0, 84), (83, 284, 1)];
        foreach ((int at, int middleStart, int middleLength) in splices)
        {
            var memory = new byte[300];
            new Random(at * 1000 + middleStart).NextBytes(memory);
            var plaintext = memory.AsSpan(100, 84).ToArray();
            memory.AsSpan(middleStart, middleLength).CopyTo(plaintext.AsSpan(at));
            var expected = new byte[100];
            context.Seal(7, plaintext, default, expected);
            byte[] middleBefore = memory.AsSpan(middleStart, middleLength).ToArray();

            context.SealSpliced(7, memory.AsSpan(100, 100), at, memory.AsSpan(middleStart, middleLength));

            Assert.Equal(expected, memory.AsSpan(100, 100).ToArray());
            Assert.Equal(middleBefore, memory.AsSpan(middleStart, middleLength).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void SplicedSealNeedsAKeyAndALiveContext(string backend)
    {
        var buffer = new byte[64];
        var middle = new byte[8];
        var context = new ChaCha20Poly1305Context(Enum.Parse<AeadBackend>(backend));
        Assert.Throws<InvalidOperationException>(() => context.SealSpliced(0, buffer, 4, middle));
        context.SetKey(new byte[32]);
        context.Dispose();
        Assert.Throws<ObjectDisposedException>(() => context.SealSpliced(0, buffer, 4, middle));
    }

    [Fact]
    public void BackendEntryPointsCheckTheSpliceThemselves()
    {
        var buffer = new byte[100];
        var tag = new byte[16];
        var middle = new byte[10];
        if (ChaCha20Poly1305Avx512.IsSupported)
        {
            uint[] key = new uint[8];
            uint[] nonce = new uint[3];
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx512.SealSpliced(key, nonce, buffer, 91, middle, tag));
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx512.SealSpliced(key, nonce, buffer, -1, middle, tag));
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx512.SealSpliced(key, nonce, buffer.AsSpan(0, 50), 0, buffer.AsSpan(40, 10), tag));
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx512.SealSpliced(key, nonce, buffer.AsSpan(0, 50), 0, buffer.AsSpan(60, 10), buffer.AsSpan(55, 16)));
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx512.SealSpliced(key, nonce, buffer, 0, middle, tag.AsSpan(1)));
            ChaCha20Poly1305Avx512.SealSpliced(key, nonce, buffer, 90, middle, tag);
        }
        if (ChaCha20Poly1305Avx2.IsSupported)
        {
            uint[] key = new uint[8];
            uint[] nonce = new uint[3];
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx2.SealSpliced(key, nonce, buffer, 91, middle, tag));
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx2.SealSpliced(key, nonce, buffer, -1, middle, tag));
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx2.SealSpliced(key, nonce, buffer.AsSpan(0, 50), 0, buffer.AsSpan(40, 10), tag));
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx2.SealSpliced(key, nonce, buffer.AsSpan(0, 50), 0, buffer.AsSpan(60, 10), buffer.AsSpan(55, 16)));
            Assert.Throws<ArgumentException>(() => ChaCha20Poly1305Avx2.SealSpliced(key, nonce, buffer, 0, middle, tag.AsSpan(1)));
            ChaCha20Poly1305Avx2.SealSpliced(key, nonce, buffer, 90, middle, tag);
        }
    }

    [Fact]
    public void KeypairSealSplicedOpensAtThePeerAndEqualsSeal()
    {
        var random = new Random(4);
        var sendKey = new byte[32];
        var receiveKey = new byte[32];
        random.NextBytes(sendKey);
        random.NextBytes(receiveKey);
        var mine = new Keypair(sendKey, receiveKey, isInitiator: true, TimeSpan.Zero, 1, 2);
        var peer = new Keypair(receiveKey, sendKey, isInitiator: false, TimeSpan.Zero, 2, 1);
        var other = new Keypair(receiveKey, receiveKey, isInitiator: true, TimeSpan.Zero, 3, 4);

        var superPacket = new byte[8000];
        random.NextBytes(superPacket);
        for (ulong nonce = 0; nonce < 3; nonce++)
        {
            var segment = new byte[52 + 1368 + 16];
            random.NextBytes(segment.AsSpan(0, 52));
            var plaintext = new byte[52 + 1368];
            segment.AsSpan(0, 52).CopyTo(plaintext);
            superPacket.AsSpan(7 + (int)nonce * 1368, 1368).CopyTo(plaintext.AsSpan(52));

            // Interleave another keypair on this thread: the cached seal context must be re-keyed for each.
            Assert.True(other.TrySeal(nonce, plaintext, new byte[plaintext.Length + 16]));
            Assert.True(mine.TryAcquire());
            mine.SealSplicedLeased(nonce, segment, 52, superPacket.AsSpan(7 + (int)nonce * 1368, 1368));
            mine.Release();

            var expected = new byte[plaintext.Length + 16];
            Assert.True(mine.TrySeal(nonce, plaintext, expected));
            Assert.Equal(expected, segment);
            var opened = new byte[plaintext.Length];
            Assert.True(peer.TryOpen(nonce, segment, opened));
            Assert.Equal(plaintext, opened);
        }
    }
}
