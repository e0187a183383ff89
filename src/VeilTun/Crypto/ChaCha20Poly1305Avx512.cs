using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using static VeilTun.Crypto.ChaCha20Poly1305Common;

namespace VeilTun.Crypto;

/// <summary>
/// ChaCha20-Poly1305 (RFC 8439) for one packet at a time: ChaCha20 four blocks per AVX-512 register (eight in flight), Poly1305 in
/// radix 2^26 with eight blocks at a time in AVX-512 lanes. Used by <see cref="ChaCha20Poly1305Context"/> when the CPU has AVX-512 because OpenSSL 3.0's
/// per-call EVP cost (nonce init, final, tag parameters: about 0.6 us of the 1.4 us a 1420-byte packet takes,
/// measured in C by bench/aead.sh) is larger than the cipher itself at packet sizes. Checked against OpenSSL and
/// System.Security.Cryptography on every length and on random inputs (ChaCha20Poly1305ContextTests,
/// ChaCha20Poly1305Avx512Tests, ChaCha20Poly1305SplicedTests). <see cref="ChaCha20Poly1305Avx2"/> is the same
/// algorithm in 256-bit vectors; the code they share is in <see cref="ChaCha20Poly1305Common"/>.
/// </summary>
/// <remarks>
/// Constant time: no branch or memory index depends on the key, the data or the tag (the tag comparison is
/// <see cref="CryptographicOperations.FixedTimeEquals"/>; Poly1305's carries are arithmetic). On a bad tag nothing
/// is decrypted. Keystream and Poly1305 key blocks live in registers or on the stack and are cleared.
/// </remarks>
internal static class ChaCha20Poly1305Avx512
{
    public const int KeySize = 32;

    /// <summary>
    /// True when this CPU and runtime run the AVX-512 code: AVX-512F for the intrinsics, and Vector512 operators
    /// accelerated (the runtime requires F+BW+CD+DQ+VL for that; without it they would run in software).
    /// </summary>
    public static bool IsSupported => Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary>Seals <paramref name="plaintext"/> into <paramref name="ciphertext"/> (same length, same memory or disjoint) and writes the tag.</summary>
    public static void Seal(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> ciphertext, Span<byte> tag) =>
        AeadSeal<Blocks, Lanes>(key, nonce, plaintext, associatedData, ciphertext, tag);

    /// <summary>Seals a plaintext that lies in two buffers (<see cref="ChaCha20Poly1305Common.AeadSealSpliced"/>).</summary>
    public static void SealSpliced(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, Span<byte> buffer, int at, ReadOnlySpan<byte> middle, Span<byte> tag) =>
        AeadSealSpliced<Blocks, Lanes>(key, nonce, buffer, at, middle, tag);

    /// <summary>
    /// Verifies <paramref name="tag"/> over <paramref name="ciphertext"/> and only then decrypts into
    /// <paramref name="plaintext"/> (same memory or disjoint). False, with nothing written, on a bad tag.
    /// </summary>
    public static bool TryOpen(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> tag, Span<byte> plaintext) =>
        AeadOpen<Blocks, Lanes>(key, nonce, ciphertext, associatedData, tag, plaintext);

    // ---- ChaCha20 ----------------------------------------------------------------------------------------

