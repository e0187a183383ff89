using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;

namespace VeilTun.Crypto;

/// <summary>
/// ChaCha20-Poly1305 (RFC 8439) for one packet at a time: ChaCha20 four blocks per AVX-512 register (eight in flight), Poly1305 in
/// radix 2^26 with eight blocks at a time in AVX-512 lanes. Used by <see cref="ChaCha20Poly1305Context"/> when the CPU has AVX-512 because OpenSSL 3.0's
/// per-call EVP cost (nonce init, final, tag parameters: about 0.6 us of the 1.4 us a 1420-byte packet takes,
/// measured in C by bench/aead.sh) is larger than the cipher itself at packet sizes. Checked against OpenSSL and
/// System.Security.Cryptography on every length and on random inputs (ChaCha20Poly1305ManagedTests).
/// </summary>
/// <remarks>
/// Constant time: no branch or memory index depends on the key, the data or the tag (the tag comparison is
/// <see cref="CryptographicOperations.FixedTimeEquals"/>; Poly1305's carries are arithmetic). On a bad tag nothing
/// is decrypted. Keystream and Poly1305 key blocks live in registers or on the stack and are cleared.
/// </remarks>
internal static class ChaCha20Poly1305Avx512
{
    public const int KeySize = 32;
    public const int TagSize = 16;

    /// <summary>
    /// True when this CPU and runtime run the AVX-512 code: AVX-512F for the intrinsics, and Vector512 operators
    /// accelerated (the runtime requires F+BW+CD+DQ+VL for that; without it they would run in software).
    /// </summary>
    public static bool IsSupported => Avx512F.IsSupported && Vector512.IsHardwareAccelerated;

    /// <summary>Seals <paramref name="plaintext"/> into <paramref name="ciphertext"/> (same length, same memory or disjoint) and writes the tag.</summary>
    public static void Seal(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> ciphertext, Span<byte> tag)
    {
        Check(key, nonce, plaintext.Length, ciphertext.Length, tag.Length);
        Span<byte> polyKey = stackalloc byte[32];
        InitialState(key, nonce, out var a, out var b, out var c, out var d);
        Span<byte> first = stackalloc byte[512];
        EightBlocks(a, b, c, d, first);
        first[..32].CopyTo(polyKey); // block 0 keys Poly1305
        XorStream(plaintext, ciphertext, a, b, c, d, first);
        CryptographicOperations.ZeroMemory(first);
        Poly1305Aead(polyKey, associatedData, ciphertext, tag);
        CryptographicOperations.ZeroMemory(polyKey);
    }

    /// <summary>
    /// Seals a plaintext that lies in two buffers: <paramref name="buffer"/>, except bytes [<paramref name="at"/>,
    /// <paramref name="at"/> + <paramref name="middle"/>.Length), which come from <paramref name="middle"/> (the buffer's
    /// own bytes there are ignored). The ciphertext replaces <paramref name="buffer"/>; <paramref name="middle"/> is only
    /// read and must not overlap <paramref name="buffer"/> or <paramref name="tag"/>. Same output as
    /// <see cref="Seal"/> over the contiguous plaintext.
    /// </summary>
    public static void SealSpliced(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, Span<byte> buffer, int at, ReadOnlySpan<byte> middle, Span<byte> tag)
    {
        Check(key, nonce, buffer.Length, buffer.Length, tag.Length);
        if (at < 0 || at > buffer.Length - middle.Length || middle.Overlaps(buffer) || middle.Overlaps(tag))
            throw new ArgumentException("Invalid splice position, length or overlap.");
        Span<byte> polyKey = stackalloc byte[32];
        InitialState(key, nonce, out var a, out var b, out var c, out var d);
        Span<byte> first = stackalloc byte[512];
        EightBlocks(a, b, c, d, first);
        first[..32].CopyTo(polyKey);
        XorStreamSpliced(buffer, at, middle, a, b, c, d, first);
        CryptographicOperations.ZeroMemory(first);
        // The ciphertext is contiguous in buffer now: Poly1305 runs over it as in Seal.
        Poly1305Aead(polyKey, default, buffer, tag);
        CryptographicOperations.ZeroMemory(polyKey);
    }

