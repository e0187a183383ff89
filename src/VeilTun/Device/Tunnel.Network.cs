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
        int sent;
        lock (_sync)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (!_engine.IsUp) return 0;
            int port = _udp?.Port ?? _listenPort;
            CloseUdpLocked(); // the same port cannot be bound twice: the old socket goes first
            IUdpTransport udp;
            try
            {
                udp = BindTransport(port);
            }
            catch (Exception ex) when (port != 0 && IsBindFailure(ex))
            {
                Log.RebindFailed(_log, port, ex);
                Raise(new TunnelEvent(TunnelEventKind.Error, Message: $"cannot bind UDP port {port} again: {ex.Message}; bound another"));
                try
                {
                    udp = BindTransport(0);
                }
                catch (Exception ex2) when (IsBindFailure(ex2))
                {
                    Log.BindFailed(_log, 0, ex2);
                    Raise(new TunnelEvent(TunnelEventKind.Error, Message: $"cannot bind a UDP port: {ex2.Message}"));
                    return 0;
                }
            }
            catch (Exception ex) when (IsBindFailure(ex))
            {
                Log.BindFailed(_log, port, ex);
                Raise(new TunnelEvent(TunnelEventKind.Error, Message: $"cannot bind UDP port {port}: {ex.Message}"));
                return 0;
            }
            SwapUdpLocked(udp);
            sent = _engine.NetworkChanged(_now());
            AfterEngine();
        }
        Log.NetworkChanged(_log, sent);
        _timerWake.Set(); // the initiations armed retransmit timers
        return sent;
    }

    private static bool IsBindFailure(Exception ex) =>
        ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException or UnauthorizedAccessException;
}
