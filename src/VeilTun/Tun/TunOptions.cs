namespace VeilTun.Tun;

/// <summary>Options for <see cref="LinuxTun.Create(string, int, TunOptions)"/>.</summary>
public sealed record TunOptions
{
    /// <summary>The defaults: a plain IFF_TUN | IFF_NO_PI device.</summary>
    public static TunOptions Default { get; } = new();

    /// <summary>
    /// Open the device with IFF_VNET_HDR, so every packet on the descriptor carries a virtio_net_hdr. Offloads
    /// (TUNSETOFFLOAD) are left off, so the header is always "no GSO, no checksum offload" and
    /// <see cref="LinuxTun"/> adds/strips it transparently. This is the hook for TSO/GRO batching later.
    /// </summary>
    public bool VnetHeader { get; init; }

    /// <summary>
    /// Open with IFF_VNET_HDR and turn on the kernel's offloads (TUNSETOFFLOAD CSUM|TSO4|TSO6, plus USO4|USO6 where
    /// the kernel has them, ≥ 6.2), as wireguard-go does since 2023: reads then return TSO/USO super-packets of up
    /// to 64 KiB and writes may carry coalesced ones. The batch <see cref="LinuxTun.Read(List{VeilTun.Buffers.PacketBuffer}, int, VeilTun.Buffers.BufferPools)"/> splits them;
    /// the single-packet <see cref="LinuxTun.Read(Span{byte})"/> drops packets that need offload work. If the kernel refuses, the device falls back to plain packets
    /// (<see cref="LinuxTun.OffloadsEnabled"/> false).
    /// </summary>
    public bool Offloads { get; init; }

    /// <summary>
    /// With <see cref="Offloads"/>, also coalesce IPv6 UDP into USO super-packets on writes (default off: Linux 6.18
    /// delivered a few datagrams of a flow out of order after such writes; docs/status.md). IPv4 UDP is coalesced
    /// whenever the kernel accepts USO.
    /// </summary>
    public bool CoalesceUdp6 { get; init; }
}
