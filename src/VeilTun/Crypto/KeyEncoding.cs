namespace VeilTun.Crypto;

/// <summary>
/// Text encodings of 32-byte WireGuard keys: lowercase hex (the UAPI text protocol) and padded base64 (wg(8)
/// configuration files and command line). Decoding and encoding run in time that depends only on the length of the
/// input, never on the key bytes, because the input is usually a private or preshared key
/// (same approach as wireguard-tools <c>src/encoding.c</c>).
/// All members are stateless and thread-safe.
/// </summary>
public static class KeyEncoding
{
    /// <summary>Key length in bytes.</summary>
    public const int KeySize = 32;

    /// <summary>Length of a key in hex: 64 characters.</summary>
    public const int HexLength = 2 * KeySize;

    /// <summary>Length of a key in padded base64: 44 characters, the last one '='.</summary>
    public const int Base64Length = 44;

    /// <summary>
    /// Parses exactly 64 hex digits (either case, as Go's <c>encoding/hex</c> accepts) into <paramref name="key32"/>.
    /// </summary>
    /// <param name="text">The hex text; any other length is rejected.</param>
    /// <param name="key32">Destination, exactly 32 bytes. Zeroed when parsing fails.</param>
    /// <returns>False for a wrong length or a non-hex character.</returns>
    /// <exception cref="ArgumentException"><paramref name="key32"/> is not 32 bytes.</exception>
    public static bool TryParseHex(ReadOnlySpan<char> text, Span<byte> key32)
    {
        if (key32.Length != KeySize) throw new ArgumentException($"key buffer must be {KeySize} bytes", nameof(key32));
        if (text.Length != HexLength)
        {
            key32.Clear();
            return false;
        }

        // Accumulate "some character was invalid" without branching on key material.
        int bad = 0;
        for (int i = 0; i < KeySize; i++)
        {
            int hi = HexValue(text[2 * i]);
            int lo = HexValue(text[2 * i + 1]);
            bad |= (hi | lo) >> 8;
            key32[i] = (byte)((hi << 4) | (lo & 0xf));
        }

        if (bad != 0)
        {
            key32.Clear();
            return false;
        }
        return true;
    }

