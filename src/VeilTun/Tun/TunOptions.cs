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
}
