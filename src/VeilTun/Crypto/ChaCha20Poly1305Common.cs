using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;

namespace VeilTun.Crypto;

/// <summary>
/// What <see cref="ChaCha20Poly1305Avx512"/>, <see cref="ChaCha20Poly1305Avx2"/> and <see cref="ChaCha20Poly1305AdvSimd"/>
/// have in common, apart from their vector widths: the AEAD itself (seal, spliced seal, open: generic over a backend's ChaCha20 blocks,
/// <see cref="IChaChaBlocks{TSelf}"/>, and Poly1305 lanes, <see cref="IPoly1305Lanes"/>), argument checks, the
/// keystream XOR (also for spliced plaintexts), and Poly1305 in radix 2^26 except for its vector loop (scalar
/// blocks, the AEAD's padding and length block, powers of r, the final reduction).
/// </summary>
/// <remarks>Constant time as the backends: no branch or memory index depends on the key, the data or the tag.</remarks>
internal static class ChaCha20Poly1305Common
{
    public const int TagSize = 16;

    public static void Check(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, int inputLength, int outputLength, int tagLength)
    {
        if (key.Length != 8 || nonce.Length != 3 || inputLength != outputLength || tagLength != TagSize)
            throw new ArgumentException("Invalid ChaCha20-Poly1305 argument sizes.");
        // 32-bit block counter from 1: at most 2^32 - 2 blocks of 64 bytes (far beyond any datagram).
        if ((ulong)inputLength > (uint.MaxValue - 1UL) * 64) throw new ArgumentException("Message too long.");
    }

    /// <summary>Throws unless <paramref name="middle"/> lies within <paramref name="buffer"/>'s length at <paramref name="at"/> and overlaps neither buffer nor tag.</summary>
    public static void CheckSplice(ReadOnlySpan<byte> buffer, int at, ReadOnlySpan<byte> middle, ReadOnlySpan<byte> tag)
    {
        if (at < 0 || at > buffer.Length - middle.Length || middle.Overlaps(buffer) || middle.Overlaps(tag))
            throw new ArgumentException("Invalid splice position, length or overlap.");
    }

    // ---- The AEAD, generic over a backend's ChaCha20 blocks and Poly1305 lanes --------------------------------

    /// <summary>Most keystream bytes a backend makes per <see cref="IChaChaBlocks{TSelf}.Next"/>.</summary>
    public const int MaxChunk = 512;

    /// <summary>
    /// The vector part of ChaCha20: a backend's keystream generator, <see cref="Chunk"/> bytes (whole blocks) at a
    /// time. A struct, so the generic AEAD below is specialised per backend (no interface call).
    /// </summary>
    public interface IChaChaBlocks<TSelf> where TSelf : struct, IChaChaBlocks<TSelf>
    {
        /// <summary>Keystream bytes per <see cref="Next"/>: a multiple of 64, at most <see cref="MaxChunk"/>.</summary>
        static abstract int Chunk { get; }

        /// <summary>The state for <paramref name="key"/> (8 words) and <paramref name="nonce"/> (3 words), block counter 0.</summary>
        static abstract TSelf Create(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce);

        /// <summary>Writes the next <see cref="Chunk"/> bytes of keystream and moves the block counter past them.</summary>
        void Next(Span<byte> keystream);
    }

    /// <summary>Seals <paramref name="plaintext"/> into <paramref name="ciphertext"/> (same length, same memory or disjoint) and writes the tag.</summary>
    public static void AeadSeal<TBlocks, TLanes>(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, ReadOnlySpan<byte> plaintext,
        ReadOnlySpan<byte> associatedData, Span<byte> ciphertext, Span<byte> tag)
        where TBlocks : struct, IChaChaBlocks<TBlocks> where TLanes : IPoly1305Lanes
    {
        Check(key, nonce, plaintext.Length, ciphertext.Length, tag.Length);
        SealCore<TBlocks, TLanes>(key, nonce, ciphertext, 0, plaintext, associatedData, tag);
    }

