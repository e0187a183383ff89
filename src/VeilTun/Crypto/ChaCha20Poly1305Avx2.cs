using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using static VeilTun.Crypto.ChaCha20Poly1305Common;

namespace VeilTun.Crypto;

/// <summary>
/// ChaCha20-Poly1305 (RFC 8439) for one packet at a time in AVX2: ChaCha20 two blocks per 256-bit register (three
/// register sets, six blocks in flight), Poly1305 in radix 2^26 with four blocks at a time in four 64-bit lanes.
/// The same algorithm and API as <see cref="ChaCha20Poly1305Avx512"/> (their common code is
/// <see cref="ChaCha20Poly1305Common"/>), sized for the sixteen ymm registers of x64 CPUs with AVX2 but without
/// AVX-512 (AMD Zen 2/3, many Intel desktops), where <see cref="ChaCha20Poly1305Context"/> would otherwise use
/// OpenSSL 3.0, whose per-call EVP work (about 0.6 us of a 1420-byte packet, bench/aead.sh) is larger than the
/// cipher itself at packet sizes. Checked against OpenSSL, System.Security.Cryptography and BouncyCastle on every
/// length up to 2100 bytes and on random inputs (ChaCha20Poly1305Avx2Tests, ChaCha20Poly1305ContextTests,
/// ChaCha20Poly1305SplicedTests).
/// </summary>
/// <remarks>
/// Constant time: no branch or memory index depends on the key, the data or the tag (the tag comparison is
/// <see cref="CryptographicOperations.FixedTimeEquals"/>; Poly1305's carries are arithmetic). On a bad tag nothing
/// is decrypted. Keystream and Poly1305 key blocks live in registers or on the stack and are cleared.
/// </remarks>
internal static class ChaCha20Poly1305Avx2
{
    public const int KeySize = 32;

    // Keystream is made six blocks (384 bytes) at a time.
    private const int ChunkBytes = 384;

    /// <summary>
    /// True when this CPU and runtime run the AVX2 code: AVX2 for the intrinsics, and Vector256 operators accelerated
    /// (without that they would run in software). Native AOT: true only in a binary compiled for AVX2 (e.g.
    /// IlcInstructionSet=native on such a CPU, or x86-64-v3).
    /// </summary>
    public static bool IsSupported => Avx2.IsSupported && Vector256.IsHardwareAccelerated;

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

    // Row layout: each 256-bit register holds one row of the 4x4 state for two consecutive blocks (one per 128-bit
    // lane); the diagonal round rotates the words of rows b, c, d within each lane (vpshufd).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InitialState(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, out Vector256<uint> a, out Vector256<uint> b, out Vector256<uint> c, out Vector256<uint> d)
    {
        a = Vector256.Create(Vector128.Create(0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u)); // "expand 32-byte k"
        b = Vector256.Create(Vector128.Create(key[0], key[1], key[2], key[3]));
        c = Vector256.Create(Vector128.Create(key[4], key[5], key[6], key[7]));
        d = Vector256.Create(Vector128.Create(0u, nonce[0], nonce[1], nonce[2]))
            + Vector256.Create(0u, 0, 0, 0, 1, 0, 0, 0); // block counters 0 and 1
    }

    // AVX2 has no vector rotate: 16 and 8 bits are byte shuffles (vpshufb, one instruction), 12 and 7 two shifts and
    // an or.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RotateLeft16(Vector256<uint> x) =>
        Avx2.Shuffle(x.AsByte(), Vector256.Create((byte)2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
            2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)).AsUInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RotateLeft8(Vector256<uint> x) =>
        Avx2.Shuffle(x.AsByte(), Vector256.Create((byte)3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14,
            3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14)).AsUInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RotateLeft12(Vector256<uint> x) => Avx2.ShiftLeftLogical(x, 12) | Avx2.ShiftRightLogical(x, 20);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RotateLeft7(Vector256<uint> x) => Avx2.ShiftLeftLogical(x, 7) | Avx2.ShiftRightLogical(x, 25);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuarterRounds(ref Vector256<uint> a, ref Vector256<uint> b, ref Vector256<uint> c, ref Vector256<uint> d)
    {
        a += b; d ^= a; d = RotateLeft16(d);
        c += d; b ^= c; b = RotateLeft12(b);
        a += b; d ^= a; d = RotateLeft8(d);
        c += d; b ^= c; b = RotateLeft7(b);
    }

