using System.Security.Cryptography;

namespace VeilTun.Crypto;

/// <summary>
/// WireGuard's HKDF over HMAC-BLAKE2s (whitepaper §5.4; Noise §4.3 <c>HKDF</c>), producing one, two
/// or three 32-byte outputs: <c>prk = HMAC(key, input)</c>, <c>T1 = HMAC(prk, 0x01)</c>,
/// <c>T2 = HMAC(prk, T1 || 0x02)</c>, <c>T3 = HMAC(prk, T2 || 0x03)</c>.
/// </summary>
/// <remarks>
/// <para>
/// Outputs may alias the inputs: everything is computed into stack temporaries, which are wiped,
/// and copied out at the end, so the handshake can write <c>Kdf2(ck, dh, ck, k)</c>. The outputs
/// must not overlap one another.
/// </para>
/// <para>Allocation-free, stateless and thread-safe.</para>
/// </remarks>
internal static class NoiseKdf
{
    /// <summary>The length of every KDF output in bytes.</summary>
    public const int OutputSize = Blake2s.HashSize;

    /// <summary>Derives one 32-byte output (Noise MixKey: <c>ck = Kdf1(ck, input)</c>).</summary>
    /// <param name="key">The chaining key (any length; 32 bytes in WireGuard).</param>
    /// <param name="input">Input key material, any length (DH result, ephemeral key, empty).</param>
    /// <param name="t1">Receives T1; exactly 32 bytes; may alias <paramref name="key"/> or <paramref name="input"/>.</param>
    /// <exception cref="ArgumentException">An output is not 32 bytes.</exception>
    public static void Kdf1(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> t1)
    {
        CheckOutput(t1, nameof(t1));

        Span<byte> prk = stackalloc byte[OutputSize];
        Span<byte> block = stackalloc byte[OutputSize + 1];
        HmacBlake2s.Compute(key, input, prk);

        // T1 = HMAC(prk, 0x01): the first output has no previous T in front of the counter byte.
        block[OutputSize] = 0x01;
        HmacBlake2s.Compute(prk, block[OutputSize..], block[..OutputSize]);

        block[..OutputSize].CopyTo(t1);
        CryptographicOperations.ZeroMemory(prk);
        CryptographicOperations.ZeroMemory(block);
    }

    /// <summary>Derives two 32-byte outputs (e.g. <c>(ck, k) = Kdf2(ck, dh)</c>, or Noise Split with an empty input).</summary>
    /// <param name="key">The chaining key (any length; 32 bytes in WireGuard).</param>
    /// <param name="input">Input key material, any length.</param>
    /// <param name="t1">Receives T1; exactly 32 bytes; may alias <paramref name="key"/> or <paramref name="input"/>.</param>
    /// <param name="t2">Receives T2; exactly 32 bytes; may alias <paramref name="key"/> or <paramref name="input"/>.</param>
    /// <exception cref="ArgumentException">An output is not 32 bytes, or the outputs overlap.</exception>
    public static void Kdf2(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> t1, Span<byte> t2)
    {
        CheckOutput(t1, nameof(t1));
        CheckOutput(t2, nameof(t2));
        CheckDisjoint(t1, t2, nameof(t2));

        Span<byte> prk = stackalloc byte[OutputSize];
        Span<byte> out1 = stackalloc byte[OutputSize + 1];
        Span<byte> out2 = stackalloc byte[OutputSize + 1];
        HmacBlake2s.Compute(key, input, prk);
        Expand(prk, out1, out2);

        out1[..OutputSize].CopyTo(t1);
        out2[..OutputSize].CopyTo(t2);
        CryptographicOperations.ZeroMemory(prk);
        CryptographicOperations.ZeroMemory(out1);
        CryptographicOperations.ZeroMemory(out2);
    }

    /// <summary>Derives three 32-byte outputs (the psk step: <c>(ck, tau, k) = Kdf3(ck, psk)</c>).</summary>
    /// <param name="key">The chaining key (any length; 32 bytes in WireGuard).</param>
    /// <param name="input">Input key material, any length.</param>
    /// <param name="t1">Receives T1; exactly 32 bytes; may alias <paramref name="key"/> or <paramref name="input"/>.</param>
    /// <param name="t2">Receives T2; exactly 32 bytes; may alias <paramref name="key"/> or <paramref name="input"/>.</param>
    /// <param name="t3">Receives T3; exactly 32 bytes; may alias <paramref name="key"/> or <paramref name="input"/>.</param>
    /// <exception cref="ArgumentException">An output is not 32 bytes, or the outputs overlap.</exception>
    public static void Kdf3(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> t1, Span<byte> t2, Span<byte> t3)
    {
        CheckOutput(t1, nameof(t1));
        CheckOutput(t2, nameof(t2));
        CheckOutput(t3, nameof(t3));
        CheckDisjoint(t1, t2, nameof(t2));
        CheckDisjoint(t1, t3, nameof(t3));
        CheckDisjoint(t2, t3, nameof(t3));

        Span<byte> prk = stackalloc byte[OutputSize];
        Span<byte> out1 = stackalloc byte[OutputSize + 1];
        Span<byte> out2 = stackalloc byte[OutputSize + 1];
        Span<byte> out3 = stackalloc byte[OutputSize + 1];
        HmacBlake2s.Compute(key, input, prk);
        Expand(prk, out1, out2);

        // T3 = HMAC(prk, T2 || 0x03).
        out2[OutputSize] = 0x03;
        HmacBlake2s.Compute(prk, out2, out3[..OutputSize]);

        out1[..OutputSize].CopyTo(t1);
        out2[..OutputSize].CopyTo(t2);
        out3[..OutputSize].CopyTo(t3);
        CryptographicOperations.ZeroMemory(prk);
        CryptographicOperations.ZeroMemory(out1);
        CryptographicOperations.ZeroMemory(out2);
        CryptographicOperations.ZeroMemory(out3);
    }

    /// <summary>
    /// T1 = HMAC(prk, 0x01) into <paramref name="out1"/>[..32] and T2 = HMAC(prk, T1 || 0x02) into
    /// <paramref name="out2"/>[..32]. Both buffers are 33 bytes so that T || counter needs no copy.
    /// </summary>
    private static void Expand(ReadOnlySpan<byte> prk, Span<byte> out1, Span<byte> out2)
    {
        out1[OutputSize] = 0x01;
        HmacBlake2s.Compute(prk, out1[OutputSize..], out1[..OutputSize]);
        out1[OutputSize] = 0x02;
        HmacBlake2s.Compute(prk, out1, out2[..OutputSize]);
    }

    private static void CheckOutput(Span<byte> output, string name)
    {
        if (output.Length != OutputSize)
        {
            throw new ArgumentException("KDF outputs must be exactly 32 bytes.", name);
        }
    }

    private static void CheckDisjoint(Span<byte> first, Span<byte> second, string name)
    {
        if (first.Overlaps(second))
        {
            throw new ArgumentException("KDF outputs must not overlap one another.", name);
        }
    }
}
