namespace VeilTun.Crypto;

/// <summary>
/// One-shot BLAKE2s (RFC 7693): WireGuard's HASH (32-byte digest) and MAC (keyed, 16-byte digest).
/// </summary>
/// <remarks>
/// All methods are allocation-free, stateless and thread-safe. Inputs are only read during the
/// call and outputs may overlap inputs: the digest is written after all input has been absorbed.
/// For input that arrives in pieces use <see cref="Blake2sState"/>.
/// </remarks>
internal static class Blake2s
{
    /// <summary>The full BLAKE2s-256 digest length in bytes (WireGuard's HASH).</summary>
    public const int HashSize = 32;

    /// <summary>The BLAKE2s block length in bytes (also the HMAC block length, RFC 2104 "B").</summary>
    public const int BlockSize = 64;

    /// <summary>The longest key BLAKE2s accepts, in bytes (RFC 7693 §2.1: kk ≤ 32).</summary>
    public const int MaxKeySize = 32;

    /// <summary>
    /// Computes the unkeyed BLAKE2s digest of <paramref name="input"/>.
    /// </summary>
    /// <param name="input">Message of any length.</param>
    /// <param name="output">Receives the digest; its length (1..32) is the digest length, which
    /// BLAKE2 binds into the computation (a 16-byte digest is not a prefix of the 32-byte one).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="output"/> is empty or longer than 32 bytes.</exception>
    public static void Hash(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var state = default(Blake2sState);
        state.Init(output.Length);
        state.Update(input);
        state.Final(output);
    }

    /// <summary>
    /// Computes the unkeyed BLAKE2s digest of <paramref name="a"/> || <paramref name="b"/> without
    /// concatenating them (Noise MixHash: <c>h = HASH(h || data)</c>).
    /// </summary>
    /// <param name="a">First part of the message, any length.</param>
    /// <param name="b">Second part of the message, any length.</param>
    /// <param name="output">Receives the digest (1..32 bytes, see <see cref="Hash(ReadOnlySpan{byte}, Span{byte})"/>);
    /// it may be the same memory as <paramref name="a"/>, so <c>Hash(h, data, h)</c> is fine.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="output"/> is empty or longer than 32 bytes.</exception>
    public static void Hash(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> output)
    {
        var state = default(Blake2sState);
        state.Init(output.Length);
        state.Update(a);
        state.Update(b);
        state.Final(output);
    }

    /// <summary>
    /// Computes the keyed BLAKE2s digest of <paramref name="input"/> using BLAKE2's native keying
    /// (RFC 7693 §3.3), not HMAC. WireGuard's <c>MAC(key, x)</c> is this with a 16-byte output.
    /// </summary>
    /// <param name="key">Key of 1..32 bytes. The internal copy is wiped before returning.</param>
    /// <param name="input">Message of any length.</param>
    /// <param name="output">Receives the digest; its length (1..32) is the digest length.</param>
    /// <exception cref="ArgumentException"><paramref name="key"/> is empty or longer than 32 bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="output"/> is empty or longer than 32 bytes.</exception>
    public static void KeyedHash(ReadOnlySpan<byte> key, ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (key.IsEmpty)
        {
            // An empty key would silently mean "unkeyed"; a MAC call without a key is a bug.
            throw new ArgumentException("BLAKE2s key must be 1..32 bytes.", nameof(key));
        }

        var state = default(Blake2sState);
        state.Init(output.Length, key);
        state.Update(input);
        state.Final(output);
    }
}
