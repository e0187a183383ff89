using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Text;
using VeilTun.Packets;
using VeilTun.Udp;

namespace VeilTun.Uapi;

/// <summary>
/// The UAPI's address text: prefixes and endpoints with the rules of Go's <c>net/netip</c> (what wireguard-go accepts
/// on the UAPI socket; the parsing itself is <see cref="IpAddressText"/>'s), zones resolved to interfaces, and the
/// output formats of Go (<c>get</c>) and glibc <c>inet_ntop</c> (wg(8) <c>showconf</c>). Stateless and thread-safe.
/// </summary>
internal static class IpText
{
    /// <summary>
    /// Parses "address/length" like Go's <c>netip.ParsePrefix</c> (no zone; length in decimal without sign or leading
    /// zeros) and clears the host bits.
    /// </summary>
    public static bool TryParsePrefix(ReadOnlySpan<char> s, out IPAddress? address, out int prefixLength, out string? reason)
    {
        address = null;
        Span<byte> bytes = stackalloc byte[16];
        var error = IpAddressText.ParsePrefix(s, PrefixSyntax.Go, bytes, out int length, out prefixLength,
            out var bits, out string? addressReason);
        reason = error switch
        {
            PrefixTextError.None => null,
            PrefixTextError.MissingLength => "missing \"/\" and prefix length",
            PrefixTextError.InvalidAddress => "not an IP address: " + addressReason,
            PrefixTextError.ZoneNotAllowed => "an IPv6 zone is not allowed in a prefix",
            PrefixTextError.InvalidLength => $"prefix length \"{Escape(bits)}\" is not a decimal number",
            _ => $"prefix length exceeds {length * 8}",
        };
        if (reason is not null)
        {
            prefixLength = 0;
            return false;
        }
        IpAddressText.Mask(bytes[..length], prefixLength);
        address = new IPAddress(bytes[..length]);
        return true;
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
        if (!IpAddressText.TryParseAddress(host, bytes, out int length, out var zone, out reason))
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

    // As wireguard-go's endpoint parsing (conn: zoneToUint32): an interface name becomes its index and an unknown
    // name is an error; a number is taken as an index, and one that names no interface is dropped (scope 0), as
    // wireguard-go's endpoints show it.
    private static bool TryResolveZone(ReadOnlySpan<char> zone, out uint scope)
    {
        if (TryParseDecimal(zone, allowLeadingZeros: true, uint.MaxValue, out long value))
        {
            scope = Interop.Interfaces.Exists((uint)value) ? (uint)value : 0;
            return true;
        }
        scope = Interop.Interfaces.IndexOf(zone.ToString());
        return scope != 0;
    }

    /// <summary>
    /// Decimal digits only (like Go's <c>strconv.ParseUint(s, 10, n)</c>: no sign, no spaces, no underscores);
    /// with <paramref name="allowLeadingZeros"/> false, "0" is the only number that may start with '0'.
    /// </summary>
    public static bool TryParseDecimal(ReadOnlySpan<char> s, bool allowLeadingZeros, long max, out long value) =>
        IpAddressText.TryParseDecimal(s, allowLeadingZeros, max, out value);

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
        IpAddressText.Mask(bytes[..length], prefixLength);
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
        foreach (char c in shown) IpAddressText.AppendEscaped(sb, c);
        if (s.Length > Limit) sb.Append(CultureInfo.InvariantCulture, $"...({s.Length} characters)");
        return sb.ToString();
    }
}