    /// <summary>Encodes bytes as lowercase hex (any length; 64 characters for a key).</summary>
    /// <remarks>A string cannot be wiped: for a secret, write into a buffer of your own with
    /// <see cref="WriteHex"/> and zero it after use.</remarks>
    public static string ToHex(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length * 2, bytes.ToArray(), static (dst, src) =>
        {
            WriteHex(src, dst);
            Array.Clear(src); // the copy may hold a secret
        });
    }

    /// <summary>Writes <paramref name="bytes"/> as lowercase hex into <paramref name="destination"/> (twice as long).</summary>
    public static void WriteHex(ReadOnlySpan<byte> bytes, Span<char> destination)
    {
        if (destination.Length < bytes.Length * 2) throw new ArgumentException("destination too short", nameof(destination));
        for (int i = 0; i < bytes.Length; i++)
        {
            destination[2 * i] = HexDigit(bytes[i] >> 4);
            destination[2 * i + 1] = HexDigit(bytes[i] & 0xf);
        }
    }

    /// <summary>
    /// Parses a key in padded base64: exactly 44 characters from the standard alphabet (RFC 4648 §4), the last one
    /// '=', and the unused low bits of the 43rd character zero (wg(8) <c>key_from_base64</c> rejects non-canonical
    /// encodings too).
    /// </summary>
    /// <param name="text">The base64 text.</param>
    /// <param name="key32">Destination, exactly 32 bytes. Zeroed when parsing fails.</param>
    /// <exception cref="ArgumentException"><paramref name="key32"/> is not 32 bytes.</exception>
    public static bool TryParseBase64(ReadOnlySpan<char> text, Span<byte> key32)
    {
        if (key32.Length != KeySize) throw new ArgumentException($"key buffer must be {KeySize} bytes", nameof(key32));
        if (text.Length != Base64Length || text[Base64Length - 1] != '=')
        {
            key32.Clear();
            return false;
        }

        int bad = 0;
        // 10 full groups of 4 characters -> 30 bytes.
        for (int g = 0; g < 10; g++)
        {
            int a = Base64Value(text[4 * g]), b = Base64Value(text[4 * g + 1]);
            int c = Base64Value(text[4 * g + 2]), d = Base64Value(text[4 * g + 3]);
            bad |= (a | b | c | d) >> 8;
            int v = (a << 18) | (b << 12) | (c << 6) | d;
            key32[3 * g] = (byte)(v >> 16);
            key32[3 * g + 1] = (byte)(v >> 8);
            key32[3 * g + 2] = (byte)v;
        }

        // Last group "xyz=": 3 characters carry 18 bits, of which the low 2 must be zero.
        {
            int a = Base64Value(text[40]), b = Base64Value(text[41]), c = Base64Value(text[42]);
            bad |= (a | b | c) >> 8;
            int v = (a << 18) | (b << 12) | (c << 6);
            bad |= v & 0xff; // the 2 leftover bits of the third character
            key32[30] = (byte)(v >> 16);
            key32[31] = (byte)(v >> 8);
        }

        if (bad != 0)
        {
            key32.Clear();
            return false;
        }
        return true;
    }

    /// <summary>Encodes bytes as padded standard base64 (RFC 4648 §4); a 32-byte key gives 44 characters.</summary>
    public static string ToBase64(ReadOnlySpan<byte> bytes)
    {
        int length = (bytes.Length + 2) / 3 * 4;
        return string.Create(length, bytes.ToArray(), static (dst, src) =>
        {
            int o = 0, i = 0;
            for (; i + 3 <= src.Length; i += 3)
            {
                int v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];
                dst[o++] = Base64Digit(v >> 18);
                dst[o++] = Base64Digit((v >> 12) & 63);
                dst[o++] = Base64Digit((v >> 6) & 63);
                dst[o++] = Base64Digit(v & 63);
            }
            int rest = src.Length - i;
            if (rest > 0)
            {
                int v = src[i] << 16;
                if (rest == 2) v |= src[i + 1] << 8;
                dst[o++] = Base64Digit(v >> 18);
                dst[o++] = Base64Digit((v >> 12) & 63);
                dst[o++] = rest == 2 ? Base64Digit((v >> 6) & 63) : '=';
                dst[o++] = '=';
            }
            Array.Clear(src);
        });
    }

    // Branch-free helpers. A "mask" below is -1 when the condition holds and 0 otherwise, computed from the sign
    // bit of a difference; inputs are chars (0..65535), so the differences cannot overflow an int.

    /// <summary>Value 0..15 of a hex digit, or a value with bit 8 set (0x100 or more) when it is not one.</summary>
    private static int HexValue(char ch)
    {
        int c = ch;
        int isDigit = InRange(c, '0', '9');
        int lower = c | 0x20; // 'A'..'F' -> 'a'..'f'; never turns a non-letter into 'a'..'f' except from 'A'..'F'
        int isLetter = InRange(lower, 'a', 'f');
        int value = (isDigit & (c - '0')) | (isLetter & (lower - 'a' + 10));
        return value | (~(isDigit | isLetter) & 0x100);
    }

    /// <summary>Value 0..63 of a base64 character, or a value with bit 8 set when it is not one.</summary>
    private static int Base64Value(char ch)
    {
        int c = ch;
        int upper = InRange(c, 'A', 'Z');
        int lower = InRange(c, 'a', 'z');
        int digit = InRange(c, '0', '9');
        int plus = InRange(c, '+', '+');
        int slash = InRange(c, '/', '/');
        int value = (upper & (c - 'A')) | (lower & (c - 'a' + 26)) | (digit & (c - '0' + 52)) | (plus & 62) | (slash & 63);
        return value | (~(upper | lower | digit | plus | slash) & 0x100);
    }

    /// <summary>-1 when lo &lt;= c &lt;= hi, else 0, without branches.</summary>
    private static int InRange(int c, int lo, int hi) => ((lo - 1 - c) & (c - hi - 1)) >> 31;

    private static char HexDigit(int nibble)
    {
        // 0..9 -> '0'..'9', 10..15 -> 'a'..'f'
        int aboveNine = (9 - nibble) >> 31; // -1 when nibble > 9
        return (char)('0' + nibble + (aboveNine & ('a' - '0' - 10)));
    }

    private static char Base64Digit(int v)
    {
        // 0..25 'A'..'Z', 26..51 'a'..'z', 52..61 '0'..'9', 62 '+', 63 '/'
        int c = 'A' + v;
        c += ((25 - v) >> 31) & ('a' - 'A' - 26);
        c += ((51 - v) >> 31) & ('0' - 'a' - 26);
        c += ((61 - v) >> 31) & ('+' - '0' - 10);
        c += ((62 - v) >> 31) & ('/' - '+' - 1);
        return (char)c;
    }
}
