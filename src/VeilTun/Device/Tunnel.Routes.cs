using VeilTun.Noise;
using VeilTun.Udp;

namespace VeilTun.Device;

// Sticky sources that follow route changes (kernel selftest netns.sh: "a new, better route is picked up and learned
// as the new source"). A peer's cached source pins the interface its replies leave by (IP_PKTINFO ifindex), so a
// better route that appears later would never be used: the kernel re-routes each send and drops the cached source
// when the route's interface differs (src/socket.c send4), wireguard-go re-asks RTM_GETROUTE for every peer when a
// route changes (device/sticky_linux.go). So do we, in the namespace of the UDP socket, on the route watcher's
// thread: the engine lock is held only to copy and to clear.
public sealed partial class Tunnel
{
    private RouteWatcher? _routes;

    /// <summary>
    /// Starts the route watcher for Linux UDP sockets (not for a host's own transport), on the first bind, in the
    /// calling thread's namespace (the socket's). Under the tunnel lock.
    /// </summary>
    private void StartRouteWatcher()
    {
        if (_options.BindUdp is not null || !OperatingSystem.IsLinux() || _disposed != 0) return;
        RouteWatcher? watcher = null;
        watcher = RouteWatcher.TryOpen(() =>
        {
            try
            {
                if (watcher is { } w && _disposed == 0) RecheckSources(w);
            }
            catch (Exception ex)
            {
                Log.StickySourceCheckFailed(_log, ex);
            }
        });
        _routes = watcher;
        if (_routes is null) Log.NoRouteWatcher(_log);
    }

    private void StopRouteWatcher()
    {
        RouteWatcher? routes;
        lock (_sync) routes = _routes;
        routes?.Dispose(); // joins its thread, whose callback takes the lock: not held here
    }

    /// <summary>
    /// Asks <paramref name="routes"/> where each peer's datagrams would leave now and forgets every cached source
    /// whose interface is not that one any more (or whose address is no longer usable: EINVAL). Returns how many
    /// were forgotten.
    /// </summary>
    internal int RecheckSources(IRouteOracle routes)
    {
        List<(Peer Peer, NetEndpoint Endpoint, PacketInfo Source)> pinned = new();
        uint mark;
        lock (_sync)
        {
            if (!_engine.IsUp) return 0;
            mark = _fwmark;
            foreach (var peer in _engine.Peers)
            {
                var source = peer.Source;
                if (source.IsNone || source.InterfaceIndex == 0 || peer.Endpoint.IsNone) continue;
                if (source.LocalAddress.IsIPv4 != peer.Endpoint.IsIPv4 || IsLinkLocal6(peer.Endpoint)) continue;
                pinned.Add((peer, peer.Endpoint, source));
            }
        }

        int cleared = 0;
        foreach (var (peer, endpoint, source) in pinned)
        {
            int oif = routes.OutputInterface(endpoint, source.LocalAddress, mark);
            if (oif == source.InterfaceIndex || (oif < 0 && oif != -Interop.LibcIo.EINVAL)) continue;
            lock (_sync)
            {
                // Only if nothing newer was learned meanwhile.
                if (peer.Endpoint != endpoint || peer.Source != source) continue;
                _engine.ClearSource(peer);
                cleared++;
            }
        }

        if (cleared > 0) Log.RoutesChanged(_log, cleared);
        return cleared;
    }

    // fe80::/10: the scope id, not the routing table, picks the interface; leave such sources alone.
    private static bool IsLinkLocal6(NetEndpoint endpoint)
    {
        if (!endpoint.IsIPv6) return false;
        Span<byte> address = stackalloc byte[16];
        endpoint.WriteAddress(address);
        return address[0] == 0xfe && (address[1] & 0xc0) == 0x80;
    }
}
