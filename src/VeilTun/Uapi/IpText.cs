using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Text;
using VeilTun.Udp;

namespace VeilTun.Uapi;

/// <summary>
/// Strict numeric IP address, prefix and endpoint text, with the rules of Go's <c>net/netip</c> (what wireguard-go
/// accepts on the UAPI socket) and the output formats of Go (<c>get</c>) and glibc <c>inet_ntop</c> (wg(8)
/// <c>showconf</c>). Kept private to the UAPI code on purpose: <see cref="IPAddress.TryParse(string, out IPAddress)"/>
/// accepts forms such as "1", "0x7f.1" or "010.0.0.1" that WireGuard rejects.
/// Stateless and thread-safe.
/// </summary>
internal static class IpText
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
    /// Parses "address/length" like Go's <c>netip.ParsePrefix</c> (no zone; length in decimal without sign or leading
    /// zeros) and clears the host bits.
    /// </summary>
    public static bool TryParsePrefix(ReadOnlySpan<char> s, out IPAddress? address, out int prefixLength, out string? reason)
    {
        address = null;
        prefixLength = 0;
        int slash = s.LastIndexOf('/');
        if (slash < 0)
        {
            reason = "missing \"/\" and prefix length";
            return false;
        }
        Span<byte> bytes = stackalloc byte[16];
        if (!TryParseAddress(s[..slash], bytes, out int length, out var zone, out reason))
        {
            reason = "not an IP address: " + reason;
            return false;
        }
        if (!zone.IsEmpty)
        {
            reason = "an IPv6 zone is not allowed in a prefix";
            return false;
        }
        var bits = s[(slash + 1)..];
        if (!TryParseDecimal(bits, allowLeadingZeros: false, int.MaxValue, out long value))
        {
            reason = $"prefix length \"{Escape(bits)}\" is not a decimal number";
            return false;
        }
        int max = length * 8;
        if (value > max)
        {
            reason = $"prefix length exceeds {max}";
            return false;
        }
        prefixLength = (int)value;
        Mask(bytes[..length], prefixLength);
        address = new IPAddress(bytes[..length]);
        reason = null;
        return true;
    }

    /// <summary>Clears every bit after the first <paramref name="prefixLength"/> bits.</summary>
    public static void Mask(Span<byte> address, int prefixLength)
    {
        for (int i = 0; i < address.Length; i++)
        {
            int keep = Math.Clamp(prefixLength - 8 * i, 0, 8);
            address[i] &= (byte)(0xff00 >> keep);
        }
    }

    /// <summary>
    /// Parses a numeric endpoint like Go's <c>netip.ParseAddrPort</c>: "a.b.c.d:port" or "[v6%zone]:port";
    /// brackets are required for IPv6 and refused for IPv4. A named zone is mapped to its interface index.
    /// </summary>
    public static bool TryParseEndpoint(ReadOnlySpan<char> s, out NetEndpoint endpoint, out string? reason)
    {
        endpoint = default;
        int colon = s.LastIndexOf(':');
        if (colon < 0)
        {
            reason = "missing \":port\"";
            return false;
        }
        var host = s[..colon];
        var port = s[(colon + 1)..];
        if (port.IsEmpty)
        {
            reason = "missing port after ':'";
            return false;
        }
        if (host.IsEmpty)
        {
            reason = "missing address before ':'";
            return false;
        }
        bool bracketed = host[0] == '[';
        if (bracketed)
        {
            if (host.Length < 2 || host[^1] != ']')
            {
                reason = "missing ']' after the IPv6 address";
                return false;
            }
            host = host[1..^1];
        }
        if (!TryParseDecimal(port, allowLeadingZeros: true, ushort.MaxValue, out long portValue))
        {
            reason = $"port \"{Escape(port)}\" is not a number from 0 to 65535";
            return false;
        }
        Span<byte> bytes = stackalloc byte[16];
        if (!TryParseAddress(host, bytes, out int length, out var zone, out reason))
        {
            reason = "not a numeric IP address (host names are resolved by wg(8), not by the daemon): " + reason;
            return false;
        }
        if (bracketed && length == 4)
        {
            reason = "square brackets are only for IPv6 addresses";
            return false;
        }
        if (!bracketed && length == 16)
        {
            reason = "an IPv6 address must be in square brackets";
            return false;
        }
        return TryMakeEndpoint(bytes[..length], zone, (ushort)portValue, out endpoint, out reason);
    }

    /// <summary>Builds an endpoint from parsed parts, resolving a zone to a scope id.</summary>
    public static bool TryMakeEndpoint(ReadOnlySpan<byte> address, ReadOnlySpan<char> zone, ushort port,
        out NetEndpoint endpoint, out string? reason)
    {
        endpoint = default;
        uint scope = 0;
        if (!zone.IsEmpty && !TryResolveZone(zone, out scope))
        {
            reason = $"unknown IPv6 zone \"{Escape(zone)}\" (not a number or an interface name)";
            return false;
        }
        endpoint = NetEndpoint.FromAddress(address, port, scope);
        reason = null;
        return true;
    }

    private static bool TryResolveZone(ReadOnlySpan<char> zone, out uint scope)
    {
        if (TryParseDecimal(zone, allowLeadingZeros: true, uint.MaxValue, out long value))
        {
            scope = (uint)value;
            return true;
        }
        scope = 0;
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (zone.SequenceEqual(nic.Name) && nic.Supports(NetworkInterfaceComponent.IPv6))
                {
                    scope = (uint)nic.GetIPProperties().GetIPv6Properties().Index;
                    return true;
                }
            }
        }
        catch (NetworkInformationException)
        {
        }
        return false;
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
    /// Formats an address. Go style (<paramref name="glibcStyle"/> false): RFC 5952 §4, with dotted IPv4 only for
    /// v4-mapped addresses. glibc <c>inet_ntop</c> style additionally prints IPv4-compatible addresses (first 96
    /// bits zero, other than "::" and "::1") with a dotted tail.
    /// </summary>
    public static void AppendAddress(StringBuilder sb, ReadOnlySpan<byte> address, bool glibcStyle)
    {
        if (address.Length == 4)
        {
            AppendIPv4(sb, address);
            return;
        }

        // Longest run of at least two zero 16-bit fields; the first one wins a tie (RFC 5952 §4.2.3).
        Span<int> words = stackalloc int[8];
        for (int i = 0; i < 8; i++) words[i] = (address[2 * i] << 8) | address[2 * i + 1];
        int bestStart = -1, bestLen = 0;
        for (int i = 0; i < 8;)
        {
            if (words[i] != 0)
            {
                i++;
                continue;
            }
            int j = i;
            while (j < 8 && words[j] == 0) j++;
            if (j - i > bestLen && j - i >= 2)
            {
                bestStart = i;
                bestLen = j - i;
            }
            i = j;
        }

        bool mapped = bestStart == 0 && bestLen == 5 && words[5] == 0xffff;
        bool compatible = glibcStyle && bestStart == 0 && bestLen == 6 && words[6] != 0;
        if (mapped || compatible)
        {
            sb.Append(mapped ? "::ffff:" : "::");
            AppendIPv4(sb, address[12..]);
            return;
        }

        for (int i = 0; i < 8; i++)
        {
            if (i == bestStart)
            {
                sb.Append("::");
                i += bestLen - 1;
                continue;
            }
            if (i > 0 && i != bestStart + bestLen) sb.Append(':');
            sb.Append(words[i].ToString("x", CultureInfo.InvariantCulture));
        }
    }

    private static void AppendIPv4(StringBuilder sb, ReadOnlySpan<byte> a) =>
        sb.Append(CultureInfo.InvariantCulture, $"{a[0]}.{a[1]}.{a[2]}.{a[3]}");

    /// <summary>Appends "address/length" with the host bits cleared.</summary>
    public static void AppendPrefix(StringBuilder sb, IPAddress address, int prefixLength, bool glibcStyle)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out int length))
            throw new ArgumentException("unsupported address", nameof(address));
        if (prefixLength < 0 || prefixLength > length * 8)
            throw new ArgumentOutOfRangeException(nameof(prefixLength), prefixLength, $"prefix length of {address}");
        Mask(bytes[..length], prefixLength);
        AppendAddress(sb, bytes[..length], glibcStyle);
        sb.Append('/').Append(prefixLength.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Appends "a.b.c.d:port" or "[v6]:port". A scope id is printed as "%name" for link-local addresses when the
    /// interface exists (as glibc <c>getnameinfo</c> does), otherwise as "%number".
    /// </summary>
    public static void AppendEndpoint(StringBuilder sb, NetEndpoint endpoint, bool glibcStyle)
    {
        Span<byte> bytes = stackalloc byte[16];
        int length = endpoint.WriteAddress(bytes);
        if (length == 4)
        {
            AppendIPv4(sb, bytes[..4]);
        }
        else
        {
            sb.Append('[');
            AppendAddress(sb, bytes[..16], glibcStyle);
            if (endpoint.ScopeId != 0) sb.Append('%').Append(ZoneName(endpoint.ScopeId, bytes[..16]));
            sb.Append(']');
        }
        sb.Append(':').Append(endpoint.Port.ToString(CultureInfo.InvariantCulture));
    }

    private static string ZoneName(uint scopeId, ReadOnlySpan<byte> address)
    {
        bool linkLocal = (address[0] == 0xfe && (address[1] & 0xc0) == 0x80) || (address[0] == 0xff && (address[1] & 0x0f) == 0x2);
        if (linkLocal)
        {
            try
            {
                foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
                {
                    if (nic.Supports(NetworkInterfaceComponent.IPv6) && nic.GetIPProperties().GetIPv6Properties().Index == scopeId)
                        return nic.Name;
                }
            }
            catch (NetworkInformationException)
            {
            }
        }
        return scopeId.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Makes untrusted text safe for a log line: control and non-ASCII characters become \xNN / \uNNNN, quotes and
    /// backslashes are escaped, and anything past 100 characters is cut (the length is given instead).
    /// </summary>
    public static string Escape(ReadOnlySpan<char> s)
    {
        const int Limit = 100;
        var sb = new StringBuilder(Math.Min(s.Length, Limit) + 16);
        var shown = s.Length > Limit ? s[..Limit] : s;
        foreach (char c in shown)
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
        if (s.Length > Limit) sb.Append(CultureInfo.InvariantCulture, $"...({s.Length} characters)");
        return sb.ToString();
    }

    private static string Describe(char c) => $"'{Escape([c])}'";

    private static int HexDigitValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
