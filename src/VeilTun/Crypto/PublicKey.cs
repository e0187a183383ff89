using System.Buffers.Binary;

namespace VeilTun.Crypto;

/// <summary>
/// A Curve25519 public key (32 bytes). A value type usable as a dictionary key; equality is not secret
/// (public keys are public), but lookups by public key never reveal private material.
/// </summary>
public readonly struct PublicKey : IEquatable<PublicKey>
{
    /// <summary>The length of a public key in bytes (32).</summary>
    public const int Size = 32;
    private readonly byte[]? _bytes;

    /// <summary>Copies <paramref name="bytes"/>, which must be exactly <see cref="Size"/> bytes.</summary>
    /// <exception cref="ArgumentException"><paramref name="bytes"/> is not 32 bytes long.</exception>
    public PublicKey(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size) throw new ArgumentException($"a public key is {Size} bytes", nameof(bytes));
        _bytes = bytes.ToArray();
    }

    /// <summary>The 32 key bytes.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes ?? s_zero;

    private static readonly byte[] s_zero = new byte[Size];

    /// <summary>True when all bytes are zero (wg(8) treats such a key as "none").</summary>
    public bool IsZero => Bytes.IndexOfAnyExcept((byte)0) < 0;

    /// <summary>Parses base64 (wg(8) config) or 64 hex digits (UAPI).</summary>
    public static bool TryParse(string text, out PublicKey key)
    {
        Span<byte> b = stackalloc byte[Size];
        if (KeyEncoding.TryParseBase64(text, b) || KeyEncoding.TryParseHex(text, b))
        {
            key = new PublicKey(b);
            return true;
        }
        key = default;
        return false;
    }

    /// <summary>The key in base64, as wg(8) config files and <c>wg show</c> write it.</summary>
    public string ToBase64() => Convert.ToBase64String(Bytes);

    /// <summary>The key as 64 lower-case hex digits, as the UAPI protocol writes it.</summary>
    public string ToHex() => Convert.ToHexStringLower(Bytes);

    /// <summary>The key in base64 (<see cref="ToBase64"/>).</summary>
    public override string ToString() => ToBase64();

    /// <summary>True when both keys have the same bytes.</summary>
    public bool Equals(PublicKey other) => Bytes.SequenceEqual(other.Bytes);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PublicKey other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() =>
        HashCode.Combine(BinaryPrimitives.ReadUInt64LittleEndian(Bytes), BinaryPrimitives.ReadUInt64LittleEndian(Bytes[8..]));

    /// <summary>True when both keys have the same bytes.</summary>
    public static bool operator ==(PublicKey a, PublicKey b) => a.Equals(b);

    /// <summary>True when the keys differ.</summary>
    public static bool operator !=(PublicKey a, PublicKey b) => !a.Equals(b);
}