    /// <summary>
    /// Verifies <paramref name="tag"/> over <paramref name="ciphertext"/> and only then decrypts into
    /// <paramref name="plaintext"/> (same memory or disjoint). False, with nothing written, on a bad tag.
    /// </summary>
    public static bool TryOpen(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> tag, Span<byte> plaintext)
    {
        Check(key, nonce, ciphertext.Length, plaintext.Length, tag.Length);
        Span<byte> polyKey = stackalloc byte[32];
        Span<byte> expected = stackalloc byte[TagSize];
        InitialState(key, nonce, out var a, out var b, out var c, out var d);
        Span<byte> first = stackalloc byte[512];
        EightBlocks(a, b, c, d, first);
        first[..32].CopyTo(polyKey);
        Poly1305Aead(polyKey, associatedData, ciphertext, expected);
        bool ok = CryptographicOperations.FixedTimeEquals(expected, tag);
        if (ok) XorStream(ciphertext, plaintext, a, b, c, d, first);
        CryptographicOperations.ZeroMemory(first);
        CryptographicOperations.ZeroMemory(polyKey);
        return ok;
    }

    private static void Check(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, int inputLength, int outputLength, int tagLength)
    {
        if (key.Length != 8 || nonce.Length != 3 || inputLength != outputLength || tagLength != TagSize)
            throw new ArgumentException("Invalid ChaCha20-Poly1305 argument sizes.");
        // 32-bit block counter from 1: at most 2^32 - 2 blocks of 64 bytes (far beyond any datagram).
        if ((ulong)inputLength > (uint.MaxValue - 1UL) * 64) throw new ArgumentException("Message too long.");
    }

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

    // input XOR keystream from block 1 on. `keystream` holds blocks 0..7 on entry (block 0 is Poly1305's) and is
    // reused for later blocks.
    private static void XorStream(ReadOnlySpan<byte> input, Span<byte> output, Vector512<uint> a, Vector512<uint> b,
        Vector512<uint> c, Vector512<uint> d, Span<byte> keystream)
    {
        int length = input.Length;
        if (length <= 448)
        {
            XorBytes(input, output, keystream[64..]);
            return;
        }
        XorBytes(input[..448], output, keystream[64..]);
        int offset = 448;
        var eight = Vector512.Create(Vector128.Create(8u, 0, 0, 0)); // +8 on every lane's block counter
        while (offset < length)
        {
            d += eight;
            EightBlocks(a, b, c, d, keystream);
            int n = Math.Min(512, length - offset);
            XorBytes(input.Slice(offset, n), output[offset..], keystream);
            offset += n;
        }
    }

    // XorStream for SealSpliced: the plaintext is buffer[..at] ++ middle ++ buffer[(at + middle.Length)..] and the
    // ciphertext goes to buffer. Same keystream chunks and offsets as XorStream; each chunk XORs up to three parts.
    private static void XorStreamSpliced(Span<byte> buffer, int at, ReadOnlySpan<byte> middle, Vector512<uint> a,
        Vector512<uint> b, Vector512<uint> c, Vector512<uint> d, Span<byte> keystream)
    {
        int length = buffer.Length;
        XorChunkSpliced(buffer, at, middle, 0, Math.Min(448, length), keystream[64..]);
        int offset = 448;
        var eight = Vector512.Create(Vector128.Create(8u, 0, 0, 0));
        while (offset < length)
        {
            d += eight;
            EightBlocks(a, b, c, d, keystream);
            int n = Math.Min(512, length - offset);
            XorChunkSpliced(buffer, at, middle, offset, n, keystream);
            offset += n;
        }
    }

    // Plaintext bytes [start, start + n) XOR keystream[..n] into buffer[start..], each byte read from where it lies:
    // [0, at) and [at + middle.Length, buffer.Length) in place, [at, at + middle.Length) from middle. The branches
    // depend on packet layout (lengths and offsets), never on data.
    private static void XorChunkSpliced(Span<byte> buffer, int at, ReadOnlySpan<byte> middle, int start, int n, ReadOnlySpan<byte> keystream)
    {
        int end = start + n;
        int middleEnd = at + middle.Length;

        int headEnd = Math.Min(end, at);
        if (start < headEnd)
            XorBytes(buffer[start..headEnd], buffer[start..], keystream);

        int middleStart = Math.Max(start, at);
        int middleStop = Math.Min(end, middleEnd);
        if (middleStart < middleStop)
            XorBytes(middle[(middleStart - at)..(middleStop - at)], buffer[middleStart..], keystream[(middleStart - start)..]);

        int tailStart = Math.Max(start, middleEnd);
        if (tailStart < end)
            XorBytes(buffer[tailStart..end], buffer[tailStart..], keystream[(tailStart - start)..]);
    }

