using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace VeilTun.CrossCheck;

/// <summary>
/// The ChaCha20-Poly1305 cross-check vectors: <c>Vectors/chacha20poly1305-x64.txt</c>, made on x64 by the AVX-512 or
/// AVX2 backend and checked there against BouncyCastle (VeilTun.Tests' ChaCha20Poly1305CrossCheckVectorTests, which
/// also fails when the committed file differs from what it makes), then read under qemu-aarch64 by
/// VeilTun.Arm64Tests. Shared by both projects (compiled into each).
/// </summary>
/// <remarks>
/// The inputs are not in the file: every case's key, WireGuard counter, associated data and plaintext come from
/// <see cref="Case.Make"/>, a SplitMix64 stream seeded by the case's index, the same on every machine. A line holds
/// the expected tag and the first 8 bytes of SHA-256 over the ciphertext (which tell a wrong keystream from a wrong
/// Poly1305), and for short and chunk-edge lengths the whole ciphertext, so an open is checked on bytes the x64
/// backend made, not only on a seal's own output.
/// </remarks>
internal static class CrossCheckVectors
{
    public const string FileName = "chacha20poly1305-x64.txt";

    /// <summary>Plaintext lengths: every one from 0 to 2100 (every partial ChaCha20 and Poly1305 block, the
    /// backends' 256-, 384- and 512-byte chunk edges), then larger and odd multi-chunk sizes up to an IP datagram's
    /// maximum.</summary>
    public static int[] Lengths()
    {
        var lengths = new List<int>();
        for (int length = 0; length <= 2100; length++) lengths.Add(length);
        lengths.AddRange([2303, 2559, 2560, 2561, 4095, 4096, 4097, 4129, 8191, 9000, 16411, 65519, 65535]);
        return lengths.ToArray();
    }

    /// <summary>Lengths whose line also carries the whole ciphertext.</summary>
    public static bool HasFullCiphertext(int length) =>
        length <= 80 || length is 191 or 192 or 193 or 255 or 256 or 257 or 447 or 448 or 449 or 511 or 512 or 513 or 1420 or 2100;

    /// <summary>One case's inputs.</summary>
    public sealed record Case(int Index, byte[] Key, ulong Counter, byte[] AssociatedData, byte[] Plaintext)
    {
        /// <summary>The inputs of case <paramref name="index"/> for a plaintext of <paramref name="length"/> bytes.</summary>
        public static Case Make(int index, int length)
        {
            var random = new SplitMix64(0x8439_0000_0000UL + (ulong)index);
            var key = new byte[32];
            random.Fill(key);
            // Edge counters on the first cases (the nonce's 64-bit counter at its ends and around 2^32), random after.
            ulong[] edges = [0, 1, uint.MaxValue, (ulong)uint.MaxValue + 1, ulong.MaxValue - 1, ulong.MaxValue];
            ulong counter = index < edges.Length ? edges[index] : random.Next();
            // No associated data on every third case (WireGuard transport has none), else 1..300 bytes (multi-block).
            int aadLength = index % 3 == 0 ? 0 : 1 + (int)(random.Next() % 300);
            var aad = new byte[aadLength];
            random.Fill(aad);
            var plaintext = new byte[length];
            random.Fill(plaintext);
            return new Case(index, key, counter, aad, plaintext);
        }
    }

    /// <summary>One line of the file: a case's expected output.</summary>
    public sealed record Expected(int Length, int AadLength, byte[] Tag, byte[] CiphertextHash, byte[]? Ciphertext);

    /// <summary>The first 8 bytes of SHA-256 over <paramref name="ciphertext"/>.</summary>
    public static byte[] Hash(ReadOnlySpan<byte> ciphertext) => SHA256.HashData(ciphertext)[..8];

    /// <summary>The line for a case sealed to <paramref name="ciphertextAndTag"/>.</summary>
    public static string Line(Case c, ReadOnlySpan<byte> ciphertextAndTag)
    {
        int length = c.Plaintext.Length;
        var ciphertext = ciphertextAndTag[..length];
        var line = new StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{length} {c.AssociatedData.Length} {Hex(ciphertextAndTag[length..])} {Hex(Hash(ciphertext))}");
        if (HasFullCiphertext(length)) line.Append(' ').Append(length == 0 ? "-" : Hex(ciphertext));
        return line.ToString();
    }

    /// <summary>The file's header (comment lines, each starting with '#').</summary>
    public const string Header =
        "# ChaCha20-Poly1305 (RFC 8439) cross-check vectors, made on x64 by VeilTun's AVX-512/AVX2 backend and checked\n"
        + "# there against BouncyCastle (tests/VeilTun.Tests, ChaCha20Poly1305CrossCheckVectorTests; regenerate with\n"
        + "# VEILTUN_WRITE_VECTORS=1). Inputs come from CrossCheckVectors.Case.Make(index, length), index = line number\n"
        + "# among the data lines. Nonce: WireGuard's 00000000 || LE64(counter).\n"
        + "# Columns: plaintext length, associated data length, tag, SHA-256(ciphertext)[..8], whole ciphertext (some lines).\n";

    /// <summary>Parses the file's data lines, in order.</summary>
    public static List<Expected> Parse(string text)
    {
        var result = new List<Expected>();
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            string[] fields = line.Split(' ');
            if (fields.Length is not (4 or 5)) throw new FormatException($"bad vector line: {line}");
            byte[]? ciphertext = fields.Length == 5 ? (fields[4] == "-" ? [] : Convert.FromHexString(fields[4])) : null;
            result.Add(new Expected(int.Parse(fields[0], CultureInfo.InvariantCulture), int.Parse(fields[1], CultureInfo.InvariantCulture),
                Convert.FromHexString(fields[2]), Convert.FromHexString(fields[3]), ciphertext));
        }

        return result;
    }

    /// <summary>The committed file, found beside the test assembly (both projects copy it to their output).</summary>
    public static string ReadCommitted() => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Vectors", FileName));

    /// <summary>The WireGuard nonce for <paramref name="counter"/>, for oracles that take raw nonces.</summary>
    public static byte[] Nonce(ulong counter)
    {
        var nonce = new byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(nonce.AsSpan(4), counter);
        return nonce;
    }

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    // SplitMix64 (Steele, Lea, Flood 2014): a fixed, portable stream, unlike System.Random's unspecified algorithm.
    private struct SplitMix64(ulong seed)
    {
        private ulong _state = seed;

        public ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public void Fill(Span<byte> bytes)
        {
            Span<byte> word = stackalloc byte[8];
            for (int i = 0; i < bytes.Length; i += 8)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(word, Next());
                word[..Math.Min(8, bytes.Length - i)].CopyTo(bytes[i..]);
            }
        }
    }
}
