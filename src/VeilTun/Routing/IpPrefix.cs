using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace VeilTun.Routing;

/// <summary>
/// An IP prefix ("CIDR"): an address and a prefix length (0..32 for IPv4, 0..128 for IPv6), as used by WireGuard's
/// allowed IPs. The constructor does not validate or mask; use <see cref="TryParse"/> for text input and
/// <see cref="Masked"/> to zero the host bits. Immutable; safe to share between threads.
/// </summary>
/// <param name="Address">The IPv4 or IPv6 address. Any IPv6 scope id is ignored by <see cref="Masked"/>.</param>
/// <param name="PrefixLength">Number of leading network bits.</param>
public readonly record struct IpPrefix(IPAddress Address, int PrefixLength)
{
    /// <summary>32 for an IPv4 <see cref="Address"/>, 128 for IPv6.</summary>
    public int MaxPrefixLength => Address?.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;

    /// <summary>
    /// Parses "a.b.c.d/n", "x:y::z/n", or a bare address (which means /32 or /128, as in wg(8)'s allowed-ips).
    /// IPv4 must be strict dotted-quad decimal (no octal, hex, short forms or leading zeros, like inet_pton and Go's
    /// netip); IPv6 must be plain RFC 4291 text (no zone, no brackets). Surrounding whitespace is ignored. The result
    /// is not masked. Never throws.
    /// </summary>
    /// <param name="s">The text.</param>
    /// <param name="prefix">The parsed prefix, or default on failure.</param>
    /// <param name="error">Null on success, otherwise a human-readable reason, e.g. "prefix length 33 exceeds 32".</param>
    public static bool TryParse(ReadOnlySpan<char> s, out IpPrefix prefix, out string? error)
    {
        prefix = default;
        ReadOnlySpan<char> text = s.Trim();
        int slash = text.IndexOf('/');
        ReadOnlySpan<char> addressText = slash < 0 ? text : text[..slash];

        IPAddress? address;
        if (addressText.Contains(':'))
        {
            address = TryParseIPv6(addressText);
        }
        else
        {
            Span<byte> bytes = stackalloc byte[4];
            address = TryParseIPv4(addressText, bytes) ? new IPAddress(bytes) : null;
        }

        if (address is null)
        {
            error = $"'{text.ToString()}' is not an address";
            return false;
        }

        int max = address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;
        int length = max;
        if (slash >= 0)
        {
            ReadOnlySpan<char> lengthText = text[(slash + 1)..];
            // Digits only (no sign, no spaces); at most 3 of them, so the value cannot overflow.
            if (lengthText.Length is 0 or > 3
                || !int.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out length))
            {
                error = $"'{lengthText.ToString()}' is not a prefix length";
                return false;
            }

            if (length > max)
            {
                error = $"prefix length {length} exceeds {max}";
                return false;
            }
        }

        prefix = new IpPrefix(address, length);
        error = null;
        return true;
    }

    /// <summary>Parses like <see cref="TryParse"/> and throws <see cref="FormatException"/> on failure.</summary>
    public static IpPrefix Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return TryParse(s, out IpPrefix prefix, out string? error) ? prefix : throw new FormatException(error);
    }

    /// <summary>
    /// Returns this prefix with all host bits (those after <see cref="PrefixLength"/>) cleared and any IPv6 scope id
    /// dropped, e.g. 192.95.5.93/27 becomes 192.95.5.64/27. Allocates a new <see cref="IPAddress"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The address is null or the prefix length is out of range.</exception>
    public IpPrefix Masked()
    {
        if (Address is null || PrefixLength < 0 || PrefixLength > MaxPrefixLength)
        {
            throw new InvalidOperationException($"'{this}' is not a valid prefix.");
        }

        byte[] bytes = Address.GetAddressBytes();
        MaskInPlace(bytes, PrefixLength);
        return new IpPrefix(new IPAddress(bytes), PrefixLength);
    }

    /// <summary>"address/length", e.g. "10.0.0.0/24" or "2001:db8::/32" (lower-case, RFC 5952 compressed).</summary>
    public override string ToString() => $"{Address}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Clears every bit after the first <paramref name="prefixLength"/> bits (network byte order).</summary>
    internal static void MaskInPlace(Span<byte> bytes, int prefixLength)
    {
        int fullBytes = prefixLength / 8;
        int remainingBits = prefixLength % 8;
        if (remainingBits != 0)
        {
            bytes[fullBytes] &= (byte)(0xFF << (8 - remainingBits));
            fullBytes++;
        }

        bytes[fullBytes..].Clear();
    }

    // Strict dotted-quad: exactly four decimal fields 0..255, no leading zeros (glibc inet_pton(AF_INET) and Go's
    // netip.ParseAddr both reject "010.0.0.1"; IPAddress.TryParse would read it as octal 8.0.0.1).
    private static bool TryParseIPv4(ReadOnlySpan<char> text, Span<byte> bytes)
    {
        int field = 0;
        int value = 0;
        int digits = 0;
        foreach (char c in text)
        {
            if (c == '.')
            {
                if (digits == 0 || field == 3)
                {
                    return false;
                }

                bytes[field++] = (byte)value;
                value = 0;
                digits = 0;
            }
            else if (c is >= '0' and <= '9')
            {
                if (digits > 0 && value == 0)
                {
                    return false; // leading zero
                }

                value = (value * 10) + (c - '0');
                digits++;
                if (value > 255)
                {
                    return false;
                }
            }
            else
            {
                return false;
            }
        }

        if (digits == 0 || field != 3)
        {
            return false;
        }

        bytes[3] = (byte)value;
        return true;
    }

    private static IPAddress? TryParseIPv6(ReadOnlySpan<char> text)
    {
        // IPAddress.TryParse also accepts zones ("%eth0"), brackets and ports ("[::1]:80"); allow only the RFC 4291
        // alphabet (hex digits, ':' and '.' for an embedded IPv4 tail).
        foreach (char c in text)
        {
            if (!char.IsAsciiHexDigit(c) && c is not ':' and not '.')
            {
                return null;
            }
        }

        return IPAddress.TryParse(text, out IPAddress? address) && address.AddressFamily == AddressFamily.InterNetworkV6
            ? address
            : null;
    }
}
