using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Security.Cryptography;
using static VeilTun.Crypto.ChaCha20Poly1305Common;

namespace VeilTun.Crypto;

/// <summary>
/// ChaCha20-Poly1305 (RFC 8439) for one packet at a time on ARM64 with AdvSimd (NEON): ChaCha20 four blocks at a
/// time in 128-bit vectors, Poly1305 scalar. The same algorithm and API as <see cref="ChaCha20Poly1305Avx2"/> and
/// <see cref="ChaCha20Poly1305Avx512"/> (their common code is <see cref="ChaCha20Poly1305Common"/>), so ARM64 (phones,
/// Graviton, Apple silicon under Linux) runs VeilTun's own AEAD instead of falling back to libcrypto or
/// System.Security.Cryptography, which re-keys on every call. Every ARMv8-A CPU has AdvSimd, so on ARM64 this is the
/// automatic choice wherever .NET enables hardware intrinsics (Native AOT for linux-arm64 always does).
/// </summary>
/// <remarks>
/// <para>ChaCha20 in the column layout: sixteen registers, one per state word, each holding that word of four
/// consecutive blocks (one per 32-bit lane), so a double round is four independent quarter rounds per step, with no
/// shuffles between column and diagonal rounds (the diagonal round only pairs other registers); four blocks' state
/// plus temporaries fit the 32 NEON registers. Rotations: 16 bits is REV32 on 16-bit elements, 8 bits a byte table
/// lookup (TBL), 12 and 7 a shift right and a shift-left-and-insert (SLI). The four blocks are transposed back into
/// block order (TRN1/TRN2) as they are stored.</para>
/// <para>Poly1305 stays scalar (radix 2^26 in 64-bit arithmetic, <see cref="ChaCha20Poly1305Common"/>'s code, which
/// is also the x64 backends' path for short runs): NEON has no 64 x 64-bit multiply, and a two-lane UMULL/UMLAL
/// version (as OpenSSL's poly1305-armv8) could not be measured on this project's x64 machines (under qemu timings
/// mean nothing), so it was not added without a measured win; it is the next step once an ARM64 machine can
/// measure it.</para>
/// <para>Checked under qemu-aarch64 (tests/VeilTun.Arm64Tests, run by tests/interop/arm64.sh): RFC 8439's vectors
/// and vectors made on x64 by the AVX-512/AVX2 backends and checked there against BouncyCastle, every length
/// 0..2100, seal and open, in place, spliced, and tamper rejection.</para>
/// <para>Constant time: no branch or memory index depends on the key, the data or the tag (TBL's indices are a
/// constant; the tag comparison is <see cref="CryptographicOperations.FixedTimeEquals"/>). On a bad tag nothing is
/// decrypted. Keystream and Poly1305 key blocks live in registers or on the stack and are cleared.</para>
/// </remarks>
internal static class ChaCha20Poly1305AdvSimd
{
    public const int KeySize = 32;

    // Keystream is made four blocks (256 bytes) at a time.
    private const int ChunkBytes = 256;

    /// <summary>
    /// True when this CPU and runtime run the AdvSimd code: ARM64 AdvSimd for the intrinsics (TRN1/TRN2 and the
    /// 16-byte TBL are ARM64-only), and Vector128 operators accelerated. False on x64, and on ARM64 with
    /// <c>DOTNET_EnableHWIntrinsic=0</c>.
    /// </summary>
    public static bool IsSupported => AdvSimd.Arm64.IsSupported && Vector128.IsHardwareAccelerated;

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

    // Rotations of every 32-bit lane. 16: swap the 16-bit halves (REV32 .8H). 8: bytes 3,0,1,2 of each word (TBL with
    // a constant index vector). 12 and 7: x >> (32 - n) shifted into the low bits of x << n (USHR + SLI).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> RotateLeft16(Vector128<uint> x) => AdvSimd.ReverseElement16(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> RotateLeft8(Vector128<uint> x, Vector128<byte> indices) =>
        AdvSimd.Arm64.VectorTableLookup(x.AsByte(), indices).AsUInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> RotateLeft12(Vector128<uint> x) => AdvSimd.ShiftLeftAndInsert(AdvSimd.ShiftRightLogical(x, 20), x, 12);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> RotateLeft7(Vector128<uint> x) => AdvSimd.ShiftLeftAndInsert(AdvSimd.ShiftRightLogical(x, 25), x, 7);

