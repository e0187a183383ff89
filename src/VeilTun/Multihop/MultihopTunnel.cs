using System.Net;
using VeilTun.Device;
using VeilTun.Tun;
using VeilTun.Udp;

namespace VeilTun.Multihop;

/// <summary>
/// Two WireGuard devices chained in one process (GotaTun's multihop): the <see cref="Exit"/> device runs on
/// the real TUN and talks to the exit relay; its datagrams never touch the kernel but ride, wrapped in IP/UDP,
/// inside the <see cref="Entry"/> device's tunnel to the entry relay, which owns the only UDP socket. Configure each
/// hop independently (object model, config text or UAPI); timers, rekeys, roaming and DAITA run per hop.
/// Thread-safe.
/// </summary>
public sealed class MultihopTunnel : IDisposable
{
    private MultihopTunnel(HopLink link, Tunnel exit, Tunnel entry)
    {
        Link = link;
        Exit = exit;
        Entry = entry;
    }

    /// <summary>The exit hop, on the user's TUN.</summary>
    public Tunnel Exit { get; }

    /// <summary>The entry hop, on the in-process link; owns the UDP socket.</summary>
    public Tunnel Entry { get; }

    /// <summary>The in-process link between the hops (drop counters, reassembly).</summary>
    internal HopLink Link { get; }

    /// <summary>
    /// Builds both devices. <paramref name="exit"/> describes the exit device (its TUN: Linux, host fd or in-memory);
    /// its <see cref="TunnelOptions.BindUdp"/> must be null (the link provides the transport).
    /// <paramref name="entry"/> configures the entry device's sockets (BindUdp, ProtectSocket, clocks, log); its
    /// <see cref="TunnelOptions.Tun"/> is ignored. Throws <see cref="ArgumentException"/> when the entry MTU cannot
    /// carry the exit hop.
    /// </summary>
    public static MultihopTunnel Create(TunnelOptions exit, MultihopOptions options, TunnelOptions? entry = null)
    {
        ArgumentNullException.ThrowIfNull(exit);
        ArgumentNullException.ThrowIfNull(options);
        if (exit.BindUdp is not null) throw new ArgumentException("the exit device's transport is the multihop link", nameof(exit));
        bool ipv6Outer = options.EntryAddresses.Any(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6);
        if (!MultihopMtu.TryValidate(options.EntryMtu, ipv6Outer, out int exitMtu, out var error))
            throw new ArgumentException(error, nameof(options));
        if (exit.Tun.Mtu > exitMtu)
        {
            Log.ExitMtuTooLarge(TunnelLogger.Create(exit.LoggerFactory, Log.Category, exit.Tun.Name),
                exit.Tun.Mtu, exit.Tun.Name, exitMtu, options.EntryMtu);
        }

        var link = new HopLink(options.EntryName, options.EntryAddresses, options.EntryMtu, options.QueueCapacity);
        var exitTunnel = new Tunnel(new TunnelOptions
        {
            Tun = exit.Tun,
            BindUdp = link.CreateExitTransport,
            MonotonicClock = exit.MonotonicClock,
            WallClock = exit.WallClock,
            Random = exit.Random,
            LoggerFactory = exit.LoggerFactory,
            StartUp = exit.StartUp,
            CryptoWorkers = exit.CryptoWorkers,
            MaxBuffers = exit.MaxBuffers,
            MaxSmallBuffers = exit.MaxSmallBuffers,
            AeadBackend = exit.AeadBackend,
        });
        var e = entry ?? new TunnelOptions { Tun = link.EntryTun };
        var entryTunnel = new Tunnel(new TunnelOptions
        {
            Tun = link.EntryTun,
            BindUdp = e.BindUdp,
            ProtectSocket = e.ProtectSocket,
            MonotonicClock = e.MonotonicClock ?? exit.MonotonicClock,
            WallClock = e.WallClock ?? exit.WallClock,
            Random = e.Random ?? exit.Random,
            LoggerFactory = e.LoggerFactory ?? exit.LoggerFactory,
            StartUp = true,
            CryptoWorkers = e.CryptoWorkers,
            MaxBuffers = e.MaxBuffers,
            MaxSmallBuffers = e.MaxSmallBuffers,
            AeadBackend = exit.AeadBackend,
        });
        exitTunnel.ExtraStats = () =>
        [
            new("veiltun_multihop_dropped", link.Dropped.ToString()),
            new("veiltun_multihop_invalid", link.Invalid.ToString()),
            new("veiltun_multihop_not_for_us", link.NotForUs.ToString()),
            new("veiltun_multihop_reassembled", link.Reassembler.Reassembled.ToString()),
        ];
        return new MultihopTunnel(link, exitTunnel, entryTunnel);
    }

    /// <summary>Starts both devices (entry first, so the exit's first handshake finds its way out).</summary>
    public void Start()
    {
        Entry.Start();
        Exit.Start();
    }

    /// <summary>Stops both devices and the link; every buffer goes back to its pool.</summary>
    public void Dispose()
    {
        Exit.Dispose();
        Entry.Dispose();
        Link.Dispose();
    }
}

/// <summary>Settings of a <see cref="MultihopTunnel"/>.</summary>
public sealed class MultihopOptions
{
    /// <summary>The entry device's name (its UAPI socket is ENTRYNAME.sock).</summary>
    public required string EntryName { get; init; }

    /// <summary>The client's addresses inside the entry tunnel (one IPv4 and/or one IPv6).</summary>
    public required IReadOnlyList<IPAddress> EntryAddresses { get; init; }

    /// <summary>The entry device's MTU (the size of the wrapped exit datagrams it carries unfragmented).</summary>
    public int EntryMtu { get; init; } = 1420;

    /// <summary>Bound of each in-process queue between the hops.</summary>
    public int QueueCapacity { get; init; } = 1024;
}
