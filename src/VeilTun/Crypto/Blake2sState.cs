using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;

namespace VeilTun.Crypto;

/// <summary>
/// Incremental BLAKE2s (RFC 7693) with an optional key, for inputs that arrive in pieces.
/// </summary>
/// <remarks>
/// <para>
/// Usage: <see cref="Init"/>, any number of <see cref="Update"/> calls, then <see cref="Final"/>.
/// <see cref="Final"/> wipes the whole state (chain value, buffered input and key block), so a
/// state must be initialised again before reuse. A <c>default</c> state is not initialised and
/// <see cref="Update"/>/<see cref="Final"/> on it throw <see cref="InvalidOperationException"/>.
/// </para>
/// <para>
/// This is a mutable value type of about 112 bytes meant to live on the stack: it never allocates.
/// Copying it forks the computation (both copies hold the key block if one was given). Not
/// thread-safe: one state belongs to one caller at a time.
/// </para>
/// </remarks>
internal struct Blake2sState
{
    // RFC 7693 §2.6: the IV is the SHA-256 IV (first 32 bits of the fractional parts of the
    // square roots of the first eight primes).
    private const uint Iv0 = 0x6A09E667, Iv1 = 0xBB67AE85, Iv2 = 0x3C6EF372, Iv3 = 0xA54FF53A;
    private const uint Iv4 = 0x510E527F, Iv5 = 0x9B05688C, Iv6 = 0x1F83D9AB, Iv7 = 0x5BE0CD19;

    // RFC 7693 §3.2: h, the chain value.
    private ChainValue _h;
    // RFC 7693 §3.2: t, the number of bytes fed into the compression so far (a 2w = 64-bit counter).
    private ulong _bytesCompressed;
    private Block _buffer;
    // 0..64. BLAKE2 only knows which block is the last one when Final is called, so a full block
    // stays buffered until more input arrives (RFC 7693 §3.3: the final block is flagged).
    private int _bufferLength;
    // 0 means "not initialised" (a default state, or one already finalised and wiped).
    private int _outputLength;

    /// <summary>The digest length in bytes given to <see cref="Init"/> (1..32), or 0 if not initialised.</summary>
    public readonly int OutputLength => _outputLength;

    /// <summary>
    /// Starts a new computation, discarding anything this state held before.
    /// </summary>
    /// <param name="outputLength">Digest length in bytes, 1..<see cref="Blake2s.HashSize"/> (32).
    /// BLAKE2 binds the length into the parameter block, so a 16-byte digest is not a prefix of the
    /// 32-byte one.</param>
    /// <param name="key">Optional key of 0..32 bytes; empty means unkeyed. It is copied into the
    /// state (the caller keeps ownership of the span) and wiped by <see cref="Final"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="outputLength"/> is not 1..32.</exception>
    /// <exception cref="ArgumentException"><paramref name="key"/> is longer than 32 bytes.</exception>
    public void Init(int outputLength, ReadOnlySpan<byte> key = default)
    {
        if ((uint)(outputLength - 1) >= Blake2s.HashSize)
        {
            throw new ArgumentOutOfRangeException(nameof(outputLength), outputLength, "BLAKE2s digest length must be 1..32 bytes.");
        }

        if (key.Length > Blake2s.MaxKeySize)
        {
            throw new ArgumentException("BLAKE2s key must be at most 32 bytes.", nameof(key));
        }

        // RFC 7693 §2.5 / §3.3: h = IV XOR parameter block. Only the first word is non-zero for
        // sequential hashing without salt or personalisation: digest length, key length,
        // fanout = 1, depth = 1.
        _h[0] = Iv0 ^ 0x01010000u ^ ((uint)key.Length << 8) ^ (uint)outputLength;
        _h[1] = Iv1;
        _h[2] = Iv2;
        _h[3] = Iv3;
        _h[4] = Iv4;
        _h[5] = Iv5;
        _h[6] = Iv6;
        _h[7] = Iv7;
        _bytesCompressed = 0;
        _outputLength = outputLength;

        Span<byte> buffer = _buffer;
        buffer.Clear();
        if (key.IsEmpty)
        {
            _bufferLength = 0;
        }
        else
        {
            // RFC 7693 §3.3: a key is padded with zeros to one full block which is processed as
            // the first data block (and as the final one if no data follows).
            key.CopyTo(buffer);
            _bufferLength = Blake2s.BlockSize;
        }
    }

