using VeilTun.Udp;

namespace VeilTun.Device;

// "The network changed", as a phone has it: Wi-Fi to cellular, a new address on the same link, a resume from
// suspend. The OS tells the host app (Android ConnectivityManager callbacks, iOS NWPathMonitor); the app tells the
// tunnel. wireguard-go's mobile library does the same in wgBumpSockets (BindUpdate, then keepalives).
public sealed partial class Tunnel
{
    /// <summary>
    /// Tells the tunnel that the host's network changed. While up, it rebinds the UDP transport (a new socket on
    /// the same port, passed to <see cref="TunnelOptions.ProtectSocket"/> before it carries traffic; if that port
    /// cannot be bound again, on any free port, logged as an error), keeps every session, forgets cached source
    /// addresses, and sends each peer with an endpoint a keepalive under its current session and a handshake
    /// initiation at once, so the peer learns the new address within a round trip instead of at the next rekey.
    /// Does nothing while down (coming up binds afresh). Safe from any thread; returns the initiations sent.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The tunnel was disposed.</exception>
    public int NetworkChanged()
    {
        int port;
        Thread? oldReader;
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (!_engine.IsUp) return 0;
            port = _udp?.Port ?? _listenPort;
            oldReader = _udp is null ? null : _udpReaders.LastOrDefault(t => t.IsAlive);
            CloseUdpLocked(); // sends fail (counted) until the new socket is in; the network just changed anyway
        }
        // The same port cannot be bound while the old socket lives, and a Linux socket's close(2) waits for its
        // reader to leave poll(2): wait for that reader (outside the lock, which it may need on its way out).
        if (oldReader is not null && oldReader != Thread.CurrentThread) oldReader.Join(TimeSpan.FromSeconds(2));
        int sent;
        lock (_sync)
        {
            // Down, disposed or bound by someone else (SetUp, a listen-port change) meanwhile: nothing to rebind.
            if (_disposed != 0 || !_engine.IsUp) return 0;
            if (_udp is null)
            {
                var udp = BindAgain(port);
                if (udp is null) return 0;
                SwapUdpLocked(udp);
            }
            sent = _engine.NetworkChanged(_now());
            AfterEngine();
        }
        Log.NetworkChanged(_log, sent);
        _timerWake.Set(); // the initiations armed retransmit timers
        return sent;
    }

    // The port the tunnel had; failing that (taken meanwhile), any: a socket on another port still reaches every
    // peer (they roam to it), no socket reaches none. Under the tunnel lock.
    private IUdpTransport? BindAgain(int port)
    {
        try
        {
            return BindTransport(port);
        }
        catch (Exception ex) when (port != 0 && IsBindFailure(ex))
        {
            Log.RebindFailed(_log, port, ex);
            Raise(new TunnelEvent(TunnelEventKind.Error, Message: $"cannot bind UDP port {port} again: {ex.Message}; bound another"));
            try
            {
                return BindTransport(0);
            }
            catch (Exception ex2) when (IsBindFailure(ex2))
            {
                Log.BindFailed(_log, 0, ex2);
                Raise(new TunnelEvent(TunnelEventKind.Error, Message: $"cannot bind a UDP port: {ex2.Message}"));
                return null;
            }
        }
        catch (Exception ex) when (IsBindFailure(ex))
        {
            Log.BindFailed(_log, port, ex);
            Raise(new TunnelEvent(TunnelEventKind.Error, Message: $"cannot bind UDP port {port}: {ex.Message}"));
            return null;
        }
    }

    private static bool IsBindFailure(Exception ex) =>
        ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException or UnauthorizedAccessException;
}
