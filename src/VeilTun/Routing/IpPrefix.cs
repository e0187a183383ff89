using System.Globalization;
using System.Net;
using System.Net.Sockets;
using VeilTun.Packets;

namespace VeilTun.Routing;

/// <summary>
/// An IP prefix ("CIDR"): an address and a prefix length (0..32 for IPv4, 0..128 for IPv6), as used by WireGuard's
/// allowed IPs. The constructor does not validate or mask; use <see cref="TryParse"/> for text input and
/// <see cref="Masked"/> to zero the host bits. Immutable; safe to share between threads.
/// </summary>
/// <param name="Address">The IPv4 or IPv6 address. Any IPv6 scope id is ignored by <see cref="Masked"/>.</param>
/// <param name="PrefixLength">Number of leading network bits.</param>
internal readonly record struct IpPrefix(IPAddress Address, int PrefixLength)
{
    /// <summary>32 for an IPv4 <see cref="Address"/>, 128 for IPv6.</summary>
    public int MaxPrefixLength => Address?.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32;

    /// <summary>
    /// Parses "a.b.c.d/n", "x:y::z/n", or a bare address (which means /32 or /128, as in wg(8)'s allowed-ips).
    /// Addresses are read as Go's <c>netip.ParseAddr</c> reads them (<see cref="IpAddressText.TryParseAddress"/>):
    /// IPv4 strict dotted-quad decimal (no octal, hex, short forms or leading zeros, like inet_pton), IPv6 RFC 4291
    /// text without zone or brackets. The length is at most three decimal digits. Surrounding whitespace is ignored.
    /// The result is not masked. Never throws.
    /// </summary>
    /// <param name="s">The text.</param>
    /// <param name="prefix">The parsed prefix, or default on failure.</param>
    /// <param name="error">Null on success, otherwise a human-readable reason, e.g. "prefix length 33 exceeds 32".</param>
    public static bool TryParse(ReadOnlySpan<char> s, out IpPrefix prefix, out string? error)
    {
        prefix = default;
        ReadOnlySpan<char> text = s.Trim();
        Span<byte> bytes = stackalloc byte[16];
        error = IpAddressText.ParsePrefix(text, PrefixSyntax.IpPrefix, bytes, out int length, out int prefixLength,
                out ReadOnlySpan<char> lengthText, out _) switch
        {
            PrefixTextError.None => null,
            PrefixTextError.InvalidLength => $"'{lengthText.ToString()}' is not a prefix length",
            PrefixTextError.LengthTooLarge => $"prefix length {prefixLength} exceeds {length * 8}",
            _ => $"'{text.ToString()}' is not an address",
        };
        if (error is not null) return false;
        prefix = new IpPrefix(new IPAddress(bytes[..length]), prefixLength);
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
        IpAddressText.Mask(bytes, PrefixLength);
        return new IpPrefix(new IPAddress(bytes), PrefixLength);
    }

    /// <summary>"address/length", e.g. "10.0.0.0/24" or "2001:db8::/32" (lower-case, RFC 5952 compressed).</summary>
    public override string ToString() => $"{Address}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";
}