    // Four independent quarter rounds (a_i, b_i, c_i, d_i), interleaved step by step: each step's four operations
    // are independent, which in-order cores (Cortex-A53/A55, the little cores of phones) need to hide latency.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void QuarterRounds(
        ref Vector128<uint> a0, ref Vector128<uint> b0, ref Vector128<uint> c0, ref Vector128<uint> d0,
        ref Vector128<uint> a1, ref Vector128<uint> b1, ref Vector128<uint> c1, ref Vector128<uint> d1,
        ref Vector128<uint> a2, ref Vector128<uint> b2, ref Vector128<uint> c2, ref Vector128<uint> d2,
        ref Vector128<uint> a3, ref Vector128<uint> b3, ref Vector128<uint> c3, ref Vector128<uint> d3,
        Vector128<byte> rot8)
    {
        a0 += b0; a1 += b1; a2 += b2; a3 += b3;
        d0 ^= a0; d1 ^= a1; d2 ^= a2; d3 ^= a3;
        d0 = RotateLeft16(d0); d1 = RotateLeft16(d1); d2 = RotateLeft16(d2); d3 = RotateLeft16(d3);
        c0 += d0; c1 += d1; c2 += d2; c3 += d3;
        b0 ^= c0; b1 ^= c1; b2 ^= c2; b3 ^= c3;
        b0 = RotateLeft12(b0); b1 = RotateLeft12(b1); b2 = RotateLeft12(b2); b3 = RotateLeft12(b3);
        a0 += b0; a1 += b1; a2 += b2; a3 += b3;
        d0 ^= a0; d1 ^= a1; d2 ^= a2; d3 ^= a3;
        d0 = RotateLeft8(d0, rot8); d1 = RotateLeft8(d1, rot8); d2 = RotateLeft8(d2, rot8); d3 = RotateLeft8(d3, rot8);
        c0 += d0; c1 += d1; c2 += d2; c3 += d3;
        b0 ^= c0; b1 ^= c1; b2 ^= c2; b3 ^= c3;
        b0 = RotateLeft7(b0); b1 = RotateLeft7(b1); b2 = RotateLeft7(b2); b3 = RotateLeft7(b3);
    }

    // Words 4g..4g+3 (a, b, c, d) of four blocks, lane k = block k, stored transposed: block k's 16 bytes of this
    // group at output[64k + 16g]. TRN1/TRN2 on 32-bit pairs, then on 64-bit halves.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreGroup(Vector128<uint> a, Vector128<uint> b, Vector128<uint> c, Vector128<uint> d, Span<byte> output)
    {
        var ab02 = AdvSimd.Arm64.TransposeEven(a, b).AsUInt64(); // a0 b0 a2 b2
        var ab13 = AdvSimd.Arm64.TransposeOdd(a, b).AsUInt64(); // a1 b1 a3 b3
        var cd02 = AdvSimd.Arm64.TransposeEven(c, d).AsUInt64(); // c0 d0 c2 d2
        var cd13 = AdvSimd.Arm64.TransposeOdd(c, d).AsUInt64(); // c1 d1 c3 d3
        AdvSimd.Arm64.TransposeEven(ab02, cd02).AsByte().CopyTo(output); // block 0: a0 b0 c0 d0
        AdvSimd.Arm64.TransposeEven(ab13, cd13).AsByte().CopyTo(output[64..]); // block 1
        AdvSimd.Arm64.TransposeOdd(ab02, cd02).AsByte().CopyTo(output[128..]); // block 2
        AdvSimd.Arm64.TransposeOdd(ab13, cd13).AsByte().CopyTo(output[192..]); // block 3
    }

    // The keystream four blocks (256 bytes) at a time, for the generic AEAD in ChaCha20Poly1305Common. The state is
    // kept as its words: each chunk broadcasts them (DUP) into the sixteen registers.
    private struct Blocks : IChaChaBlocks<Blocks>
    {
        private uint _k0, _k1, _k2, _k3, _k4, _k5, _k6, _k7, _n0, _n1, _n2;
        private uint _counter;

        public static int Chunk => ChunkBytes;

        public static Blocks Create(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce) => new()
        {
            _k0 = key[0],
            _k1 = key[1],
            _k2 = key[2],
            _k3 = key[3],
            _k4 = key[4],
            _k5 = key[5],
            _k6 = key[6],
            _k7 = key[7],
            _n0 = nonce[0],
            _n1 = nonce[1],
            _n2 = nonce[2],
            _counter = 0,
        };

        public void Next(Span<byte> keystream)
        {
            FourBlocks(in this, keystream);
            _counter += 4;
        }

        // Blocks _counter.._counter+3 into output[..256].
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static void FourBlocks(in Blocks s, Span<byte> output)
        {
            var rot8 = Vector128.Create((byte)3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14);
            var counters = Vector128.Create(s._counter) + Vector128.Create(0u, 1, 2, 3);
            var x0 = Vector128.Create(0x61707865u); // "expand 32-byte k"
            var x1 = Vector128.Create(0x3320646eu);
            var x2 = Vector128.Create(0x79622d32u);
            var x3 = Vector128.Create(0x6b206574u);
            var x4 = Vector128.Create(s._k0);
            var x5 = Vector128.Create(s._k1);
            var x6 = Vector128.Create(s._k2);
            var x7 = Vector128.Create(s._k3);
            var x8 = Vector128.Create(s._k4);
            var x9 = Vector128.Create(s._k5);
            var x10 = Vector128.Create(s._k6);
            var x11 = Vector128.Create(s._k7);
            var x12 = counters;
            var x13 = Vector128.Create(s._n0);
            var x14 = Vector128.Create(s._n1);
            var x15 = Vector128.Create(s._n2);
            for (int round = 0; round < 10; round++)
            {
                // Columns, then diagonals: only the pairing of registers differs.
                QuarterRounds(ref x0, ref x4, ref x8, ref x12, ref x1, ref x5, ref x9, ref x13,
                    ref x2, ref x6, ref x10, ref x14, ref x3, ref x7, ref x11, ref x15, rot8);
                QuarterRounds(ref x0, ref x5, ref x10, ref x15, ref x1, ref x6, ref x11, ref x12,
                    ref x2, ref x7, ref x8, ref x13, ref x3, ref x4, ref x9, ref x14, rot8);
            }
            StoreGroup(x0 + Vector128.Create(0x61707865u), x1 + Vector128.Create(0x3320646eu),
                x2 + Vector128.Create(0x79622d32u), x3 + Vector128.Create(0x6b206574u), output);
            StoreGroup(x4 + Vector128.Create(s._k0), x5 + Vector128.Create(s._k1),
                x6 + Vector128.Create(s._k2), x7 + Vector128.Create(s._k3), output[16..]);
            StoreGroup(x8 + Vector128.Create(s._k4), x9 + Vector128.Create(s._k5),
                x10 + Vector128.Create(s._k6), x11 + Vector128.Create(s._k7), output[32..]);
            StoreGroup(x12 + counters, x13 + Vector128.Create(s._n0),
                x14 + Vector128.Create(s._n1), x15 + Vector128.Create(s._n2), output[48..]);
        }
    }

    // ---- Poly1305: scalar (see the remarks above) ---------------------------------------------------------

    private struct Lanes : IPoly1305Lanes
    {
        public static void VectorBlocks(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit) => ScalarBlocks(ref st, data, hibit);
    }

    /// <summary>Test hook: the first ChaCha20 blocks (up to 256 bytes) for <paramref name="nonce"/>, block counters from 0.</summary>
    internal static void FirstBlocksForTest(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, Span<byte> output)
    {
        var state = Blocks.Create(key, nonce);
        Span<byte> blocks = stackalloc byte[ChunkBytes];
        Blocks.FourBlocks(in state, blocks);
        blocks[..output.Length].CopyTo(output);
        CryptographicOperations.ZeroMemory(blocks);
        state = default;
    }

    /// <summary>Test hook: plain Poly1305 (RFC 8439 §2.5) of <paramref name="message"/> under a 32-byte one-time key.</summary>
    internal static void Poly1305ForTest(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, Span<byte> tag) =>
        Poly1305<Lanes>(key, message, tag);
}
