using System.Security.Cryptography;

namespace VeilTun.Crypto;

/// <summary>
/// XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 §2) over Geralt / libsodium, used only for WireGuard cookie
/// replies (whitepaper §5.4.7, cold path). Named <c>...Cipher</c> to avoid clashing with <c>Geralt.XChaCha20Poly1305</c>.
/// Stateless and thread-safe. Output layout: ciphertext followed by the 16-byte tag.
/// </summary>
internal static class XChaCha20Poly1305Cipher
{
    /// <summary>Key length in bytes.</summary>
    public const int KeySize = 32;

    /// <summary>Extended nonce length in bytes.</summary>
    public const int NonceSize = 24;

    /// <summary>Poly1305 tag length in bytes.</summary>
    public const int TagSize = 16;

    /// <summary>
    /// Encrypts and authenticates <paramref name="plaintext"/>. <paramref name="key"/> is <see cref="KeySize"/> bytes,
    /// <paramref name="nonce"/> <see cref="NonceSize"/> bytes, <paramref name="ciphertextAndTag"/> exactly
    /// <c>plaintext.Length + </c><see cref="TagSize"/> bytes; it may start at the same address as
    /// <paramref name="plaintext"/> (in place), any other overlap throws.
    /// </summary>
    /// <exception cref="ArgumentException">A buffer has the wrong size or the buffers partially overlap.</exception>
    public static void Seal(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> ciphertextAndTag)
    {
        ThrowIfBadKeyOrNonce(key, nonce);
        if (ciphertextAndTag.Length != plaintext.Length + TagSize)
        {
            throw new ArgumentException("ciphertextAndTag must be plaintext.Length + 16 bytes.", nameof(ciphertextAndTag));
        }

        ThrowIfPartiallyOverlapping(plaintext, ciphertextAndTag, nameof(ciphertextAndTag));
        Geralt.XChaCha20Poly1305.Encrypt(ciphertextAndTag, plaintext, nonce, key, associatedData);
    }

    /// <summary>
    /// Verifies and decrypts <paramref name="ciphertextAndTag"/> into <paramref name="plaintext"/> (exactly
    /// <c>ciphertextAndTag.Length - </c><see cref="TagSize"/> bytes; may start at the same address, in place).
    /// Returns false, without throwing, when the input is shorter than a tag or does not authenticate; then
    /// <paramref name="plaintext"/> is zeroed.
    /// </summary>
    /// <exception cref="ArgumentException">Key, nonce or plaintext buffer has the wrong size, or the buffers partially overlap.</exception>
    public static bool TryOpen(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertextAndTag, ReadOnlySpan<byte> associatedData, Span<byte> plaintext)
    {
        ThrowIfBadKeyOrNonce(key, nonce);
        if (ciphertextAndTag.Length < TagSize)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return false;
        }

        if (plaintext.Length != ciphertextAndTag.Length - TagSize)
        {
            throw new ArgumentException("plaintext must be ciphertextAndTag.Length - 16 bytes.", nameof(plaintext));
        }

        ThrowIfPartiallyOverlapping(ciphertextAndTag, plaintext, nameof(plaintext));
        try
        {
            // Geralt throws CryptographicException only when libsodium reports a tag mismatch (sizes are checked above).
            Geralt.XChaCha20Poly1305.Decrypt(plaintext, ciphertextAndTag, nonce, key, associatedData);
            return true;
        }
        catch (CryptographicException)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return false;
        }
    }

    private static void ThrowIfBadKeyOrNonce(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce)
    {
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"Key must be {KeySize} bytes.", nameof(key));
        }

        if (nonce.Length != NonceSize)
        {
            throw new ArgumentException($"Nonce must be {NonceSize} bytes.", nameof(nonce));
        }
    }

    private static void ThrowIfPartiallyOverlapping(ReadOnlySpan<byte> input, ReadOnlySpan<byte> output, string paramName)
    {
        if (input.Overlaps(output, out int offset) && offset != 0)
        {
            throw new ArgumentException("Input and output must either be the same memory or not overlap.", paramName);
        }
    }
}
