using LibcIo = VeilTun.Interop.LibcIo;
using Netlink = VeilTun.Interop.Netlink;

namespace VeilTun.Udp;

/// <summary>Which interface the kernel routes a datagram out of (for sticky-source checks; fakes in tests).</summary>
internal interface IRouteOracle
{
    /// <summary>
    /// The output interface index for <paramref name="destination"/> sent from <paramref name="source"/> (both of
    /// one family) with routing mark <paramref name="mark"/>, or -errno.
    /// </summary>
    int OutputInterface(NetEndpoint destination, NetEndpoint source, uint mark);
}

/// <summary>
/// Route changes in the calling thread's network namespace (the UDP socket's), for sticky sources: as kernel
/// WireGuard re-routes every send (src/socket.c send4: a cached source whose route now leaves by another interface
/// is dropped) and wireguard-go listens for RTM_NEWROUTE/RTM_DELROUTE and re-asks RTM_GETROUTE for each peer
/// (device/sticky_linux.go), this raises <see cref="Changed"/> once per burst of route notifications (IPv4 and
/// IPv6) and answers <see cref="OutputInterface"/> with RTM_GETROUTE.
/// </summary>
internal sealed class RouteWatcher : IRouteOracle, IDisposable
{
    /// <summary>Quiet time that ends a burst of notifications (ip route flush sends one per route).</summary>
    private const int SettleMilliseconds = 20;

    private readonly SafeFdHandle _monitor;
    private readonly SafeFdHandle _query;
    private readonly SafeFdHandle _wake;
    private readonly Thread _thread;
    private readonly object _queryLock = new();
    private uint _sequence;
    private int _closed;

    private RouteWatcher(SafeFdHandle monitor, SafeFdHandle query, SafeFdHandle wake, Action changed)
    {
        _monitor = monitor;
        _query = query;
        _wake = wake;
        Changed = changed;
        _thread = new Thread(Loop) { IsBackground = true, Name = "VeilTun route watcher" };
        _thread.Start();
    }

    /// <summary>Called on the watcher's thread after each burst of route changes.</summary>
    private Action Changed { get; }

    /// <summary>Opens the watcher in the calling thread's namespace; null where netlink is not available.</summary>
    public static RouteWatcher? TryOpen(Action changed)
    {
        SafeFdHandle monitor = Netlink.OpenRouteMonitor(Netlink.RTMGRP_ROUTES, out _);
        SafeFdHandle query = Netlink.OpenRouteMonitor(0, out _);
        SafeFdHandle wake = LibcIo.CreateEventFd(out _);
        if (monitor.IsInvalid || query.IsInvalid || wake.IsInvalid)
        {
            monitor.Dispose();
            query.Dispose();
            wake.Dispose();
            return null;
        }

        return new RouteWatcher(monitor, query, wake, changed);
    }

    /// <inheritdoc/>
    public int OutputInterface(NetEndpoint destination, NetEndpoint source, uint mark)
    {
        Span<byte> dst = stackalloc byte[16];
        Span<byte> src = stackalloc byte[16];
        int n = destination.WriteAddress(dst);
        int m = source.WriteAddress(src);
        lock (_queryLock)
        {
            if (Volatile.Read(ref _closed) != 0)
            {
                return -LibcIo.EBADF;
            }

            try
            {
                return Netlink.QueryOutputInterface(_query, dst[..n], src[..m], mark, ++_sequence);
            }
            catch (ObjectDisposedException)
            {
                return -LibcIo.EBADF;
            }
        }
    }

    private void Loop()
    {
        byte[] buffer = new byte[32 * 1024];
        try
        {
            while (Volatile.Read(ref _closed) == 0)
            {
                long n = Netlink.Receive(_monitor, buffer, out uint sender, out bool truncated);
                if (n == -LibcIo.EAGAIN || n == -LibcIo.EINTR)
                {
                    int revents = LibcIo.PollWithWake(_monitor, LibcIo.POLLIN, _wake);
                    if ((revents >= 0 && (revents & LibcIo.PollWoken) != 0) || (revents < 0 && -revents != LibcIo.EINTR))
                    {
                        return;
                    }

                    continue;
                }

                // ENOBUFS: notifications were lost, so something changed. Other errors end the watch.
                if (n < 0 && n != -LibcIo.ENOBUFS)
                {
                    return;
                }

                if (n >= 0 && (sender != 0 || (!truncated && !Netlink.HasRouteMessage(buffer.AsSpan(0, (int)n)))))
                {
                    continue;
                }

                // Let the burst settle, swallow the rest of it, then recheck once.
                while (Interop.TunNamespace.WaitForWake(_monitor, SettleMilliseconds) > 0 && Volatile.Read(ref _closed) == 0)
                {
                    if (Netlink.Receive(_monitor, buffer, out _, out _) < 0)
                    {
                        break;
                    }
                }

                if (Volatile.Read(ref _closed) == 0)
                {
                    Changed();
                }
            }
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Stops the thread and closes the sockets.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        LibcIo.SignalEventFd(_wake);
        if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }

        lock (_queryLock)
        {
            _query.Dispose();
        }

        _monitor.Dispose();
        _wake.Dispose();
    }
}
