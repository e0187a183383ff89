namespace VeilTun.Udp;

/// <summary>
/// The local side of a datagram: the address it was sent to (from IP_PKTINFO / IPV6_PKTINFO; port always 0)
/// and the interface it arrived on. Cached per peer as the sticky source for replies
/// (kernel src/socket.c send4/send6, wireguard-go conn/sticky_linux.go). The default value means "unknown /
/// let the kernel choose".
/// </summary>
/// <param name="LocalAddress">Local address, port 0; none when unknown.</param>
/// <param name="InterfaceIndex">Receiving interface index; 0 when unknown.</param>
public readonly record struct PacketInfo(NetEndpoint LocalAddress, int InterfaceIndex)
{
    /// <summary>True when no source is pinned (the kernel picks address and interface).</summary>
    public bool IsNone => LocalAddress.IsNone;
}
