using LibcIo = VeilTun.Interop.LibcIo;
using NativeSocket = VeilTun.Interop.Socket;
using NativeTun = VeilTun.Interop.Tun;
using Netlink = VeilTun.Interop.Netlink;
using TunNamespace = VeilTun.Interop.TunNamespace;

namespace VeilTun.Tun;

// Following the interface across network namespaces. The TUN descriptor works wherever its interface lives, but the
// ioctl control socket and the netlink socket only see the namespace they were created in. When the interface
// leaves that namespace (RTM_DELLINK there while TUNGETIFF still works: `ip link set IF netns NS`), or when an
// adopted descriptor's interface lives elsewhere from the start, the device asks the kernel where the interface is
// now (TUNGETDEVNETNS) and opens a new pair of sockets there, on a short-lived thread that setns(2)s into that
// namespace: a socket keeps the namespace it was created in, so the monitor thread (and every socket the tunnel
// binds from it, such as its UDP socket) stays where it is.
//
// Entering needs CAP_SYS_ADMIN (setns(2)), which a daemon that dropped privileges (docs/privileges.md) does not
// have. Then the monitor polls the link from where it is, once a second: the interface's namespace gets an id in
// ours (RTM_GETNSID, or RTM_NEWNSID with CAP_NET_ADMIN; a move made from here already assigned one) and
// RTM_GETLINK with IFLA_TARGET_NETNSID reads its flags, MTU and name there (Interop.NetlinkNsid.cs). The MTU cannot
// be set that way (SetMtu refuses, UnauthorizedAccessException).
//
// When that is impossible too (a kernel without TUNGETDEVNETNS, or no CAP_NET_ADMIN) the monitor falls back to
// wireguard-go's probe (tun_linux.go routineHackListener): once a second an empty write on the descriptor, where
// EBADFD means deleted, EIO down, and EINVAL up. Some kernels (6.x measured) answer EINVAL whether the link is up
// or not, so the probe can only report deletion and a link that is up; MTU changes are not seen then.
//
// Each change of way is reported once (TunEventKind.Watching, or WatchDegraded for the probe).
public sealed partial class LinuxTun
{
    /// <summary>Milliseconds between polls or probes when the interface's namespace cannot be entered.</summary>
    private const int PollIntervalMilliseconds = 1000;

    /// <summary>Attempts at following an interface that keeps moving while we open sockets for it.</summary>
    private const int MaxFollowAttempts = 5;

    /// <summary>Bytes for a link answer without statistics (a TUN's is under 1.5 KiB).</summary>
    private const int LinkReplyLength = 8192;

    /// <summary>How the interface is being followed.</summary>
    internal enum WatchMode
    {
        /// <summary>Netlink and ioctl sockets in the namespace the device was made in.</summary>
        Home,

        /// <summary>Netlink and ioctl sockets opened in the interface's other namespace (setns was allowed).</summary>
        Entered,

        /// <summary>RTM_GETLINK by netns id from our namespace, once a second.</summary>
        Polled,

        /// <summary>Empty writes on the descriptor, once a second: deletion and "up" only.</summary>
        Probed,
    }

    /// <summary>
    /// What observes the interface where it lives: the sockets made there and its index (Home, Entered), or a
    /// netlink socket of ours, the namespace's id and the index there (Polled), or nothing (Probed). Replaced as a
    /// whole when the interface moves. <see cref="Control"/> is null unless sockets live there.
    /// </summary>
    private sealed class LinkWatch(WatchMode mode, SafeFdHandle? control, SafeFdHandle? netlink, int index, int nsid = -1, byte[]? reply = null) : IDisposable
    {
        public WatchMode Mode { get; } = mode;

        public SafeFdHandle? Control { get; } = control;

        /// <summary>The link monitor (Home, Entered), or the request socket (Polled).</summary>
        public SafeFdHandle? Netlink { get; } = netlink;

        public int Index { get; } = index;

        /// <summary>Polled: our namespace's id for the interface's.</summary>
        public int Nsid { get; } = nsid;

        public uint Sequence;

        /// <summary>Polled: the answer buffer (monitor thread only).</summary>
        public byte[]? Reply { get; } = reply;

        public void Dispose()
        {
            Netlink?.Dispose();
            Control?.Dispose();
        }
    }

    /// <summary>Test hook: behave as if setns(2) were refused (no CAP_SYS_ADMIN), forcing polling or probing.</summary>
    internal static bool RefuseNamespaceEntryForTests { get; set; }

    /// <summary>Test hook: behave as if no netns id could be had (no CAP_NET_ADMIN), forcing probe mode.</summary>
    internal static bool RefuseNamespaceIdsForTests { get; set; }