    /// <summary>
    /// Seals a plaintext that lies in two buffers: <paramref name="buffer"/>, except bytes [<paramref name="at"/>,
    /// <paramref name="at"/> + <paramref name="middle"/>.Length), which come from <paramref name="middle"/> (the buffer's
    /// own bytes there are ignored). The ciphertext replaces <paramref name="buffer"/>; <paramref name="middle"/> is only
    /// read and must not overlap <paramref name="buffer"/> or <paramref name="tag"/>. Same output as
    /// <see cref="AeadSeal"/> over the contiguous plaintext.
    /// </summary>
    public static void AeadSealSpliced<TBlocks, TLanes>(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, Span<byte> buffer, int at,
        ReadOnlySpan<byte> middle, Span<byte> tag)
        where TBlocks : struct, IChaChaBlocks<TBlocks> where TLanes : IPoly1305Lanes
    {
        Check(key, nonce, buffer.Length, buffer.Length, tag.Length);
        CheckSplice(buffer, at, middle, tag);
        SealCore<TBlocks, TLanes>(key, nonce, buffer, at, middle, default, tag);
    }

    /// <summary>
    /// Verifies <paramref name="tag"/> over <paramref name="ciphertext"/> and only then decrypts into
    /// <paramref name="plaintext"/> (same memory or disjoint). False, with nothing written, on a bad tag.
    /// </summary>
    public static bool AeadOpen<TBlocks, TLanes>(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, ReadOnlySpan<byte> ciphertext,
        ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> tag, Span<byte> plaintext)
        where TBlocks : struct, IChaChaBlocks<TBlocks> where TLanes : IPoly1305Lanes
    {
        Check(key, nonce, ciphertext.Length, plaintext.Length, tag.Length);
        Span<byte> polyKey = stackalloc byte[32];
        Span<byte> expected = stackalloc byte[TagSize];
        Span<byte> keystream = stackalloc byte[MaxChunk];
        var blocks = TBlocks.Create(key, nonce);
        blocks.Next(keystream);
        keystream[..32].CopyTo(polyKey); // block 0 keys Poly1305
        Poly1305Aead<TLanes>(polyKey, associatedData, ciphertext, expected);
        bool ok = CryptographicOperations.FixedTimeEquals(expected, tag);
        if (ok) XorStream(ref blocks, plaintext, 0, ciphertext, keystream);
        CryptographicOperations.ZeroMemory(keystream);
        CryptographicOperations.ZeroMemory(polyKey);
        CryptographicOperations.ZeroMemory(expected); // the valid tag for whatever was sent, forged or not
        return ok;
    }

    // Encrypts buffer[..at] ++ middle ++ buffer[(at + middle.Length)..] into buffer, then Poly1305 over it (the
    // ciphertext is contiguous in buffer). A whole plaintext of its own is middle with at = 0.
    private static void SealCore<TBlocks, TLanes>(ReadOnlySpan<uint> key, ReadOnlySpan<uint> nonce, Span<byte> buffer, int at,
        ReadOnlySpan<byte> middle, ReadOnlySpan<byte> associatedData, Span<byte> tag)
        where TBlocks : struct, IChaChaBlocks<TBlocks> where TLanes : IPoly1305Lanes
    {
        Span<byte> polyKey = stackalloc byte[32];
        Span<byte> keystream = stackalloc byte[MaxChunk];
        var blocks = TBlocks.Create(key, nonce);
        blocks.Next(keystream);
        keystream[..32].CopyTo(polyKey); // block 0 keys Poly1305
        XorStream(ref blocks, buffer, at, middle, keystream);
        CryptographicOperations.ZeroMemory(keystream);
        Poly1305Aead<TLanes>(polyKey, associatedData, buffer, tag);
        CryptographicOperations.ZeroMemory(polyKey);
    }

    // The plaintext (output[..at] ++ middle ++ output[(at + middle.Length)..]) XOR the keystream from block 1 on, into
    // output. `keystream` holds the first chunk on entry (its block 0 is Poly1305's) and is reused for later chunks.
    // Never inlined: tier-1 JIT code with PGO inlined it (ChaCha20 loop included) into the open, and that code opened
    // a 1420-byte packet in 1.2-2.1 us instead of 0.95 (AVX-512; varying between processes).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void XorStream<TBlocks>(ref TBlocks blocks, Span<byte> output, int at, ReadOnlySpan<byte> middle, Span<byte> keystream)
        where TBlocks : struct, IChaChaBlocks<TBlocks>
    {
        int chunk = TBlocks.Chunk;
        int length = output.Length;
        int first = Math.Min(chunk - 64, length);
        XorChunkSpliced(output, at, middle, 0, first, keystream[64..]);
        for (int offset = first; offset < length; offset += chunk)
        {
            blocks.Next(keystream);
            XorChunkSpliced(output, at, middle, offset, Math.Min(chunk, length - offset), keystream);
        }
    }

