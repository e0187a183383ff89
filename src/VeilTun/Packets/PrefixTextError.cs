namespace VeilTun.Packets;

/// <summary>What <see cref="IpAddressText.ParsePrefix"/> found wrong, in the order it checks.</summary>
internal enum PrefixTextError
{
    /// <summary>Parsed.</summary>
    None,

    /// <summary>No '/' where the syntax requires a length.</summary>
    MissingLength,

    /// <summary>The address is not an IPv4 or IPv6 address (the parser says why).</summary>
    InvalidAddress,

    /// <summary>An IPv6 address with a zone ("%eth0"), which a prefix may not have.</summary>
    ZoneNotAllowed,

    /// <summary>The length is not a decimal number in the syntax's rules.</summary>
    InvalidLength,

    /// <summary>The length is a number above 32 (IPv4) or 128 (IPv6).</summary>
    LengthTooLarge,
}