    /// <summary>How the interface is followed now (for tests and diagnostics).</summary>
    internal WatchMode Mode => _watch.Mode;

    /// <summary>
    /// True while the interface lives in a namespace other than the one this object was created in (moved, or an
    /// adopted descriptor of another namespace's interface). Events keep coming from there.
    /// </summary>
    public bool IsInOtherNamespace => _inOtherNamespace;

    /// <summary>
    /// Opens the control socket (and, if asked, the link monitor) in the calling thread's namespace and looks the
    /// interface up there. The netlink socket subscribes before anything is read, so no change falls in between.
    /// </summary>
    private static LinkWatch OpenWatch(string name, bool monitor, bool requireMonitor, WatchMode mode)
    {
        SafeFdHandle? control = null, netlink = null;
        try
        {
            // wireguard-go tun_linux.go does its SIOCGIFINDEX / SIOCSIFMTU ioctls on an AF_INET datagram socket.
            // Keeping one open pins the namespace, so SetMtu works from any thread later.
            control = NativeSocket.Open(NativeSocket.AF_INET, NativeSocket.SOCK_DGRAM, 0, out int errno);
            if (control.IsInvalid)
            {
                throw LibcIo.ErrnoException("socket(AF_INET, SOCK_DGRAM)", errno);
            }

            if (monitor)
            {
                netlink = Netlink.OpenRouteMonitor(Netlink.RTMGRP_LINK, out errno);
                if (netlink.IsInvalid)
                {
                    netlink.Dispose();
                    netlink = null;
                    if (requireMonitor)
                    {
                        throw LibcIo.ErrnoException("netlink route monitor", errno);
                    }
                }
            }

            NativeTun.IfReq ifr = NativeTun.MakeIfReq(name);
            int rc = NativeTun.IfReqIoctl(control, NativeTun.SIOCGIFINDEX, ref ifr);
            if (rc < 0)
            {
                throw LibcIo.ErrnoException($"SIOCGIFINDEX({name})", -rc);
            }

            return new LinkWatch(mode, control, netlink, ifr.Value);
        }
        catch
        {
            netlink?.Dispose();
            control?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The interface's namespace when it differs from the calling thread's (the caller owns the handle), else null:
    /// same namespace, or not knowable (TUNGETDEVNETNS unsupported or refused).
    /// </summary>
    private static SafeFdHandle? OtherNamespaceOf(SafeFdHandle tun, out int errno)
    {
        SafeFdHandle device = TunNamespace.OpenDeviceNamespace(tun, out errno);
        if (device.IsInvalid)
        {
            device.Dispose();
            return null;
        }

        using SafeFdHandle own = TunNamespace.OpenThreadNamespace(out _);
        if (!own.IsInvalid && TunNamespace.TryGetIdentity(own, out var a) && TunNamespace.TryGetIdentity(device, out var b) && a == b)
        {
            device.Dispose();
            return null;
        }

        return device;
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a new thread that has entered <paramref name="ns"/> with setns(2); the
    /// calling thread's namespace is untouched. Sockets made there keep that namespace.
    /// </summary>
    internal static T RunInNamespace<T>(SafeFdHandle ns, Func<T> action)
    {
        if (RefuseNamespaceEntryForTests)
        {
            throw new UnauthorizedAccessException("setns refused (test hook)");
        }

        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                if (Interop.Netns.setns(ns, Interop.Netns.CLONE_NEWNET) != 0)
                {
                    throw LibcIo.ErrnoException("setns(CLONE_NEWNET)", LibcIo.LastErrno);
                }

                result = action();
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        { IsBackground = true, Name = "VeilTun netns" };
        thread.Start();
        thread.Join();
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        }

        return result;
    }

    /// <summary>
    /// Opens the watch for a freshly created or adopted descriptor: in the calling thread's namespace, or in the
    /// interface's own when that differs and can be entered; polled or probed when it differs and cannot.
    /// </summary>
    private static LinkWatch OpenInitialWatch(SafeFdHandle tun, string name, bool requireMonitor, out bool otherNamespace)
    {
        using SafeFdHandle? other = OtherNamespaceOf(tun, out _);
        otherNamespace = other is not null;
        if (other is null)
        {
            return OpenWatch(name, monitor: true, requireMonitor, WatchMode.Home);
        }

        try
        {
            return RunInNamespace(other, () => OpenWatch(name, monitor: true, requireMonitor: true, WatchMode.Entered));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The monitor's first period re-follows it, and reports how (nobody listens yet).
            return TryOpenPolledWatch(other, name, out _) ?? new LinkWatch(WatchMode.Probed, null, null, 0);
        }
    }

    /// <summary>
    /// Sets up polling of the interface named <paramref name="name"/> in namespace <paramref name="ns"/> from ours
    /// (see the top of this file); null, with the reason in <paramref name="why"/>, when the kernel refuses.
    /// </summary>
    private static LinkWatch? TryOpenPolledWatch(SafeFdHandle ns, string name, out string? why)
    {
        if (RefuseNamespaceIdsForTests)
        {
            why = "no netns id (test hook)";
            return null;
        }

        SafeFdHandle query = Netlink.OpenRouteMonitor(0, out int errno);
        if (query.IsInvalid)
        {
            query.Dispose();
            why = $"netlink socket: {LibcIo.Describe(errno)}";
            return null;
        }

        byte[] reply = new byte[LinkReplyLength];
        uint sequence = 0;
        int nsid = Netlink.GetOrAssignNamespaceId(query, ns, reply, ref sequence);
        int index = nsid < 0
            ? nsid
            : Netlink.QueryLinkInNamespace(query, nsid, 0, name, reply, ref sequence, out _, out _, out _);
        if (index <= 0)
        {
            query.Dispose();
            why = nsid < 0 ? $"no netns id for its namespace: {LibcIo.Describe(-nsid)}" : $"RTM_GETLINK by netns id: {LibcIo.Describe(-index)}";
            return null;
        }

        why = null;
        return new LinkWatch(WatchMode.Polled, null, query, index, nsid, reply) { Sequence = sequence };
    }

    /// <summary>
    /// The interface left the namespace being watched while its descriptor still works: find it, watch it there,
    /// and report any difference in state. Returns true when monitoring must stop (it was deleted meanwhile).
    /// </summary>
    private bool FollowMove()
    {
        for (int attempt = 0; attempt < MaxFollowAttempts && Volatile.Read(ref _closed) == 0; attempt++)
        {
            using SafeFdHandle ns = TunNamespace.OpenDeviceNamespace(_tun, out int errno);
            if (ns.IsInvalid)
            {
                return errno == LibcIo.EBADFD
                    ? MarkDeleted()
                    : EnterProbeMode(default, $"TUNGETDEVNETNS: {LibcIo.Describe(errno)}");
            }

            if (!TryCurrentName(out string name))
            {
                return MarkDeleted();
            }

            // The monitor thread (which runs this) lives in the home namespace: no setns needed to go back there.
            bool home = TunNamespace.TryGetIdentity(ns, out var target) && target == _homeNamespace;
            LinkWatch next;
            try
            {
                next = home
                    ? OpenWatch(name, monitor: true, requireMonitor: true, WatchMode.Home)
                    : RunInNamespace(ns, () => OpenWatch(name, monitor: true, requireMonitor: true, WatchMode.Entered));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // ENODEV: moved (or renamed, or deleted) again while we looked; EPERM: cannot enter.
                if (!TryCurrentName(out _))
                {
                    return MarkDeleted();
                }

                if (e.HResult == LibcIo.ENODEV)
                {
                    continue;
                }

                LinkWatch? polled = TryOpenPolledWatch(ns, name, out string? why);
                if (polled is null)
                {
                    return EnterProbeMode(target, $"cannot enter its namespace ({e.Message}) and {why}");
                }

                next = polled;
            }

            // Still there? If it moved on meanwhile, the new watch looks at the wrong namespace: try again.
            using SafeFdHandle now = TunNamespace.OpenDeviceNamespace(_tun, out _);
            if (now.IsInvalid || !TunNamespace.TryGetIdentity(now, out var after) || !TunNamespace.TryGetIdentity(ns, out var before) || after != before)
            {
                next.Dispose();
                continue;
            }

            _probedNamespace = next.Mode == WatchMode.Polled ? target : default;
            ReplaceWatch(next, name, otherNamespace: !home);
            return false;
        }

        return Volatile.Read(ref _closed) != 0 || EnterProbeMode(default, "it kept moving while being followed");
    }

    /// <summary>Installs a new watch, says how it follows the interface if that changed, and reports what differs
    /// from the state last reported.</summary>
    private void ReplaceWatch(LinkWatch next, string name, bool otherNamespace)
    {
        LinkWatch old = _watch;
        _watch = next;
        _inOtherNamespace = otherNamespace;
        old.Dispose();
        _name = name;
        if (next.Mode != _reportedMode)
        {
            _reportedMode = next.Mode;
            Raise(TunEventKind.Watching, next.Mode switch
            {
                WatchMode.Home => $"{name} is back in this network namespace: followed by netlink",
                WatchMode.Entered => $"{name} lives in another network namespace: followed by netlink there",
                _ => $"{name} lives in another network namespace this process cannot enter (setns needs CAP_SYS_ADMIN): "
                    + $"followed by polling RTM_GETLINK with netns id {next.Nsid} every {PollIntervalMilliseconds} ms; its MTU can only be set there",
            });
        }

        if (next.Control is not null && ReadLinkState(next.Control, name, out int flags, out int mtu) == 0)
        {
            Apply(flags, mtu);
        }
        else if (next.Mode == WatchMode.Polled && Netlink.QueryLinkInNamespace(
            next.Netlink!, next.Nsid, next.Index, null, next.Reply, ref next.Sequence, out uint polledFlags, out int polledMtu, out _) == next.Index)
        {
            Apply((int)polledFlags, polledMtu);
        }
    }

    /// <summary>
    /// Switches to probing (namespace out of reach: <paramref name="unreachable"/> identifies it, or default when
    /// unknown; <paramref name="why"/> for the log); never stops the monitor by itself.
    /// </summary>
    private bool EnterProbeMode((ulong, ulong) unreachable, string why)
    {
        _probedNamespace = unreachable;
        LinkWatch old = _watch;
        _watch = new LinkWatch(WatchMode.Probed, null, null, 0);
        _inOtherNamespace = true;
        old.Dispose();
        if (_reportedMode != WatchMode.Probed)
        {
            _reportedMode = WatchMode.Probed;
            Raise(TunEventKind.WatchDegraded, $"{_name} lives in a network namespace out of reach ({why}): only its deletion "
                + "is seen (an empty write every second), not link down or MTU changes");
        }

        return false;
    }

    /// <summary>
    /// One period of following an interface out of reach (polled or probed): waits a second (true if closed
    /// meanwhile), notices a move (home, say: then it is followed properly again) or deletion, then asks.
    /// </summary>
    private bool Poll(LinkWatch watch)
    {
        int woken = TunNamespace.WaitForWake(_wake, PollIntervalMilliseconds);
        if (woken != 0 && woken != -LibcIo.EINTR)
        {
            return true;
        }

        using (SafeFdHandle ns = TunNamespace.OpenDeviceNamespace(_tun, out int errno))
        {
            if (!ns.IsInvalid && TunNamespace.TryGetIdentity(ns, out var now) && now != _probedNamespace)
            {
                return FollowMove();
            }

            if (errno == LibcIo.EBADFD)
            {
                return MarkDeleted();
            }
        }

        return watch.Mode == WatchMode.Polled ? PollLink(watch) : ProbeWrite();
    }

    /// <summary>RTM_GETLINK by netns id and index; true when monitoring must stop.</summary>
    private bool PollLink(LinkWatch watch)
    {
        int rc = Netlink.QueryLinkInNamespace(
            watch.Netlink!, watch.Nsid, watch.Index, null, watch.Reply, ref watch.Sequence, out uint flags, out int mtu, out string? name);
        if (rc == watch.Index)
        {
            if (name is not null && name != _name)
            {
                _name = name;
            }

            Apply((int)flags, mtu);
            return false;
        }

        // ENODEV: no longer there (deleted, or moved on between our namespace check and the request); EINVAL: the
        // id is gone with its namespace. Anything else (a timeout, say) is tried again next period.
        if (rc is -LibcIo.ENODEV or -LibcIo.EINVAL)
        {
            return TryCurrentName(out _) ? FollowMove() : MarkDeleted();
        }

        return false;
    }

    /// <summary>The empty write: deleted (EBADFD), down (EIO) or up (EINVAL); true when monitoring must stop.</summary>
    private bool ProbeWrite()
    {
        long n = LibcIo.Write(_tun, ReadOnlySpan<byte>.Empty);
        switch ((int)-n)
        {
            case LibcIo.EBADFD:
                return MarkDeleted();
            case LibcIo.EIO:
                Apply(0, -1);
                break;
            case LibcIo.EINVAL:
                Apply(IfUpAndRunning, -1);
                break;
        }

        return false;
    }

    /// <summary>TUNGETIFF: the interface's current name; false once it was deleted (EBADFD).</summary>
    private bool TryCurrentName(out string name)
    {
        NativeTun.IfReq ifr = default;
        if (NativeTun.IfReqIoctl(_tun, NativeTun.TUNGETIFF, ref ifr) < 0)
        {
            name = _name;
            return false;
        }

        name = NativeTun.GetName(ifr);
        return true;
    }

    private bool MarkDeleted()
    {
        _deleted = true;
        _up = false;
        Raise(TunEventKind.Deleted);
        return true;
    }
}