    // Row layout: each 512-bit register holds one row of the 4x4 state for four consecutive blocks (one per 128-bit
    // lane); the diagonal round rotates the words of rows b, c, d within each lane (vpshufd).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InitialState(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, out Vector512<uint> a, out Vector512<uint> b, out Vector512<uint> c, out Vector512<uint> d)
    {
        a = Vector512.Create(Vector128.Create(0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u)); // "expand 32-byte k"
        b = Vector512.Create(Vector128.Create(key[0], key[1], key[2], key[3]));
        c = Vector512.Create(Vector128.Create(key[4], key[5], key[6], key[7]));
        d = Vector512.Create(Vector128.Create(0u, nonce[0], nonce[1], nonce[2]))
            + Vector512.Create(0u, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0); // block counters 0..3
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuarterRounds(ref Vector512<uint> a, ref Vector512<uint> b, ref Vector512<uint> c, ref Vector512<uint> d)
    {
        a += b; d ^= a; d = Avx512F.RotateLeft(d, 16);
        c += d; b ^= c; b = Avx512F.RotateLeft(b, 12);
        a += b; d ^= a; d = Avx512F.RotateLeft(d, 8);
        c += d; b ^= c; b = Avx512F.RotateLeft(b, 7);
    }

    // Eight keystream blocks (block counters d's and d's + 4), 512 bytes into `output`. Two independent register
    // sets go through the rounds side by side: one set alone is bound by the add-xor-rotate latency chain.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EightBlocks(Vector512<uint> a0, Vector512<uint> b0, Vector512<uint> c0, Vector512<uint> d0, Span<byte> output)
    {
        var e0 = d0 + Vector512.Create(Vector128.Create(4u, 0, 0, 0));
        var a = a0; var b = b0; var c = c0; var d = d0;
        var w = a0; var x = b0; var y = c0; var z = e0;
        for (int i = 0; i < 10; i++)
        {
            QuarterRounds(ref a, ref b, ref c, ref d); // columns
            QuarterRounds(ref w, ref x, ref y, ref z);
            b = Avx512F.Shuffle(b, 0x39); // lane word i <- b[i+1]
            c = Avx512F.Shuffle(c, 0x4E); // <- c[i+2]
            d = Avx512F.Shuffle(d, 0x93); // <- d[i+3]
            x = Avx512F.Shuffle(x, 0x39);
            y = Avx512F.Shuffle(y, 0x4E);
            z = Avx512F.Shuffle(z, 0x93);
            QuarterRounds(ref a, ref b, ref c, ref d); // diagonals
            QuarterRounds(ref w, ref x, ref y, ref z);
            b = Avx512F.Shuffle(b, 0x93);
            c = Avx512F.Shuffle(c, 0x4E);
            d = Avx512F.Shuffle(d, 0x39);
            x = Avx512F.Shuffle(x, 0x93);
            y = Avx512F.Shuffle(y, 0x4E);
            z = Avx512F.Shuffle(z, 0x39);
        }
        Store(a + a0, b + b0, c + c0, d + d0, output);
        Store(w + a0, x + b0, y + c0, z + e0, output[256..]);
    }

    // Block k of four is lane k of a, b, c, d: gather lanes (vshufi32x4) into 256 bytes in block order.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<uint> a, Vector512<uint> b, Vector512<uint> c, Vector512<uint> d, Span<byte> output)
    {
        var t0 = Avx512F.Shuffle4x128(a, b, 0x44); // a0 a1 b0 b1
        var t1 = Avx512F.Shuffle4x128(c, d, 0x44); // c0 c1 d0 d1
        var t2 = Avx512F.Shuffle4x128(a, b, 0xEE); // a2 a3 b2 b3
        var t3 = Avx512F.Shuffle4x128(c, d, 0xEE); // c2 c3 d2 d3
        Avx512F.Shuffle4x128(t0, t1, 0x88).AsByte().CopyTo(output); // a0 b0 c0 d0
        Avx512F.Shuffle4x128(t0, t1, 0xDD).AsByte().CopyTo(output[64..]); // a1 b1 c1 d1
        Avx512F.Shuffle4x128(t2, t3, 0x88).AsByte().CopyTo(output[128..]);
        Avx512F.Shuffle4x128(t2, t3, 0xDD).AsByte().CopyTo(output[192..]);
    }

    // The keystream eight blocks (512 bytes) at a time, for the generic AEAD in ChaCha20Poly1305Common.
    private struct Blocks : IChaChaBlocks<Blocks>
    {
        private Vector512<uint> _a, _b, _c, _d;

        public static int Chunk => 512;

        public static Blocks Create(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce)
        {
            InitialState(key, nonce, out var a, out var b, out var c, out var d);
            return new Blocks { _a = a, _b = b, _c = c, _d = d };
        }

        public void Next(Span<byte> keystream)
        {
            EightBlocks(_a, _b, _c, _d, keystream);
            _d += Vector512.Create(Vector128.Create(8u, 0, 0, 0)); // +8 on every lane's block counter
        }
    }

    // ---- Poly1305 (RFC 8439 §2.5) in radix 2^26: the vector loop (the rest is in ChaCha20Poly1305Common) ------
    // Runs of 8 blocks go through eight AVX-512 lanes (vpmuludq): lane j accumulates blocks j, j+8, ... multiplied
    // by r^8 each round, and the last round multiplies lane j by r^(8-j) instead, so the lanes sum to the same
    // polynomial as one block at a time.

    private struct Lanes : IPoly1305Lanes
    {
        public static void VectorBlocks(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit) => EightLanes(ref st, data, hibit);
    }

    // data: a multiple of 8 blocks, at least 16. Lanes hold blocks in the order UnpackLow/High
    // produce from two 64-byte loads: 0, 4, 1, 5, 2, 6, 3, 7 (of each group of eight).
    private static void EightLanes(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit)
    {
        Powers(ref st, 8);
        var mask = Vector512.Create(Mask26);
        var hib = Vector512.Create(hibit);
        // h so far enters with the first block of the run (lane 0 holds block 0), which gets r^(number of blocks).
        var h0 = Vector512.Create(st.H.L0, 0, 0, 0, 0, 0, 0, 0);
        var h1 = Vector512.Create(st.H.L1, 0, 0, 0, 0, 0, 0, 0);
        var h2 = Vector512.Create(st.H.L2, 0, 0, 0, 0, 0, 0, 0);
        var h3 = Vector512.Create(st.H.L3, 0, 0, 0, 0, 0, 0, 0);
        var h4 = Vector512.Create(st.H.L4, 0, 0, 0, 0, 0, 0, 0);
        var r0 = Vector512.Create(st.P8.L0);
        var r1 = Vector512.Create(st.P8.L1);
        var r2 = Vector512.Create(st.P8.L2);
        var r3 = Vector512.Create(st.P8.L3);
        var r4 = Vector512.Create(st.P8.L4);
        int groups = data.Length >> 7;
        for (int g = 0; g < groups; g++)
        {
            if (g == groups - 1)
            {
                // Last round: lane j (block index 0,4,1,5,2,6,3,7) is multiplied by r^(8 - index).
                r0 = Vector512.Create(st.P8.L0, st.P4.L0, st.P7.L0, st.P3.L0, st.P6.L0, st.P2.L0, st.P5.L0, st.R.L0);
                r1 = Vector512.Create(st.P8.L1, st.P4.L1, st.P7.L1, st.P3.L1, st.P6.L1, st.P2.L1, st.P5.L1, st.R.L1);
                r2 = Vector512.Create(st.P8.L2, st.P4.L2, st.P7.L2, st.P3.L2, st.P6.L2, st.P2.L2, st.P5.L2, st.R.L2);
                r3 = Vector512.Create(st.P8.L3, st.P4.L3, st.P7.L3, st.P3.L3, st.P6.L3, st.P2.L3, st.P5.L3, st.R.L3);
                r4 = Vector512.Create(st.P8.L4, st.P4.L4, st.P7.L4, st.P3.L4, st.P6.L4, st.P2.L4, st.P5.L4, st.R.L4);
            }
            var v0 = Vector512.Create(data.Slice(g * 128, 64)).AsUInt64();
            var v1 = Vector512.Create(data.Slice(g * 128 + 64, 64)).AsUInt64();
            var lo = Avx512F.UnpackLow(v0, v1);
            var hi = Avx512F.UnpackHigh(v0, v1);
            h0 += lo & mask;
            h1 += (lo >> 26) & mask;
            h2 += ((lo >> 52) | (hi << 12)) & mask;
            h3 += (hi >> 14) & mask;
            h4 += (hi >> 40) | hib;

            var s1 = r1 * 5;
            var s2 = r2 * 5;
            var s3 = r3 * 5;
            var s4 = r4 * 5;
            var d0 = Mul(h0, r0) + Mul(h1, s4) + Mul(h2, s3) + Mul(h3, s2) + Mul(h4, s1);
            var d1 = Mul(h0, r1) + Mul(h1, r0) + Mul(h2, s4) + Mul(h3, s3) + Mul(h4, s2);
            var d2 = Mul(h0, r2) + Mul(h1, r1) + Mul(h2, r0) + Mul(h3, s4) + Mul(h4, s3);
            var d3 = Mul(h0, r3) + Mul(h1, r2) + Mul(h2, r1) + Mul(h3, r0) + Mul(h4, s4);
            var d4 = Mul(h0, r4) + Mul(h1, r3) + Mul(h2, r2) + Mul(h3, r1) + Mul(h4, r0);
            var c = d0 >> 26; h0 = d0 & mask;
            d1 += c; c = d1 >> 26; h1 = d1 & mask;
            d2 += c; c = d2 >> 26; h2 = d2 & mask;
            d3 += c; c = d3 >> 26; h3 = d3 & mask;
            d4 += c; c = d4 >> 26; h4 = d4 & mask;
            h0 += c + (c << 2); c = h0 >> 26; h0 &= mask;
            h1 += c;
        }
        // Sum the lanes and carry.
        Limbs h;
        h.L0 = Vector512.Sum(h0);
        h.L1 = Vector512.Sum(h1);
        h.L2 = Vector512.Sum(h2);
        h.L3 = Vector512.Sum(h3);
        h.L4 = Vector512.Sum(h4);
        Carry(ref h);
        st.H = h;
    }

    // Low 32 bits of each 64-bit lane multiplied into 64 bits (vpmuludq); every limb here is below 2^32.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Mul(Vector512<ulong> a, Vector512<ulong> b) => Avx512F.Multiply(a.AsUInt32(), b.AsUInt32());

    /// <summary>Test hook: the first ChaCha20 blocks (up to 512 bytes) for <paramref name="nonce"/>, block counters from 0.</summary>
    internal static void FirstBlocksForTest(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, Span<byte> output)
    {
        InitialState(key, nonce, out var a, out var b, out var c, out var d);
        Span<byte> blocks = stackalloc byte[512];
        EightBlocks(a, b, c, d, blocks);
        blocks[..output.Length].CopyTo(output);
    }

    /// <summary>Test hook: plain Poly1305 (RFC 8439 §2.5) of <paramref name="message"/> under a 32-byte one-time key.</summary>
    internal static void Poly1305ForTest(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, Span<byte> tag) =>
        Poly1305<Lanes>(key, message, tag);
}