    /// <summary>
    /// Absorbs <paramref name="input"/> (any length, including empty). The span is only read during the call.
    /// </summary>
    /// <exception cref="InvalidOperationException">The state is not initialised.</exception>
    public void Update(ReadOnlySpan<byte> input)
    {
        ThrowIfNotInitialized();
        if (input.IsEmpty)
        {
            return;
        }

        Span<byte> buffer = _buffer;
        int free = Blake2s.BlockSize - _bufferLength;
        if (_bufferLength != 0 && input.Length > free)
        {
            // More input follows, so the buffered block is not the last one: complete it and compress.
            input[..free].CopyTo(buffer[_bufferLength..]);
            input = input[free..];
            _bytesCompressed += Blake2s.BlockSize;
            Compress(buffer, isLastBlock: false);
            _bufferLength = 0;
        }

        // Whole blocks straight from the caller's span, always keeping at least one byte back
        // (here the buffer is empty, or the input fits into it).
        while (input.Length > Blake2s.BlockSize)
        {
            _bytesCompressed += Blake2s.BlockSize;
            Compress(input[..Blake2s.BlockSize], isLastBlock: false);
            input = input[Blake2s.BlockSize..];
        }

        input.CopyTo(buffer[_bufferLength..]);
        _bufferLength += input.Length;
    }

