using System.Security.Cryptography;

namespace VeilTun.Crypto;

/// <summary>
/// X25519 Diffie-Hellman (RFC 7748 §5) over Geralt / libsodium (26.6 µs per shared secret on the development
/// machine, docs/crypto.md; no allocation).
/// All members are stateless and thread-safe. Keys, public keys and shared secrets are <see cref="KeySize"/> bytes.
/// </summary>
/// <remarks>
/// Private keys may be given unclamped: libsodium clamps a copy internally (RFC 7748 §5 decodeScalar25519), so
/// the result equals that of the clamped key. <see cref="ClampPrivateKey"/> exists for storing keys in the canonical
/// clamped form, as wg(8) does.
/// </remarks>
internal static class X25519
{
    /// <summary>Private key, public key and shared secret length in bytes.</summary>
    public const int KeySize = 32;

    /// <summary>
    /// Clamps <paramref name="key"/> (exactly <see cref="KeySize"/> bytes) in place, per RFC 7748 §5 (as
    /// WireGuard stores private keys): <c>sk[0] &amp;= 248; sk[31] = (sk[31] &amp; 127) | 64</c>.
    /// </summary>
    public static void ClampPrivateKey(Span<byte> key)
    {
        ThrowIfWrongSize(key.Length, nameof(key));
        key[0] &= 248;
        key[31] = (byte)((key[31] & 127) | 64);
    }

    /// <summary>
    /// Writes the public key <c>X25519(privateKey, 9)</c> to <paramref name="publicKey"/>. Both spans are
    /// <see cref="KeySize"/> bytes; <paramref name="privateKey"/> may be unclamped.
    /// </summary>
    public static void DerivePublicKey(ReadOnlySpan<byte> privateKey, Span<byte> publicKey)
    {
        ThrowIfWrongSize(privateKey.Length, nameof(privateKey));
        ThrowIfWrongSize(publicKey.Length, nameof(publicKey));
#if FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        privateKey.CopyTo(publicKey);
        ClampPrivateKey(publicKey);
#else
        Geralt.X25519.ComputePublicKey(publicKey, privateKey);
#endif
    }

    /// <summary>
    /// Computes the shared secret <c>X25519(privateKey, publicKey)</c> into <paramref name="sharedSecret"/>
    /// (all spans <see cref="KeySize"/> bytes). Returns false, without throwing, when the result would be all zeros
    /// — i.e. <paramref name="publicKey"/> is a low-order point — in which case WireGuard aborts the handshake
    /// (as wireguard-go and the kernel do); <paramref name="sharedSecret"/> is then zeroed. <paramref name="publicKey"/> comes from
    /// the network and may be any 32 bytes; its top bit is ignored (RFC 7748 §5).
    /// </summary>
    /// <exception cref="ArgumentException">A span has the wrong length.</exception>
    public static bool TrySharedSecret(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> publicKey, Span<byte> sharedSecret)
    {
        ThrowIfWrongSize(privateKey.Length, nameof(privateKey));
        ThrowIfWrongSize(publicKey.Length, nameof(publicKey));
        ThrowIfWrongSize(sharedSecret.Length, nameof(sharedSecret));

#if FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
        // Fuzz campaigns only (fuzz/run.sh, docs/reliability.md): a stand-in as cheap as a copy that keeps what the
        // handshake needs, agreement: with public(k) = clamp(k), DH(a, public(b)) = clamp(a) XOR clamp(b) =
        // DH(b, public(a)). Everything after the DH (hashes, MACs, AEAD) is real. Never in a shipped build
        // (VeilTun.Cli refuses to build in this mode).
        Span<byte> clamped = stackalloc byte[KeySize];
        privateKey.CopyTo(clamped);
        ClampPrivateKey(clamped);
        for (int i = 0; i < KeySize; i++) sharedSecret[i] = (byte)(clamped[i] ^ publicKey[i]);
#else
        try
        {
            // libsodium's crypto_scalarmult_curve25519 returns -1 both for its list of small-order encodings
            // (rejected before multiplying, output left untouched) and for an all-zero product; Geralt turns
            // that into CryptographicException("Invalid public key."), which it throws for nothing else here.
            Geralt.X25519.ComputeSharedSecret(sharedSecret, privateKey, publicKey);
        }
        catch (CryptographicException)
        {
            CryptographicOperations.ZeroMemory(sharedSecret);
            return false;
        }
#endif

        // Defence in depth, and the rule itself (wg-go isZero, kernel curve25519()): never hand out an all-zero secret.
        Span<byte> zero = stackalloc byte[KeySize];
        zero.Clear();
        return !CryptographicOperations.FixedTimeEquals(sharedSecret, zero);
    }

    private static void ThrowIfWrongSize(int length, string paramName)
    {
        if (length != KeySize)
        {
            throw new ArgumentException($"Must be {KeySize} bytes.", paramName);
        }
    }
}
