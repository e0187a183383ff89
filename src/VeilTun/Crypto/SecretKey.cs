using System.Security.Cryptography;

namespace VeilTun.Crypto;

/// <summary>
/// A 32-byte secret (private key or preshared key) in a pinned array that is zeroed on <see cref="Dispose"/>.
/// Equality is constant-time; <see cref="ToString"/> never shows the key. Thread-safe for reads; Dispose once,
/// when no reader remains.
/// </summary>
public sealed class SecretKey : IDisposable, IEquatable<SecretKey>
{
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

    public SecretKey Clone() => new(Bytes);

    public bool Equals(SecretKey? other) =>
        other is not null && CryptographicOperations.FixedTimeEquals(Bytes, other.Bytes);

    public override bool Equals(object? obj) => obj is SecretKey k && Equals(k);

    public override int GetHashCode() => 0; // never hash secrets

    public override string ToString() => "(hidden)";

    public void Dispose()
    {
        if (_disposed) return;
        CryptographicOperations.ZeroMemory(_bytes);
        _disposed = true;
    }
}
