using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace VeilTun.Crypto;

/// <summary>
/// HMAC-BLAKE2s-256 (RFC 2104 with B = 64, L = 32): WireGuard's <c>HMAC</c>, the building block of
/// its HKDF (<see cref="NoiseKdf"/>). Not to be confused with keyed BLAKE2s (<see cref="Blake2s.KeyedHash"/>).
/// </summary>
/// <remarks>Allocation-free, stateless and thread-safe.</remarks>
internal static class HmacBlake2s
{
    /// <summary>The HMAC output length in bytes.</summary>
    public const int MacSize = Blake2s.HashSize;

    // RFC 2104 §2: ipad = 0x36 and opad = 0x5C, each repeated B times.
    private const byte InnerPad = 0x36;
    private const byte OuterPad = 0x5C;

    /// <summary>
    /// Computes <c>HMAC(key, input)</c>.
    /// </summary>
    /// <param name="key">Key of any length, including empty; keys longer than 64 bytes are hashed
    /// first (RFC 2104 §2). Every derived copy of it is wiped before returning.</param>
    /// <param name="input">Message of any length.</param>
    /// <param name="output32">Receives the 32-byte MAC; must be exactly 32 bytes. It may overlap
    /// <paramref name="key"/> or <paramref name="input"/>: it is written last.</param>
    /// <exception cref="ArgumentException"><paramref name="output32"/> is not 32 bytes.</exception>
    public static void Compute(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> output32)
    {
        if (output32.Length != MacSize)
        {
            throw new ArgumentException("HMAC-BLAKE2s output must be exactly 32 bytes.", nameof(output32));
        }

        // RFC 2104 §2 step (1): K0 = key (hashed first if longer than B) padded with zeros to B bytes.
        Span<byte> pad = stackalloc byte[Blake2s.BlockSize];
        Span<byte> innerHash = stackalloc byte[Blake2s.HashSize];
        pad.Clear();
        if (key.Length > Blake2s.BlockSize)
        {
            Blake2s.Hash(key, pad[..Blake2s.HashSize]);
        }
        else
        {
            key.CopyTo(pad);
        }

        // Steps (2)-(4): inner = H((K0 ^ ipad) || text).
        XorInPlace(pad, InnerPad);
        var state = default(Blake2sState);
        state.Init(Blake2s.HashSize);
        state.Update(pad);
        state.Update(input);
        state.Final(innerHash);

        // Steps (5)-(7): H((K0 ^ opad) || inner). XOR with ipad ^ opad turns K0 ^ ipad into K0 ^ opad.
        XorInPlace(pad, InnerPad ^ OuterPad);
        state.Init(Blake2s.HashSize);
        state.Update(pad);
        state.Update(innerHash);
        state.Final(output32);

        CryptographicOperations.ZeroMemory(pad);
        CryptographicOperations.ZeroMemory(innerHash);
    }

    private static void XorInPlace(Span<byte> block, byte value)
    {
        // Eight 64-bit XORs instead of 64 byte XORs; the pad byte is the same in every lane, so
        // byte order does not matter.
        ulong lanes = value * 0x0101010101010101UL;
        Span<ulong> words = MemoryMarshal.Cast<byte, ulong>(block);
        for (int i = 0; i < words.Length; i++)
        {
            words[i] ^= lanes;
        }
    }
}
