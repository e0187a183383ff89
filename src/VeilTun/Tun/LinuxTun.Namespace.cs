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
// When that is impossible (a kernel without TUNGETDEVNETNS, or no right to enter the namespace) the monitor falls
// back to wireguard-go's probe (tun_linux.go routineHackListener): once a second an empty write on the descriptor,
// where EBADFD means deleted, EIO down, and EINVAL up. Some kernels (6.x measured) answer EINVAL whether the link
// is up or not, so the probe can only report deletion and a link that is up; MTU changes are not seen then.
public sealed partial class LinuxTun
{
    /// <summary>Seconds between probes when the interface's namespace cannot be entered.</summary>
    private const int ProbeIntervalMilliseconds = 1000;

    /// <summary>Attempts at following an interface that keeps moving while we open sockets for it.</summary>
    private const int MaxFollowAttempts = 5;

    /// <summary>
    /// The sockets that observe the interface in the namespace it lives in, and its index there. Replaced as a whole
    /// when the interface moves. <see cref="Control"/> is null in probe mode (namespace out of reach).
    /// </summary>
    private sealed class LinkWatch(SafeFdHandle? control, SafeFdHandle? netlink, int index) : IDisposable
    {
        public SafeFdHandle? Control { get; } = control;

        public SafeFdHandle? Netlink { get; } = netlink;

        public int Index { get; } = index;

        public void Dispose()
        {
            Netlink?.Dispose();
            Control?.Dispose();
        }
    }

    /// <summary>Test hook: behave as if setns(2) were refused (no CAP_SYS_ADMIN), forcing probe mode.</summary>
    internal static bool RefuseNamespaceEntryForTests { get; set; }

    /// <summary>
    /// True while the interface lives in a namespace other than the one this object was created in (moved, or an
    /// adopted descriptor of another namespace's interface). Events keep coming from there.
    /// </summary>
    public bool IsInOtherNamespace => _inOtherNamespace;

    /// <summary>
    /// Opens the control socket (and, if asked, the link monitor) in the calling thread's namespace and looks the
    /// interface up there. The netlink socket subscribes before anything is read, so no change falls in between.
    /// </summary>
    private static LinkWatch OpenWatch(string name, bool monitor, bool requireMonitor)
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

            return new LinkWatch(control, netlink, ifr.Value);
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
    /// interface's own when that differs and can be entered; probe mode when it differs and cannot.
    /// </summary>
    private static LinkWatch OpenInitialWatch(SafeFdHandle tun, string name, bool requireMonitor, out bool otherNamespace)
    {
        using SafeFdHandle? other = OtherNamespaceOf(tun, out _);
        otherNamespace = other is not null;
        if (other is null)
        {
            return OpenWatch(name, monitor: true, requireMonitor);
        }

        try
        {
            return RunInNamespace(other, () => OpenWatch(name, monitor: true, requireMonitor: true));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new LinkWatch(null, null, 0);
        }
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
                return errno == LibcIo.EBADFD ? MarkDeleted() : EnterProbeMode(default);
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
                    ? OpenWatch(name, monitor: true, requireMonitor: true)
                    : RunInNamespace(ns, () => OpenWatch(name, monitor: true, requireMonitor: true));
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

                return EnterProbeMode(target);
            }

            // Still there? If it moved on meanwhile, the new sockets watch the wrong namespace: try again.
            using SafeFdHandle now = TunNamespace.OpenDeviceNamespace(_tun, out _);
            if (now.IsInvalid || !TunNamespace.TryGetIdentity(now, out var after) || !TunNamespace.TryGetIdentity(ns, out var before) || after != before)
            {
                next.Dispose();
                continue;
            }

            ReplaceWatch(next, name, otherNamespace: !home);
            return false;
        }

        return Volatile.Read(ref _closed) != 0 || EnterProbeMode(default);
    }

    /// <summary>Installs a new watch and reports what differs from the state last reported.</summary>
    private void ReplaceWatch(LinkWatch next, string name, bool otherNamespace)
    {
        LinkWatch old = _watch;
        _watch = next;
        _inOtherNamespace = otherNamespace;
        old.Dispose();
        _name = name;
        if (next.Control is not null && ReadLinkState(next.Control, name, out int flags, out int mtu) == 0)
        {
            Apply(flags, mtu);
        }
    }

    /// <summary>
    /// Switches to probing (namespace out of reach: <paramref name="unreachable"/> identifies it, or default when
    /// unknown); never stops the monitor by itself.
    /// </summary>
    private bool EnterProbeMode((ulong, ulong) unreachable)
    {
        _probedNamespace = unreachable;
        LinkWatch old = _watch;
        _watch = new LinkWatch(null, null, 0);
        _inOtherNamespace = true;
        old.Dispose();
        return false;
    }

    /// <summary>
    /// One probe period: waits a second (true if closed meanwhile), then an empty write tells deleted (EBADFD), down
    /// (EIO) or up (EINVAL). Also notices when the interface came back to where the namespace can be watched.
    /// </summary>
    private bool Probe()
    {
        int woken = TunNamespace.WaitForWake(_wake, ProbeIntervalMilliseconds);
        if (woken != 0 && woken != -LibcIo.EINTR)
        {
            return true;
        }

        // Moved on since (home, say)? Then try to follow it properly again.
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