    // output[..n] = input XOR keystream[..n], n = input.Length <= keystream.Length: 64 bytes at a time, then at most
    // one step each of 32, 16 and 8 bytes, then up to 7 single bytes (splice edges sit at odd offsets).
    private static void XorBytes(ReadOnlySpan<byte> input, Span<byte> output, ReadOnlySpan<byte> keystream)
    {
        int n = input.Length;
        int i = 0;
        for (; i + 64 <= n; i += 64)
            (Vector512.Create(input[i..]) ^ Vector512.Create(keystream[i..])).CopyTo(output[i..]);
        if (i + 32 <= n)
        {
            (Vector256.Create(input[i..]) ^ Vector256.Create(keystream[i..])).CopyTo(output[i..]);
            i += 32;
        }
        if (i + 16 <= n)
        {
            (Vector128.Create(input[i..]) ^ Vector128.Create(keystream[i..])).CopyTo(output[i..]);
            i += 16;
        }
        if (i + 8 <= n)
        {
            ulong x = MemoryMarshal.Read<ulong>(input[i..]) ^ MemoryMarshal.Read<ulong>(keystream[i..]);
            MemoryMarshal.Write(output[i..], in x);
            i += 8;
        }
        for (; i < n; i++) output[i] = (byte)(input[i] ^ keystream[i]);
    }

    // ---- Poly1305 (RFC 8439 §2.5) in radix 2^26 (poly1305-donna-32's arithmetic) -----------------------------
    // h and r are five 26-bit limbs; s_i = 5 r_i folds 2^130 = 5 (mod p). Runs of 8 blocks go through eight
    // AVX-512 lanes (vpmuludq): lane j accumulates blocks j, j+8, ... multiplied by r^8 each round, and the last
    // round multiplies lane j by r^(8-j) instead, so the lanes sum to the same polynomial as one block at a time.

    private const ulong Mask26 = 0x3ffffff;

    private struct Limbs
    {
        public ulong L0, L1, L2, L3, L4;
    }

    private static Limbs KeyLimbs(ReadOnlySpan<byte> key) => new()
    {
        // r &= 0x0ffffffc0ffffffc0ffffffc0fffffff, split into 26-bit limbs
        L0 = BinaryPrimitives.ReadUInt32LittleEndian(key) & 0x3ffffff,
        L1 = (BinaryPrimitives.ReadUInt32LittleEndian(key[3..]) >> 2) & 0x3ffff03,
        L2 = (BinaryPrimitives.ReadUInt32LittleEndian(key[6..]) >> 4) & 0x3ffc0ff,
        L3 = (BinaryPrimitives.ReadUInt32LittleEndian(key[9..]) >> 6) & 0x3f03fff,
        L4 = (BinaryPrimitives.ReadUInt32LittleEndian(key[12..]) >> 8) & 0x00fffff,
    };

    // h = h * r mod p, limbs carried (h1 may exceed 26 bits by a carry bit).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Multiply(ref Limbs h, in Limbs r)
    {
        ulong s1 = r.L1 * 5, s2 = r.L2 * 5, s3 = r.L3 * 5, s4 = r.L4 * 5;
        ulong d0 = h.L0 * r.L0 + h.L1 * s4 + h.L2 * s3 + h.L3 * s2 + h.L4 * s1;
        ulong d1 = h.L0 * r.L1 + h.L1 * r.L0 + h.L2 * s4 + h.L3 * s3 + h.L4 * s2;
        ulong d2 = h.L0 * r.L2 + h.L1 * r.L1 + h.L2 * r.L0 + h.L3 * s4 + h.L4 * s3;
        ulong d3 = h.L0 * r.L3 + h.L1 * r.L2 + h.L2 * r.L1 + h.L3 * r.L0 + h.L4 * s4;
        ulong d4 = h.L0 * r.L4 + h.L1 * r.L3 + h.L2 * r.L2 + h.L3 * r.L1 + h.L4 * r.L0;
        ulong c = d0 >> 26; h.L0 = d0 & Mask26;
        d1 += c; c = d1 >> 26; h.L1 = d1 & Mask26;
        d2 += c; c = d2 >> 26; h.L2 = d2 & Mask26;
        d3 += c; c = d3 >> 26; h.L3 = d3 & Mask26;
        d4 += c; c = d4 >> 26; h.L4 = d4 & Mask26;
        h.L0 += c * 5; c = h.L0 >> 26; h.L0 &= Mask26;
        h.L1 += c;
    }

