using System.Security.Cryptography;

namespace VeilTun.Crypto;

/// <summary>
/// A 32-byte secret (private key or preshared key) in a pinned array that is zeroed on <see cref="Dispose"/>.
/// Equality is constant-time; <see cref="ToString"/> never shows the key. Thread-safe for reads; Dispose once,
/// when no reader remains.
/// </summary>
public sealed class SecretKey : IDisposable, IEquatable<SecretKey>
{
    /// <summary>The length of a private key in bytes (32).</summary>
    public const int Size = 32;
    private readonly byte[] _bytes = GC.AllocateArray<byte>(Size, pinned: true);
    private bool _disposed;

    /// <summary>Copies <paramref name="bytes"/> (32 bytes); the caller should zero its own copy.</summary>
    public SecretKey(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size) throw new ArgumentException($"a key is {Size} bytes", nameof(bytes));
        bytes.CopyTo(_bytes);
    }

    /// <summary>A fresh random key from the OS CSPRNG.</summary>
    public static SecretKey Generate()
    {
        Span<byte> b = stackalloc byte[Size];
        RandomNumberGenerator.Fill(b);
        var key = new SecretKey(b);
        CryptographicOperations.ZeroMemory(b);
        return key;
    }

    /// <summary>The key bytes. Do not keep the span beyond the key's lifetime.</summary>
    public ReadOnlySpan<byte> Bytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _bytes;
        }
    }

    /// <summary>True when every byte is zero (wg(8): "no key").</summary>
    public bool IsZero
    {
        get
        {
            int acc = 0;
            foreach (byte b in _bytes) acc |= b;
            return acc == 0;
        }
    }

    /// <summary>The Curve25519 public key for this private key.</summary>
    public PublicKey DerivePublicKey()
    {
        Span<byte> pub = stackalloc byte[Size];
        X25519.DerivePublicKey(Bytes, pub);
        return new PublicKey(pub);
    }

    /// <summary>A copy with its own pinned storage, disposed independently of this one.</summary>
    public SecretKey Clone() => new(Bytes);

    /// <summary>True when both keys have the same bytes, compared in constant time.</summary>
    public bool Equals(SecretKey? other) =>
        other is not null && CryptographicOperations.FixedTimeEquals(Bytes, other.Bytes);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is SecretKey k && Equals(k);

    /// <summary>Always 0: a secret is never hashed (do not use secret keys as dictionary keys).</summary>
    public override int GetHashCode() => 0; // never hash secrets

    /// <summary>"(hidden)": the key never appears in text.</summary>
    public override string ToString() => "(hidden)";

    /// <summary>Zeroes the key bytes. Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        CryptographicOperations.ZeroMemory(_bytes);
        _disposed = true;
    }
}
