namespace VeilTun.Udp;

/// <summary>Outcome of <see cref="IUdpTransport.Send"/>. Sending never throws for network conditions.</summary>
public enum SendResult
{
    /// <summary>Handed to the kernel.</summary>
    Ok,

    /// <summary>
    /// A source was pinned and routing failed: the address is no longer local (the kernel reports EINVAL for
    /// IPv6 and ENETUNREACH for IPv4), its interface is gone (ENODEV), no route leads out of that interface
    /// (ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL), or its family differs from the destination's. Nothing was sent.
    /// The caller must clear its cached <see cref="PacketInfo"/> and send again without it (kernel WireGuard and
    /// wireguard-go clear the source and route again); that retry reports the real reachability.
    /// </summary>
    SourceInvalid,

    /// <summary>No route / network down / host unreachable / rejected by policy (ENETUNREACH, EHOSTUNREACH,
    /// ENETDOWN, EHOSTDOWN, EADDRNOTAVAIL, EPERM, EACCES), or an IPv6 destination on an IPv4-only socket.</summary>
    Unreachable,

    /// <summary>Any other failure (buffer exhaustion, oversized datagram, socket closed); the datagram is dropped.</summary>
    Error,
}