    // ---- ChaCha20 keystream XOR ----------------------------------------------------------------------------

    // Plaintext bytes [start, start + n) XOR keystream[..n] into buffer[start..], each byte read from where it lies:
    // [0, at) and [at + middle.Length, buffer.Length) in place, [at, at + middle.Length) from middle (which may be
    // the very same memory as buffer: in place). The branches depend on packet layout (lengths and offsets), never
    // on data.
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

    // output[..n] = input XOR keystream[..n], n = input.Length <= keystream.Length: 64 bytes at a time where 512-bit
    // vectors are native (AVX-512; the JIT drops the other branch), 32 at a time otherwise (AVX2), then at most one
    // step each of 16 and 8 bytes, then up to 7 single bytes (splice edges sit at odd offsets). Where 256-bit vectors
    // are not native (ARM64, where Vector256 would run in software) 16 bytes at a time instead of 32.
    private static void XorBytes(ReadOnlySpan<byte> input, Span<byte> output, ReadOnlySpan<byte> keystream)
    {
        int n = input.Length;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i + 64 <= n; i += 64)
                (Vector512.Create(input[i..]) ^ Vector512.Create(keystream[i..])).CopyTo(output[i..]);
        }
        if (!Vector256.IsHardwareAccelerated)
        {
            // ARM64 (AdvSimd): 16 bytes at a time; the JIT drops this branch on x64, whose code stays as it was.
            for (; i + 16 <= n; i += 16)
                (Vector128.Create(input[i..]) ^ Vector128.Create(keystream[i..])).CopyTo(output[i..]);
        }
        for (; i + 32 <= n; i += 32) // once at most after the 64-byte loop
            (Vector256.Create(input[i..]) ^ Vector256.Create(keystream[i..])).CopyTo(output[i..]);
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
    // h and r are five 26-bit limbs; s_i = 5 r_i folds 2^130 = 5 (mod p). Each backend runs long runs of blocks
    // (multiples of eight) through its vector lanes (IPoly1305Lanes); everything else is here and scalar.

    public const ulong Mask26 = 0x3ffffff;

    public struct Limbs
    {
        public ulong L0, L1, L2, L3, L4;
    }

    /// <summary>The vector part of Poly1305: a backend's loop over runs of whole blocks.</summary>
    public interface IPoly1305Lanes
    {
        /// <summary>
        /// h = (h + m) * r for every block of <paramref name="data"/> (a multiple of 8 blocks, at least 16) with
        /// <paramref name="hibit"/> added to each block's top limb; powers of r from <see cref="Powers"/>, as many
        /// as the implementation needs.
        /// </summary>
        static abstract void VectorBlocks(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit);
    }

    public struct PolyState
    {
        public Limbs R, H;
        public Limbs P2, P3, P4, P5, P6, P7, P8; // r^2..r^8, computed on first use by a long enough run
        public int HighestPower; // r^2..r^HighestPower are set (0: none yet)
    }

    public static Limbs KeyLimbs(ReadOnlySpan<byte> key) => new()
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
    public static void Multiply(ref Limbs h, in Limbs r)
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

    // Carries the sums of the vector lanes' limbs back into 26-bit limbs (h1 may keep a carry bit, as after Multiply).
    public static void Carry(ref Limbs h)
    {
        ulong carry = h.L0 >> 26; h.L0 &= Mask26;
        h.L1 += carry; carry = h.L1 >> 26; h.L1 &= Mask26;
        h.L2 += carry; carry = h.L2 >> 26; h.L2 &= Mask26;
        h.L3 += carry; carry = h.L3 >> 26; h.L3 &= Mask26;
        h.L4 += carry; carry = h.L4 >> 26; h.L4 &= Mask26;
        h.L0 += carry * 5; carry = h.L0 >> 26; h.L0 &= Mask26;
        h.L1 += carry;
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

    /// <summary>r^2..r^<paramref name="highest"/> (4 or 8) into <paramref name="st"/>, each once.</summary>
    public static void Powers(ref PolyState st, int highest)
    {
        if (st.HighestPower >= highest) return;
        if (st.HighestPower < 4)
        {
            st.P2 = st.R; Multiply(ref st.P2, st.R);
            st.P3 = st.P2; Multiply(ref st.P3, st.R);
            st.P4 = st.P2; Multiply(ref st.P4, st.P2);
            st.HighestPower = 4;
        }
        if (highest > 4)
        {
            st.P5 = st.P4; Multiply(ref st.P5, st.R);
            st.P6 = st.P4; Multiply(ref st.P6, st.P2);
            st.P7 = st.P4; Multiply(ref st.P7, st.P3);
            st.P8 = st.P4; Multiply(ref st.P8, st.P4);
            st.HighestPower = 8;
        }
    }

    /// <summary>The AEAD's Poly1305 tag (RFC 8439 §2.8) over <paramref name="associatedData"/> and <paramref name="ciphertext"/>.</summary>
    public static void Poly1305Aead<TLanes>(ReadOnlySpan<byte> polyKey, ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertext, Span<byte> tag)
        where TLanes : IPoly1305Lanes
    {
        var st = default(PolyState);
        st.R = KeyLimbs(polyKey);

        // RFC 8439 §2.8: pad16(aad) || pad16(ciphertext) || le64(aad length) || le64(ciphertext length).
        PaddedBlocks<TLanes>(ref st, associatedData);
        PaddedBlocks<TLanes>(ref st, ciphertext);
        Span<byte> lengths = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(lengths, (ulong)associatedData.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(lengths[8..], (ulong)ciphertext.Length);
        Blocks<TLanes>(ref st, lengths, 1 << 24);

        Emit(ref st.H, polyKey[16..], tag);
        st = default;
    }

    /// <summary>Plain Poly1305 (RFC 8439 §2.5) of <paramref name="message"/> under a 32-byte one-time key (for tests and benchmarks).</summary>
    public static void Poly1305<TLanes>(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, Span<byte> tag)
        where TLanes : IPoly1305Lanes
    {
        var st = default(PolyState);
        st.R = KeyLimbs(key);
        PaddedBlocks<TLanes>(ref st, message, plainLastBlock: true);
        Emit(ref st.H, key[16..], tag);
        st = default;
    }

    // The AEAD pads a short last block with zeros and keeps its 2^128 bit (RFC 8439 §2.8); plain Poly1305
    // (`plainLastBlock`, for the tests' §2.5 vectors) puts a 1 byte right after the message instead.
    private static void PaddedBlocks<TLanes>(ref PolyState st, ReadOnlySpan<byte> data, bool plainLastBlock = false)
        where TLanes : IPoly1305Lanes
    {
        int whole = data.Length & ~15;
        Blocks<TLanes>(ref st, data[..whole], 1 << 24);
        if (whole < data.Length)
        {
            Span<byte> last = stackalloc byte[16];
            last.Clear();
            data[whole..].CopyTo(last);
            if (plainLastBlock) last[data.Length - whole] = 1;
            Blocks<TLanes>(ref st, last, plainLastBlock ? 0UL : 1 << 24);
            CryptographicOperations.ZeroMemory(last);
        }
    }

    /// <summary>h = (h + m) * r for every 16-byte block of <paramref name="data"/>, one at a time (a backend without
    /// vector Poly1305 lanes: <see cref="ChaCha20Poly1305AdvSimd"/>).</summary>
    public static void ScalarBlocks(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit)
    {
        for (int offset = 0; offset + 16 <= data.Length; offset += 16)
        {
            AddBlock(ref st.H, data.Slice(offset, 16), hibit);
            Multiply(ref st.H, st.R);
        }
    }

    // h = (h + m) * r for every 16-byte block: in the backend's vector lanes, a multiple of eight blocks, while at
    // least 16 remain, then one at a time.
    private static void Blocks<TLanes>(ref PolyState st, ReadOnlySpan<byte> data, ulong hibit)
        where TLanes : IPoly1305Lanes
    {
        int blocks = data.Length >> 4;
        int offset = 0;
        if (blocks >= 16)
        {
            int vectorBlocks = blocks & ~7;
            TLanes.VectorBlocks(ref st, data[..(vectorBlocks * 16)], hibit);
            offset = vectorBlocks * 16;
        }
        for (; offset + 16 <= data.Length; offset += 16)
        {
            AddBlock(ref st.H, data.Slice(offset, 16), hibit);
            Multiply(ref st.H, st.R);
        }
    }

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
}
