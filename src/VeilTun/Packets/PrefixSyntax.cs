namespace VeilTun.Packets;

/// <summary>
/// How <see cref="IpAddressText.ParsePrefix"/> reads "address/length". With no flag it is Go's
/// <c>netip.ParsePrefix</c> as wireguard-go's UAPI uses it: the '/' and a length are required, the text splits at the
/// last '/', and the length is decimal digits without sign or leading zeros. The address is always read by
/// <see cref="IpAddressText.TryParseAddress"/>, and a zone is never allowed in a prefix.
/// </summary>
[Flags]
internal enum PrefixSyntax
{
    /// <summary>Nothing optional: an address, a '/', then decimal digits without leading zeros.</summary>
    Strict = 0,

    /// <summary>A bare address is a host prefix: /32 or /128 (wg(8) <c>allowed-ips</c>).</summary>
    LengthOptional = 1,

    /// <summary>The length may have leading zeros: "/032" is /32 (C <c>strtoul</c>).</summary>
    LeadingZeros = 2,

    /// <summary>The text splits at the first '/' (C <c>strchr</c>), so "a/8/8" has the length "8/8".</summary>
    SplitAtFirstSlash = 4,

    /// <summary>A length of more than three characters is not a length at all (rather than too large).</summary>
    AtMostThreeDigits = 8,

    /// <summary>The length may start with one '+' or '-' (Go's <c>strconv.Atoi</c>): "+24" is 24, "-0" is 0.</summary>
    Signed = 16,

    /// <summary>
    /// Go's <c>netip.ParsePrefix</c> as Debian 12's wireguard-go is built (Go 1.19), for the UAPI socket's
    /// <c>allowed_ip=</c>: the length is read with <c>strconv.Atoi</c>, so "/032" is /32 and "/+24" is /24 (later Go
    /// versions reject both).
    /// </summary>
    Go = LeadingZeros | Signed,

    /// <summary>wg(8)'s config file <c>AllowedIPs</c> entries (config.c parse_allowedips).</summary>
    WgConfig = LengthOptional | LeadingZeros | SplitAtFirstSlash,

    /// <summary><see cref="Routing.IpPrefix.TryParse"/>: wg(8)'s syntax, with at most three length digits.</summary>
    IpPrefix = WgConfig | AtMostThreeDigits,
}