    /// <summary>
    /// Finishes the computation, writes the digest and wipes the state.
    /// </summary>
    /// <param name="output">Receives the digest; its length must equal <see cref="OutputLength"/>.
    /// It may overlap the spans given to <see cref="Init"/> or <see cref="Update"/>.</param>
    /// <exception cref="InvalidOperationException">The state is not initialised.</exception>
    /// <exception cref="ArgumentException"><paramref name="output"/> has the wrong length.</exception>
    public void Final(Span<byte> output)
    {
        ThrowIfNotInitialized();
        if (output.Length != _outputLength)
        {
            throw new ArgumentException($"Output must be exactly {_outputLength} bytes (the length given to Init).", nameof(output));
        }

        // RFC 7693 §3.3: the last block is zero padded, t counts only the real bytes, f0 = ~0.
        // An empty unkeyed input still compresses one all-zero block with t = 0.
        Span<byte> buffer = _buffer;
        buffer[_bufferLength..].Clear();
        _bytesCompressed += (uint)_bufferLength;
        Compress(buffer, isLastBlock: true);

        // RFC 7693 §2.4: the digest is h serialised little-endian, truncated to the output length.
        if (output.Length == Blake2s.HashSize)
        {
            WriteChainValue(output);
        }
        else
        {
            Span<byte> full = stackalloc byte[Blake2s.HashSize];
            WriteChainValue(full);
            full[..output.Length].CopyTo(output);
            CryptographicOperations.ZeroMemory(full);
        }

        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(new Span<Blake2sState>(ref this)));
    }

    private readonly void WriteChainValue(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination[28..], _h[7]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination, _h[0]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], _h[1]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], _h[2]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], _h[3]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], _h[4]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[20..], _h[5]);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[24..], _h[6]);
    }

    private readonly void ThrowIfNotInitialized()
    {
        if (_outputLength == 0)
        {
            ThrowNotInitialized();
        }
    }

    private static void ThrowNotInitialized() =>
        throw new InvalidOperationException("Blake2sState is not initialised; call Init first (Final wipes the state).");

    /// <summary>RFC 7693 §3.2: the compression function F over one 64-byte block.</summary>
    private void Compress(ReadOnlySpan<byte> block, bool isLastBlock)
    {
        // The vector form needs little-endian lanes to read message words straight from the block.
        if (Vector128.IsHardwareAccelerated && BitConverter.IsLittleEndian)
        {
            CompressVector(ref _h, block, _bytesCompressed, isLastBlock);
        }
        else
        {
            CompressScalar(ref _h, block, _bytesCompressed, isLastBlock);
        }
    }

    /// <summary>F with one 32-bit variable per state word; the portable reference form.</summary>
    internal static void CompressScalar(ref ChainValue h, ReadOnlySpan<byte> block, ulong bytesCompressed, bool isLastBlock)
    {
        // RFC 7693 §2.4: the message block is read as sixteen little-endian words.
        ReadOnlySpan<uint> words = MemoryMarshal.Cast<byte, uint>(block[..Blake2s.BlockSize]);
        uint m15 = LittleEndian(words[15]);
        uint m0 = LittleEndian(words[0]), m1 = LittleEndian(words[1]), m2 = LittleEndian(words[2]), m3 = LittleEndian(words[3]);
        uint m4 = LittleEndian(words[4]), m5 = LittleEndian(words[5]), m6 = LittleEndian(words[6]), m7 = LittleEndian(words[7]);
        uint m8 = LittleEndian(words[8]), m9 = LittleEndian(words[9]), m10 = LittleEndian(words[10]), m11 = LittleEndian(words[11]);
        uint m12 = LittleEndian(words[12]), m13 = LittleEndian(words[13]), m14 = LittleEndian(words[14]);

        // RFC 7693 §3.2: v[0..7] = h, v[8..15] = IV, v12/v13 ^= t, v14 ^= ~0 for the last block.
        uint v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
        uint v8 = Iv0, v9 = Iv1, v10 = Iv2, v11 = Iv3;
        uint v12 = Iv4 ^ (uint)bytesCompressed;
        uint v13 = Iv5 ^ (uint)(bytesCompressed >> 32);
        uint v14 = isLastBlock ? ~Iv6 : Iv6;
        uint v15 = Iv7;

        // RFC 7693 §3.2: ten rounds; each mixes the four columns, then the four diagonals, with the
        // message words picked by the round's σ permutation (§2.7).
        // Round 0: σ[0] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}.
        G(ref v0, ref v4, ref v8, ref v12, m0, m1);
        G(ref v1, ref v5, ref v9, ref v13, m2, m3);
        G(ref v2, ref v6, ref v10, ref v14, m4, m5);
        G(ref v3, ref v7, ref v11, ref v15, m6, m7);
        G(ref v0, ref v5, ref v10, ref v15, m8, m9);
        G(ref v1, ref v6, ref v11, ref v12, m10, m11);
        G(ref v2, ref v7, ref v8, ref v13, m12, m13);
        G(ref v3, ref v4, ref v9, ref v14, m14, m15);
        // Round 1: σ[1] = {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}.
        G(ref v0, ref v4, ref v8, ref v12, m14, m10);
        G(ref v1, ref v5, ref v9, ref v13, m4, m8);
        G(ref v2, ref v6, ref v10, ref v14, m9, m15);
        G(ref v3, ref v7, ref v11, ref v15, m13, m6);
        G(ref v0, ref v5, ref v10, ref v15, m1, m12);
        G(ref v1, ref v6, ref v11, ref v12, m0, m2);
        G(ref v2, ref v7, ref v8, ref v13, m11, m7);
        G(ref v3, ref v4, ref v9, ref v14, m5, m3);
        // Round 2: σ[2] = {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4}.
        G(ref v0, ref v4, ref v8, ref v12, m11, m8);
        G(ref v1, ref v5, ref v9, ref v13, m12, m0);
        G(ref v2, ref v6, ref v10, ref v14, m5, m2);
        G(ref v3, ref v7, ref v11, ref v15, m15, m13);
        G(ref v0, ref v5, ref v10, ref v15, m10, m14);
        G(ref v1, ref v6, ref v11, ref v12, m3, m6);
        G(ref v2, ref v7, ref v8, ref v13, m7, m1);
        G(ref v3, ref v4, ref v9, ref v14, m9, m4);
        // Round 3: σ[3] = {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8}.
        G(ref v0, ref v4, ref v8, ref v12, m7, m9);
        G(ref v1, ref v5, ref v9, ref v13, m3, m1);
        G(ref v2, ref v6, ref v10, ref v14, m13, m12);
        G(ref v3, ref v7, ref v11, ref v15, m11, m14);
        G(ref v0, ref v5, ref v10, ref v15, m2, m6);
        G(ref v1, ref v6, ref v11, ref v12, m5, m10);
        G(ref v2, ref v7, ref v8, ref v13, m4, m0);
        G(ref v3, ref v4, ref v9, ref v14, m15, m8);
        // Round 4: σ[4] = {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13}.
        G(ref v0, ref v4, ref v8, ref v12, m9, m0);
        G(ref v1, ref v5, ref v9, ref v13, m5, m7);
        G(ref v2, ref v6, ref v10, ref v14, m2, m4);
        G(ref v3, ref v7, ref v11, ref v15, m10, m15);
        G(ref v0, ref v5, ref v10, ref v15, m14, m1);
        G(ref v1, ref v6, ref v11, ref v12, m11, m12);
        G(ref v2, ref v7, ref v8, ref v13, m6, m8);
        G(ref v3, ref v4, ref v9, ref v14, m3, m13);
        // Round 5: σ[5] = {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9}.
        G(ref v0, ref v4, ref v8, ref v12, m2, m12);
        G(ref v1, ref v5, ref v9, ref v13, m6, m10);
        G(ref v2, ref v6, ref v10, ref v14, m0, m11);
        G(ref v3, ref v7, ref v11, ref v15, m8, m3);
        G(ref v0, ref v5, ref v10, ref v15, m4, m13);
        G(ref v1, ref v6, ref v11, ref v12, m7, m5);
        G(ref v2, ref v7, ref v8, ref v13, m15, m14);
        G(ref v3, ref v4, ref v9, ref v14, m1, m9);
        // Round 6: σ[6] = {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11}.
        G(ref v0, ref v4, ref v8, ref v12, m12, m5);
        G(ref v1, ref v5, ref v9, ref v13, m1, m15);
        G(ref v2, ref v6, ref v10, ref v14, m14, m13);
        G(ref v3, ref v7, ref v11, ref v15, m4, m10);
        G(ref v0, ref v5, ref v10, ref v15, m0, m7);
        G(ref v1, ref v6, ref v11, ref v12, m6, m3);
        G(ref v2, ref v7, ref v8, ref v13, m9, m2);
        G(ref v3, ref v4, ref v9, ref v14, m8, m11);
        // Round 7: σ[7] = {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10}.
        G(ref v0, ref v4, ref v8, ref v12, m13, m11);
        G(ref v1, ref v5, ref v9, ref v13, m7, m14);
        G(ref v2, ref v6, ref v10, ref v14, m12, m1);
        G(ref v3, ref v7, ref v11, ref v15, m3, m9);
        G(ref v0, ref v5, ref v10, ref v15, m5, m0);
        G(ref v1, ref v6, ref v11, ref v12, m15, m4);
        G(ref v2, ref v7, ref v8, ref v13, m8, m6);
        G(ref v3, ref v4, ref v9, ref v14, m2, m10);
        // Round 8: σ[8] = {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5}.
        G(ref v0, ref v4, ref v8, ref v12, m6, m15);
        G(ref v1, ref v5, ref v9, ref v13, m14, m9);
        G(ref v2, ref v6, ref v10, ref v14, m11, m3);
        G(ref v3, ref v7, ref v11, ref v15, m0, m8);
        G(ref v0, ref v5, ref v10, ref v15, m12, m2);
        G(ref v1, ref v6, ref v11, ref v12, m13, m7);
        G(ref v2, ref v7, ref v8, ref v13, m1, m4);
        G(ref v3, ref v4, ref v9, ref v14, m10, m5);
        // Round 9: σ[9] = {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0}.
        G(ref v0, ref v4, ref v8, ref v12, m10, m2);
        G(ref v1, ref v5, ref v9, ref v13, m8, m4);
        G(ref v2, ref v6, ref v10, ref v14, m7, m6);
        G(ref v3, ref v7, ref v11, ref v15, m1, m5);
        G(ref v0, ref v5, ref v10, ref v15, m15, m11);
        G(ref v1, ref v6, ref v11, ref v12, m9, m14);
        G(ref v2, ref v7, ref v8, ref v13, m3, m12);
        G(ref v3, ref v4, ref v9, ref v14, m13, m0);

        h[0] ^= v0 ^ v8;
        h[1] ^= v1 ^ v9;
        h[2] ^= v2 ^ v10;
        h[3] ^= v3 ^ v11;
        h[4] ^= v4 ^ v12;
        h[5] ^= v5 ^ v13;
        h[6] ^= v6 ^ v14;
        h[7] ^= v7 ^ v15;
    }

    /// <summary>
    /// F with the 4x4 state held as four row vectors, so one G step works on all four columns (then,
    /// after rotating rows 2-4, on all four diagonals) at once. Same result as <see cref="CompressScalar"/>.
    /// </summary>
    internal static void CompressVector(ref ChainValue h, ReadOnlySpan<byte> block, ulong bytesCompressed, bool isLastBlock)
    {
        // RFC 7693 §2.4: sixteen little-endian message words (the caller checked the byte order).
        ReadOnlySpan<uint> w = MemoryMarshal.Cast<byte, uint>(block[..Blake2s.BlockSize]);
        _ = w[15];

        Span<uint> chain = h;
        Vector128<uint> chainLow = Vector128.Create((ReadOnlySpan<uint>)chain);
        Vector128<uint> chainHigh = Vector128.Create((ReadOnlySpan<uint>)chain[4..]);
        Vector128<uint> row1 = chainLow;
        Vector128<uint> row2 = chainHigh;
        Vector128<uint> row3 = Vector128.Create(Iv0, Iv1, Iv2, Iv3);
        Vector128<uint> row4 = Vector128.Create(
            Iv4 ^ (uint)bytesCompressed, Iv5 ^ (uint)(bytesCompressed >> 32), isLastBlock ? ~Iv6 : Iv6, Iv7);

        // Each round: the column step with message words σ[r][0,2,4,6] / σ[r][1,3,5,7], then the
        // diagonal step with σ[r][8,10,12,14] / σ[r][9,11,13,15] (RFC 7693 §3.2).
        // Round 0.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[0], w[2], w[4], w[6]), Vector128.Create(w[1], w[3], w[5], w[7]),
            Vector128.Create(w[8], w[10], w[12], w[14]), Vector128.Create(w[9], w[11], w[13], w[15]));
        // Round 1.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[14], w[4], w[9], w[13]), Vector128.Create(w[10], w[8], w[15], w[6]),
            Vector128.Create(w[1], w[0], w[11], w[5]), Vector128.Create(w[12], w[2], w[7], w[3]));
        // Round 2.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[11], w[12], w[5], w[15]), Vector128.Create(w[8], w[0], w[2], w[13]),
            Vector128.Create(w[10], w[3], w[7], w[9]), Vector128.Create(w[14], w[6], w[1], w[4]));
        // Round 3.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[7], w[3], w[13], w[11]), Vector128.Create(w[9], w[1], w[12], w[14]),
            Vector128.Create(w[2], w[5], w[4], w[15]), Vector128.Create(w[6], w[10], w[0], w[8]));
        // Round 4.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[9], w[5], w[2], w[10]), Vector128.Create(w[0], w[7], w[4], w[15]),
            Vector128.Create(w[14], w[11], w[6], w[3]), Vector128.Create(w[1], w[12], w[8], w[13]));
        // Round 5.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[2], w[6], w[0], w[8]), Vector128.Create(w[12], w[10], w[11], w[3]),
            Vector128.Create(w[4], w[7], w[15], w[1]), Vector128.Create(w[13], w[5], w[14], w[9]));
        // Round 6.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[12], w[1], w[14], w[4]), Vector128.Create(w[5], w[15], w[13], w[10]),
            Vector128.Create(w[0], w[6], w[9], w[8]), Vector128.Create(w[7], w[3], w[2], w[11]));
        // Round 7.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[13], w[7], w[12], w[3]), Vector128.Create(w[11], w[14], w[1], w[9]),
            Vector128.Create(w[5], w[15], w[8], w[2]), Vector128.Create(w[0], w[4], w[6], w[10]));
        // Round 8.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[6], w[14], w[11], w[0]), Vector128.Create(w[15], w[9], w[3], w[8]),
            Vector128.Create(w[12], w[13], w[1], w[10]), Vector128.Create(w[2], w[7], w[4], w[5]));
        // Round 9.
        Round(ref row1, ref row2, ref row3, ref row4,
            Vector128.Create(w[10], w[8], w[7], w[1]), Vector128.Create(w[2], w[4], w[6], w[5]),
            Vector128.Create(w[15], w[9], w[3], w[13]), Vector128.Create(w[11], w[14], w[12], w[0]));

        // RFC 7693 §3.2: h[i] ^= v[i] ^ v[i + 8].
        (chainLow ^ row1 ^ row3).CopyTo(chain);
        (chainHigh ^ row2 ^ row4).CopyTo(chain[4..]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(
        ref Vector128<uint> row1, ref Vector128<uint> row2, ref Vector128<uint> row3, ref Vector128<uint> row4,
        Vector128<uint> columnX, Vector128<uint> columnY, Vector128<uint> diagonalX, Vector128<uint> diagonalY)
    {
        G4(ref row1, ref row2, ref row3, ref row4, columnX, columnY);

        // Rotate rows 2, 3, 4 left by 1, 2, 3 lanes so that the diagonals line up as columns:
        // lane i then holds (v[i], v[4 + (i+1)%4], v[8 + (i+2)%4], v[12 + (i+3)%4]).
        row2 = Vector128.Shuffle(row2, Vector128.Create(1u, 2, 3, 0));
        row3 = Vector128.Shuffle(row3, Vector128.Create(2u, 3, 0, 1));
        row4 = Vector128.Shuffle(row4, Vector128.Create(3u, 0, 1, 2));

        G4(ref row1, ref row2, ref row3, ref row4, diagonalX, diagonalY);

        row2 = Vector128.Shuffle(row2, Vector128.Create(3u, 0, 1, 2));
        row3 = Vector128.Shuffle(row3, Vector128.Create(2u, 3, 0, 1));
        row4 = Vector128.Shuffle(row4, Vector128.Create(1u, 2, 3, 0));
    }

    /// <summary>G (RFC 7693 §3.1) applied to four independent columns, one per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void G4(ref Vector128<uint> a, ref Vector128<uint> b, ref Vector128<uint> c, ref Vector128<uint> d, Vector128<uint> x, Vector128<uint> y)
    {
        a += b + x;
        d = RotateRight16(d ^ a);
        c += d;
        b = RotateRight(b ^ c, 12);
        a += b + y;
        d = RotateRight8(d ^ a);
        c += d;
        b = RotateRight(b ^ c, 7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> RotateRight(Vector128<uint> value, [ConstantExpected] byte count)
    {
        // G is one long dependency chain, so a single-instruction rotate (AVX-512 vprord) is
        // worth having where it exists; elsewhere two shifts and an or.
        if (Avx512F.VL.IsSupported)
        {
            return Avx512F.VL.RotateRight(value, count);
        }

        return Vector128.ShiftRightLogical(value, count) | Vector128.ShiftLeft(value, 32 - count);
    }

    // Rotations by whole bytes are a byte shuffle (one pshufb / tbl instead of two shifts and an or).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> RotateRight16(Vector128<uint> value) =>
        Vector128.Shuffle(value.AsByte(), Vector128.Create((byte)2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)).AsUInt32();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<uint> RotateRight8(Vector128<uint> value) =>
        Vector128.Shuffle(value.AsByte(), Vector128.Create((byte)1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12)).AsUInt32();

    /// <summary>RFC 7693 §3.1: the mixing function G with BLAKE2s rotations (R1..R4) = (16, 12, 8, 7).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void G(ref uint a, ref uint b, ref uint c, ref uint d, uint x, uint y)
    {
        a = a + b + x;
        d = BitOperations.RotateRight(d ^ a, 16);
        c += d;
        b = BitOperations.RotateRight(b ^ c, 12);
        a = a + b + y;
        d = BitOperations.RotateRight(d ^ a, 8);
        c += d;
        b = BitOperations.RotateRight(b ^ c, 7);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint LittleEndian(uint word) =>
        BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word);

    /// <summary>The eight chain-value words h[0..7], held inline in the state.</summary>
    [InlineArray(8)]
    internal struct ChainValue
    {
        private uint _element0;
    }

    /// <summary>One 64-byte message block held inline in the state.</summary>
    [InlineArray(Blake2s.BlockSize)]
    private struct Block
    {
        private byte _element0;
    }
}
