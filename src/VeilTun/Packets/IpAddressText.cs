using System.Globalization;
using System.Text;

namespace VeilTun.Packets;

/// <summary>
/// IP addresses and prefixes as text: the one parser behind every place that reads them (the UAPI socket, wg config
/// files, <see cref="Routing.IpPrefix"/>). Addresses follow Go's <c>net/netip</c> (what wireguard-go accepts):
/// <see cref="System.Net.IPAddress.TryParse(string, out System.Net.IPAddress)"/> also accepts forms such as "1",
/// "0x7f.1" or "010.0.0.1" that WireGuard rejects. Prefix syntax differs a little between the tools whose input is
/// read (<see cref="PrefixSyntax"/>); the parser reports what failed and each caller words its own message.
/// Stateless and thread-safe; allocates only the text of a rejection.
/// </summary>
internal static class IpAddressText
{
    /// <summary>
    /// Parses an IPv4 or IPv6 address like Go's <c>netip.ParseAddr</c>: dotted-quad IPv4 without leading zeros,
    /// RFC 4291 §2.2 IPv6 with at most one "::", an optional embedded IPv4 tail and an optional "%zone".
    /// </summary>
    /// <param name="s">The text.</param>
    /// <param name="address16">Receives 4 (IPv4) or 16 (IPv6) bytes in network order; must hold 16.</param>
    /// <param name="length">4 or 16.</param>
    /// <param name="zone">The zone after '%' (IPv6 only), or empty.</param>
    /// <param name="reason">Why the text was rejected.</param>
    public static bool TryParseAddress(ReadOnlySpan<char> s, Span<byte> address16, out int length,
        out ReadOnlySpan<char> zone, out string? reason)
    {
        length = 0;
        zone = default;
        // Go decides the family by the first '.' or ':'.
        for (int i = 0; i < s.Length; i++)
        {
            switch (s[i])
            {
                case '.':
                    length = 4;
                    return TryParseIPv4(s, address16[..4], out reason);
                case ':':
                    length = 16;
                    return TryParseIPv6(s, address16[..16], out zone, out reason);
                case '%':
                    reason = "zone without an IPv6 address";
                    return false;
            }
        }
        reason = s.IsEmpty ? "empty address" : "not an IPv4 or IPv6 address";
        return false;
    }