    // Rows b, c, d of one register set to the diagonals (lane word i <- b[i+1], c[i+2], d[i+3]) and back.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ToDiagonals(ref Vector256<uint> b, ref Vector256<uint> c, ref Vector256<uint> d)
    {
        b = Avx2.Shuffle(b, 0x39);
        c = Avx2.Shuffle(c, 0x4E);
        d = Avx2.Shuffle(d, 0x93);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FromDiagonals(ref Vector256<uint> b, ref Vector256<uint> c, ref Vector256<uint> d)
    {
        b = Avx2.Shuffle(b, 0x93);
        c = Avx2.Shuffle(c, 0x4E);
        d = Avx2.Shuffle(d, 0x39);
    }

    // Six keystream blocks (d's block counters and the next four), 384 bytes into `output`. Three independent
    // register sets (two blocks each) go through the rounds side by side: one set alone is bound by the
    // add-xor-rotate latency chain. Three sets, not four (eight blocks, 512 bytes, as the AVX-512 code's chunks):
    // with sixteen ymm registers, four sets' sixteen state rows leave none for the rotations' temporaries and the
    // JIT spills in every rotation (1.1-1.9x slower than three sets with DOTNET_EnableAVX512=0 on the development
    // VM; with AVX-512's 32 registers four sets are ~10% faster, but such CPUs use ChaCha20Poly1305Avx512).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SixBlocks(Vector256<uint> a0, Vector256<uint> b0, Vector256<uint> c0, Vector256<uint> d0, Span<byte> output)
    {
        var two = Vector256.Create(Vector128.Create(2u, 0, 0, 0));
        var d1 = d0 + two;
        var d2 = d1 + two;
        var a = a0; var b = b0; var c = c0; var d = d0;
        var e = a0; var f = b0; var g = c0; var h = d1;
        var i = a0; var j = b0; var k = c0; var l = d2;
        for (int round = 0; round < 10; round++)
        {
            QuarterRounds(ref a, ref b, ref c, ref d); // columns
            QuarterRounds(ref e, ref f, ref g, ref h);
            QuarterRounds(ref i, ref j, ref k, ref l);
            ToDiagonals(ref b, ref c, ref d);
            ToDiagonals(ref f, ref g, ref h);
            ToDiagonals(ref j, ref k, ref l);
            QuarterRounds(ref a, ref b, ref c, ref d); // diagonals
            QuarterRounds(ref e, ref f, ref g, ref h);
            QuarterRounds(ref i, ref j, ref k, ref l);
            FromDiagonals(ref b, ref c, ref d);
            FromDiagonals(ref f, ref g, ref h);
            FromDiagonals(ref j, ref k, ref l);
        }
        Store(a + a0, b + b0, c + c0, d + d0, output);
        Store(e + a0, f + b0, g + c0, h + d1, output[128..]);
        Store(i + a0, j + b0, k + c0, l + d2, output[256..]);
    }

    // Block k of two is lane k of a, b, c, d: gather lanes (vperm2i128) into 128 bytes in block order.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector256<uint> a, Vector256<uint> b, Vector256<uint> c, Vector256<uint> d, Span<byte> output)
    {
        Avx2.Permute2x128(a, b, 0x20).AsByte().CopyTo(output); // a0 b0
        Avx2.Permute2x128(c, d, 0x20).AsByte().CopyTo(output[32..]); // c0 d0
        Avx2.Permute2x128(a, b, 0x31).AsByte().CopyTo(output[64..]); // a1 b1
        Avx2.Permute2x128(c, d, 0x31).AsByte().CopyTo(output[96..]); // c1 d1
    }

    // The keystream six blocks (384 bytes) at a time, for the generic AEAD in ChaCha20Poly1305Common.
    private struct Blocks : IChaChaBlocks<Blocks>
    {
        private Vector256<uint> _a, _b, _c, _d;

        public static int Chunk => ChunkBytes;

        public static Blocks Create(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce)
        {
            InitialState(key, nonce, out var a, out var b, out var c, out var d);
            return new Blocks { _a = a, _b = b, _c = c, _d = d };
        }

        public void Next(Span<byte> keystream)
        {
            SixBlocks(_a, _b, _c, _d, keystream);
            _d += Vector256.Create(Vector128.Create(6u, 0, 0, 0)); // +6 on every lane's block counter
        }
    }

    // ---- Poly1305 (RFC 8439 §2.5) in radix 2^26: the vector loop (the rest is in ChaCha20Poly1305Common) ------
    // Runs of blocks go through four 64-bit lanes (vpmuludq multiplies the low 32 bits of each lane into 64), four
    // blocks per round: lane j accumulates blocks j, j+4, ... multiplied by r^4 each round, and the last round
    // multiplies lane j by r^(4-j) instead, so the lanes sum to the same polynomial as one block at a time. One
    // accumulator, not two for eight blocks per round like the AVX-512 code's eight lanes: two need more than
    // sixteen ymm registers, and the JIT's spills (some on the carry chain) made them slower, not faster, with
    // DOTNET_EnableAVX512=0. One also needs only r^2..r^4.

    private struct Lanes : IPoly1305Lanes
    {
        public static void VectorBlocks(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit) => FourLanes(ref st, data, hibit);
    }

    // data: a multiple of 8 blocks, at least 16. Lanes hold blocks in the order UnpackLow/High produce from two
    // 32-byte loads: 0, 2, 1, 3 (of each group of four).
    private static void FourLanes(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit)
    {
        Powers(ref st, 4);
        var mask = Vector256.Create(Mask26);
        var hib = Vector256.Create(hibit);
        // h so far enters with the first block of the run (lane 0 holds block 0), which gets r^(number of blocks).
        var h0 = Vector256.Create(st.H.L0, 0, 0, 0);
        var h1 = Vector256.Create(st.H.L1, 0, 0, 0);
        var h2 = Vector256.Create(st.H.L2, 0, 0, 0);
        var h3 = Vector256.Create(st.H.L3, 0, 0, 0);
        var h4 = Vector256.Create(st.H.L4, 0, 0, 0);
        // Every round but the last: r^4 in all lanes.
        var r0 = Vector256.Create(st.P4.L0);
        var r1 = Vector256.Create(st.P4.L1);
        var r2 = Vector256.Create(st.P4.L2);
        var r3 = Vector256.Create(st.P4.L3);
        var r4 = Vector256.Create(st.P4.L4);
        var s1 = Times5(r1);
        var s2 = Times5(r2);
        var s3 = Times5(r3);
        var s4 = Times5(r4);
        int last = data.Length - 64;
        Vector256<ulong> lo, hi;
        for (int offset = 0; offset < last; offset += 64)
        {
            Split(data.Slice(offset, 64), out lo, out hi);
            MultiplyAdd(ref h0, ref h1, ref h2, ref h3, ref h4, lo, hi, r0, r1, r2, r3, r4, s1, s2, s3, s4, mask, hib);
        }

        // Last round: lane j (block index 0, 2, 1, 3) is multiplied by r^(4 - index).
        r0 = Vector256.Create(st.P4.L0, st.P2.L0, st.P3.L0, st.R.L0);
        r1 = Vector256.Create(st.P4.L1, st.P2.L1, st.P3.L1, st.R.L1);
        r2 = Vector256.Create(st.P4.L2, st.P2.L2, st.P3.L2, st.R.L2);
        r3 = Vector256.Create(st.P4.L3, st.P2.L3, st.P3.L3, st.R.L3);
        r4 = Vector256.Create(st.P4.L4, st.P2.L4, st.P3.L4, st.R.L4);
        Split(data[last..], out lo, out hi);
        MultiplyAdd(ref h0, ref h1, ref h2, ref h3, ref h4, lo, hi, r0, r1, r2, r3, r4, Times5(r1), Times5(r2), Times5(r3), Times5(r4), mask, hib);

        // Sum the lanes and carry.
        Limbs h;
        h.L0 = Vector256.Sum(h0);
        h.L1 = Vector256.Sum(h1);
        h.L2 = Vector256.Sum(h2);
        h.L3 = Vector256.Sum(h3);
        h.L4 = Vector256.Sum(h4);
        Carry(ref h);
        st.H = h;
    }

    // Four 16-byte blocks (64 bytes) as four lanes of low and of high 64-bit halves, in block order 0, 2, 1, 3.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Split(ReadOnlySpan<byte> blocks, out Vector256<ulong> lo, out Vector256<ulong> hi)
    {
        var v0 = Vector256.Create(blocks).AsUInt64(); // blocks 0, 1
        var v1 = Vector256.Create(blocks[32..]).AsUInt64(); // blocks 2, 3
        lo = Avx2.UnpackLow(v0, v1);
        hi = Avx2.UnpackHigh(v0, v1);
    }

    // h = (h + m) * r in four lanes: m's 16-byte blocks as their low (lo) and high (hi) 64-bit halves, split into
    // 26-bit limbs; r's limbs per lane and s_i = 5 r_i. h's limbs stay below 2^27 with the message added and s below
    // 2^29, so every product fits vpmuludq's 32 x 32 -> 64 bits and the sum of five a 64-bit lane (< 2^59).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MultiplyAdd(ref Vector256<ulong> h0, ref Vector256<ulong> h1, ref Vector256<ulong> h2, ref Vector256<ulong> h3, ref Vector256<ulong> h4,
        Vector256<ulong> lo, Vector256<ulong> hi, Vector256<ulong> r0, Vector256<ulong> r1, Vector256<ulong> r2, Vector256<ulong> r3, Vector256<ulong> r4,
        Vector256<ulong> s1, Vector256<ulong> s2, Vector256<ulong> s3, Vector256<ulong> s4, Vector256<ulong> mask, Vector256<ulong> hib)
    {
        h0 += lo & mask;
        h1 += (lo >> 26) & mask;
        h2 += ((lo >> 52) | (hi << 12)) & mask;
        h3 += (hi >> 14) & mask;
        h4 += (hi >> 40) | hib;

        var d0 = Mul(h0, r0) + Mul(h1, s4) + Mul(h2, s3) + Mul(h3, s2) + Mul(h4, s1);
        var d1 = Mul(h0, r1) + Mul(h1, r0) + Mul(h2, s4) + Mul(h3, s3) + Mul(h4, s2);
        var d2 = Mul(h0, r2) + Mul(h1, r1) + Mul(h2, r0) + Mul(h3, s4) + Mul(h4, s3);
        var d3 = Mul(h0, r3) + Mul(h1, r2) + Mul(h2, r1) + Mul(h3, r0) + Mul(h4, s4);
        var d4 = Mul(h0, r4) + Mul(h1, r3) + Mul(h2, r2) + Mul(h3, r1) + Mul(h4, r0);
        // Two carry chains side by side (d0 -> d1 -> d2 -> h3 and d3 -> d4 -> h0 -> h1, then h3 -> h4), as OpenSSL's
        // AVX2 Poly1305: half the latency of one chain through all five limbs. h1 and h4 may exceed 26 bits by a few
        // carries (h1 < 2^26 + 2^10, h4 < 2^26 + 2^7), which the bounds above allow.
        var c = d0 >> 26; h0 = d0 & mask;
        var e = d3 >> 26; h3 = d3 & mask;
        d1 += c; d4 += e;
        c = d1 >> 26; h1 = d1 & mask;
        e = d4 >> 26; h4 = d4 & mask;
        d2 += c; h0 += e + (e << 2);
        c = d2 >> 26; h2 = d2 & mask;
        e = h0 >> 26; h0 &= mask;
        h3 += c; h1 += e;
        c = h3 >> 26; h3 &= mask;
        h4 += c;
    }

    // 5 x as a shift and an add (AVX2 has no 64-bit multiply).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Times5(Vector256<ulong> x) => x + (x << 2);

    // Low 32 bits of each 64-bit lane multiplied into 64 bits (vpmuludq); every limb here is below 2^32.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Mul(Vector256<ulong> a, Vector256<ulong> b) => Avx2.Multiply(a.AsUInt32(), b.AsUInt32());

    /// <summary>Test hook: the first ChaCha20 blocks (up to 384 bytes) for <paramref name="nonce"/>, block counters from 0.</summary>
    internal static void FirstBlocksForTest(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, Span<byte> output)
    {
        InitialState(key, nonce, out var a, out var b, out var c, out var d);
        Span<byte> blocks = stackalloc byte[ChunkBytes];
        SixBlocks(a, b, c, d, blocks);
        blocks[..output.Length].CopyTo(output);
        CryptographicOperations.ZeroMemory(blocks);
    }

    /// <summary>Test hook: plain Poly1305 (RFC 8439 §2.5) of <paramref name="message"/> under a 32-byte one-time key.</summary>
    internal static void Poly1305ForTest(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, Span<byte> tag) =>
        Poly1305<Lanes>(key, message, tag);
}