    // h += one 16-byte block (with 2^128 when hibit is 1 << 24).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddBlock(ref Limbs h, ReadOnlySpan<byte> m, ulong hibit)
    {
        h.L0 += BinaryPrimitives.ReadUInt32LittleEndian(m) & 0x3ffffff;
        h.L1 += (BinaryPrimitives.ReadUInt32LittleEndian(m[3..]) >> 2) & 0x3ffffff;
        h.L2 += (BinaryPrimitives.ReadUInt32LittleEndian(m[6..]) >> 4) & 0x3ffffff;
        h.L3 += (BinaryPrimitives.ReadUInt32LittleEndian(m[9..]) >> 6) & 0x3ffffff;
        h.L4 += (BinaryPrimitives.ReadUInt32LittleEndian(m[12..]) >> 8) | hibit;
    }

    private struct PolyState
    {
        public Limbs R, H;
        public Limbs P2, P3, P4, P5, P6, P7, P8; // r^2..r^8, computed on first use by a long enough run
        public bool HavePowers;
    }

    private static void Poly1305Aead(ReadOnlySpan<byte> polyKey, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> tag)
    {
        var st = default(PolyState);
        st.R = KeyLimbs(polyKey);

        // RFC 8439 §2.8: pad16(aad) || pad16(ciphertext) || le64(aad length) || le64(ciphertext length).
        PaddedBlocks(ref st, associatedData);
        PaddedBlocks(ref st, ciphertext);
        Span<byte> lengths = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(lengths, (ulong)associatedData.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(lengths[8..], (ulong)ciphertext.Length);
        Blocks(ref st, lengths, 1 << 24);

        Emit(ref st.H, polyKey[16..], tag);
        st = default;
    }

    // The AEAD pads a short last block with zeros and keeps its 2^128 bit (RFC 8439 §2.8); plain Poly1305
    // (`plainLastBlock`, for the tests' §2.5 vectors) puts a 1 byte right after the message instead.
    private static void PaddedBlocks(ref PolyState st, ReadOnlySpan<byte> data, bool plainLastBlock = false)
    {
        int whole = data.Length & ~15;
        Blocks(ref st, data[..whole], 1 << 24);
        if (whole < data.Length)
        {
            Span<byte> last = stackalloc byte[16];
            last.Clear();
            data[whole..].CopyTo(last);
            if (plainLastBlock) last[data.Length - whole] = 1;
            Blocks(ref st, last, plainLastBlock ? 0UL : 1 << 24);
            CryptographicOperations.ZeroMemory(last);
        }
    }

    // h = (h + m) * r for every 16-byte block: eight at a time while at least 16 remain, then one at a time.
    private static void Blocks(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit)
    {
        int blocks = data.Length >> 4;
        int offset = 0;
        if (blocks >= 16)
        {
            int vectorBlocks = blocks & ~7;
            EightLanes(ref st, data[..(vectorBlocks * 16)], hibit);
            offset = vectorBlocks * 16;
        }
        for (; offset + 16 <= data.Length; offset += 16)
        {
            AddBlock(ref st.H, data.Slice(offset, 16), hibit);
            Multiply(ref st.H, st.R);
        }
    }

    private static void Powers(ref PolyState st)
    {
        if (st.HavePowers) return;
        st.P2 = st.R; Multiply(ref st.P2, st.R);
        st.P3 = st.P2; Multiply(ref st.P3, st.R);
        st.P4 = st.P2; Multiply(ref st.P4, st.P2);
        st.P5 = st.P4; Multiply(ref st.P5, st.R);
        st.P6 = st.P4; Multiply(ref st.P6, st.P2);
        st.P7 = st.P4; Multiply(ref st.P7, st.P3);
        st.P8 = st.P4; Multiply(ref st.P8, st.P4);
        st.HavePowers = true;
    }

    // data: a multiple of 8 blocks, at least 16. Lanes hold blocks in the order UnpackLow/High produce from two
    // 64-byte loads: 0, 4, 1, 5, 2, 6, 3, 7 (of each group of eight).
    private static void EightLanes(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit)
    {
        Powers(ref st);
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
        ulong carry = h.L0 >> 26; h.L0 &= Mask26;
        h.L1 += carry; carry = h.L1 >> 26; h.L1 &= Mask26;
        h.L2 += carry; carry = h.L2 >> 26; h.L2 &= Mask26;
        h.L3 += carry; carry = h.L3 >> 26; h.L3 &= Mask26;
        h.L4 += carry; carry = h.L4 >> 26; h.L4 &= Mask26;
        h.L0 += carry * 5; carry = h.L0 >> 26; h.L0 &= Mask26;
        h.L1 += carry;
        st.H = h;
    }

    // Low 32 bits of each 64-bit lane multiplied into 64 bits (vpmuludq); every limb here is below 2^32.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Mul(Vector512<ulong> a, Vector512<ulong> b) => Avx512F.Multiply(a.AsUInt32(), b.AsUInt32());

    // tag = (h mod p + s) mod 2^128, as poly1305-donna-32's finish.
    private static void Emit(ref Limbs limbs, ReadOnlySpan<byte> s, Span<byte> tag)
    {
        uint h0 = (uint)limbs.L0, h1 = (uint)limbs.L1, h2 = (uint)limbs.L2, h3 = (uint)limbs.L3, h4 = (uint)limbs.L4;
        uint c = h1 >> 26; h1 &= 0x3ffffff;
        h2 += c; c = h2 >> 26; h2 &= 0x3ffffff;
        h3 += c; c = h3 >> 26; h3 &= 0x3ffffff;
        h4 += c; c = h4 >> 26; h4 &= 0x3ffffff;
        h0 += c * 5; c = h0 >> 26; h0 &= 0x3ffffff;
        h1 += c;

        // g = h + 5 - 2^130; keep h if g went negative
        uint g0 = h0 + 5; c = g0 >> 26; g0 &= 0x3ffffff;
        uint g1 = h1 + c; c = g1 >> 26; g1 &= 0x3ffffff;
        uint g2 = h2 + c; c = g2 >> 26; g2 &= 0x3ffffff;
        uint g3 = h3 + c; c = g3 >> 26; g3 &= 0x3ffffff;
        uint g4 = h4 + c - (1u << 26);
        uint mask = (g4 >> 31) - 1; // all ones when h >= p
        h0 = (h0 & ~mask) | (g0 & mask);
        h1 = (h1 & ~mask) | (g1 & mask);
        h2 = (h2 & ~mask) | (g2 & mask);
        h3 = (h3 & ~mask) | (g3 & mask);
        h4 = (h4 & ~mask) | (g4 & mask);

        // h mod 2^128, plus s
        ulong w0 = h0 | ((ulong)h1 << 26) | ((ulong)h2 << 52);
        ulong w1 = (h2 >> 12) | ((ulong)h3 << 14) | ((ulong)h4 << 40);
        ulong s0 = BinaryPrimitives.ReadUInt64LittleEndian(s);
        ulong s1 = BinaryPrimitives.ReadUInt64LittleEndian(s[8..]);
        ulong t0 = w0 + s0;
        ulong carry = t0 < s0 ? 1UL : 0UL;
        BinaryPrimitives.WriteUInt64LittleEndian(tag, t0);
        BinaryPrimitives.WriteUInt64LittleEndian(tag[8..], w1 + s1 + carry);
        limbs = default;
    }

    /// <summary>Test hook: the first ChaCha20 blocks (up to 512 bytes) for <paramref name="nonce"/>, block counters from 0.</summary>
    internal static void FirstBlocksForTest(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, Span<byte> output)
    {
        InitialState(key, nonce, out var a, out var b, out var c, out var d);
        Span<byte> blocks = stackalloc byte[512];
        EightBlocks(a, b, c, d, blocks);
        blocks[..output.Length].CopyTo(output);
    }

    /// <summary>Test hook: plain Poly1305 (RFC 8439 §2.5) of <paramref name="message"/> under a 32-byte one-time key.</summary>
    internal static void Poly1305ForTest(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, Span<byte> tag)
    {
        var st = default(PolyState);
        st.R = KeyLimbs(key);
        PaddedBlocks(ref st, message, plainLastBlock: true);
        Emit(ref st.H, key[16..], tag);
    }
}