    private static bool TryParseIPv4(ReadOnlySpan<char> s, Span<byte> dst, out string? reason)
    {
        int field = 0, value = 0, digits = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is >= '0' and <= '9')
            {
                if (digits == 1 && value == 0)
                {
                    reason = "IPv4 field has a leading zero";
                    return false;
                }
                value = value * 10 + (c - '0');
                digits++;
                if (value > 255)
                {
                    reason = "IPv4 field is greater than 255";
                    return false;
                }
            }
            else if (c == '.')
            {
                if (digits == 0)
                {
                    reason = "IPv4 field has no digits";
                    return false;
                }
                if (field == 3)
                {
                    reason = "IPv4 address has more than 4 fields";
                    return false;
                }
                dst[field++] = (byte)value;
                value = 0;
                digits = 0;
            }
            else
            {
                reason = $"unexpected character {Describe(c)} in IPv4 address";
                return false;
            }
        }
        if (field != 3 || digits == 0)
        {
            reason = "IPv4 address has fewer than 4 fields";
            return false;
        }
        dst[3] = (byte)value;
        reason = null;
        return true;
    }

    private static bool TryParseIPv6(ReadOnlySpan<char> s, Span<byte> ip, out ReadOnlySpan<char> zone, out string? reason)
    {
        ip.Clear();
        zone = default;
        int percent = s.IndexOf('%');
        if (percent >= 0)
        {
            zone = s[(percent + 1)..];
            s = s[..percent];
            if (zone.IsEmpty)
            {
                reason = "empty IPv6 zone after '%'";
                return false;
            }
        }

        int ellipsis = -1; // byte index where "::" sits
        int i = 0;         // bytes filled
        if (s.StartsWith("::"))
        {
            ellipsis = 0;
            s = s[2..];
            if (s.IsEmpty)
            {
                reason = null;
                return true; // "::"
            }
        }

        while (i < 16)
        {
            int off = 0, acc = 0;
            for (; off < s.Length; off++)
            {
                int h = HexDigitValue(s[off]);
                if (h < 0) break;
                if (off > 3)
                {
                    reason = "IPv6 field has more than 4 hex digits";
                    return false;
                }
                acc = (acc << 4) | h;
            }
            if (off == 0)
            {
                reason = "IPv6 field has no hex digits";
                return false;
            }

            if (off < s.Length && s[off] == '.')
            {
                // Embedded IPv4 (RFC 4291 §2.2 form 3) must be the last 32 bits.
                if (ellipsis < 0 && i != 12)
                {
                    reason = "embedded IPv4 address must replace the last 2 IPv6 fields";
                    return false;
                }
                if (i + 4 > 16)
                {
                    reason = "no room for an embedded IPv4 address";
                    return false;
                }
                if (!TryParseIPv4(s, ip.Slice(i, 4), out reason))
                    return false;
                s = default;
                i += 4;
                break;
            }

            ip[i] = (byte)(acc >> 8);
            ip[i + 1] = (byte)acc;
            i += 2;
            s = s[off..];
            if (s.IsEmpty) break;
            if (s[0] != ':')
            {
                reason = $"unexpected character {Describe(s[0])} in IPv6 address";
                return false;
            }
            if (s.Length == 1)
            {
                reason = "IPv6 address ends with a single ':'";
                return false;
            }
            s = s[1..];
            if (s[0] == ':')
            {
                if (ellipsis >= 0)
                {
                    reason = "IPv6 address has more than one \"::\"";
                    return false;
                }
                ellipsis = i;
                s = s[1..];
                if (s.IsEmpty) break;
            }
        }

        if (!s.IsEmpty)
        {
            reason = "IPv6 address is too long";
            return false;
        }
        if (i < 16)
        {
            if (ellipsis < 0)
            {
                reason = "IPv6 address is too short";
                return false;
            }
            int n = 16 - i;
            for (int j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j];
            ip.Slice(ellipsis, n).Clear();
        }
        else if (ellipsis >= 0)
        {
            reason = "\"::\" must stand for at least one zero field";
            return false;
        }
        reason = null;
        return true;
    }

    /// <summary>
    /// Splits "address/length" and parses both parts with the rules of <paramref name="syntax"/>. The address is not
    /// masked (<see cref="Mask"/>). Never throws.
    /// </summary>
    /// <param name="s">The text; not trimmed.</param>
    /// <param name="syntax">Which tool's prefix rules apply.</param>
    /// <param name="address16">Receives 4 (IPv4) or 16 (IPv6) bytes in network order; must hold 16.</param>
    /// <param name="addressLength">4 or 16 once the address parsed, else 0.</param>
    /// <param name="prefixLength">The prefix length: the full 32 or 128 for a bare address; also set, to the
    /// number read, when it is <see cref="PrefixTextError.LengthTooLarge"/>.</param>
    /// <param name="lengthText">The text after the '/' (empty without one).</param>
    /// <param name="addressReason">Why the address was rejected (<see cref="PrefixTextError.InvalidAddress"/>).</param>
    /// <returns><see cref="PrefixTextError.None"/> on success, otherwise the first part that failed.</returns>
    public static PrefixTextError ParsePrefix(ReadOnlySpan<char> s, PrefixSyntax syntax, Span<byte> address16,
        out int addressLength, out int prefixLength, out ReadOnlySpan<char> lengthText, out string? addressReason)
    {
        addressLength = 0;
        prefixLength = 0;
        lengthText = default;
        addressReason = null;
        int slash = (syntax & PrefixSyntax.SplitAtFirstSlash) != 0 ? s.IndexOf('/') : s.LastIndexOf('/');
        if (slash < 0 && (syntax & PrefixSyntax.LengthOptional) == 0) return PrefixTextError.MissingLength;
        ReadOnlySpan<char> addressText = slash < 0 ? s : s[..slash];
        if (!TryParseAddress(addressText, address16, out int length, out ReadOnlySpan<char> zone, out addressReason))
            return PrefixTextError.InvalidAddress;
        if (!zone.IsEmpty) return PrefixTextError.ZoneNotAllowed;
        addressLength = length;
        int max = length * 8;
        if (slash < 0)
        {
            prefixLength = max;
            return PrefixTextError.None;
        }
        lengthText = s[(slash + 1)..];
        ReadOnlySpan<char> digits = lengthText;
        bool negative = false;
        if ((syntax & PrefixSyntax.Signed) != 0 && digits.Length > 1 && digits[0] is '+' or '-')
        {
            negative = digits[0] == '-';
            digits = digits[1..];
        }
        if (((syntax & PrefixSyntax.AtMostThreeDigits) != 0 && lengthText.Length > 3)
            || !TryParseDecimal(digits, (syntax & PrefixSyntax.LeadingZeros) != 0, int.MaxValue, out long value)
            || (negative && value != 0))
        {
            return PrefixTextError.InvalidLength;
        }

        prefixLength = (int)value;
        return value > max ? PrefixTextError.LengthTooLarge : PrefixTextError.None;
    }

    /// <summary>
    /// Clears every bit after the first <paramref name="prefixLength"/> bits (network byte order), e.g.
    /// 192.95.5.93/27 becomes 192.95.5.64. <paramref name="prefixLength"/> is from 0 to 8 × the address length.
    /// </summary>
    public static void Mask(Span<byte> address, int prefixLength)
    {
        int fullBytes = prefixLength / 8;
        int remainingBits = prefixLength % 8;
        if (remainingBits != 0)
        {
            address[fullBytes] &= (byte)(0xFF << (8 - remainingBits));
            fullBytes++;
        }
        address[fullBytes..].Clear();
    }

    /// <summary>
    /// Decimal digits only (like Go's <c>strconv.ParseUint(s, 10, n)</c>: no sign, no spaces, no underscores);
    /// with <paramref name="allowLeadingZeros"/> false, "0" is the only number that may start with '0'.
    /// </summary>
    public static bool TryParseDecimal(ReadOnlySpan<char> s, bool allowLeadingZeros, long max, out long value)
    {
        value = 0;
        if (s.IsEmpty) return false;
        if (!allowLeadingZeros && s.Length > 1 && s[0] == '0') return false;
        foreach (char c in s)
        {
            if (c is < '0' or > '9') return false;
            value = value * 10 + (c - '0');
            if (value > max) return false;
        }
        return true;
    }

    /// <summary>
    /// Appends <paramref name="c"/> safe for a log line: quotes and backslashes escaped, tab/CR/LF as \t \r \n, other
    /// control and non-ASCII characters as \xNN / \uNNNN.
    /// </summary>
    public static void AppendEscaped(StringBuilder sb, char c)
    {
        switch (c)
        {
            case '"': sb.Append("\\\""); break;
            case '\\': sb.Append("\\\\"); break;
            case '\t': sb.Append("\\t"); break;
            case '\r': sb.Append("\\r"); break;
            case '\n': sb.Append("\\n"); break;
            default:
                if (c < 0x20 || c == 0x7f) sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                else if (c > 0x7e) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                else sb.Append(c);
                break;
        }
    }

    private static string Describe(char c)
    {
        var sb = new StringBuilder(8).Append('\'');
        AppendEscaped(sb, c);
        return sb.Append('\'').ToString();
    }

    private static int HexDigitValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
