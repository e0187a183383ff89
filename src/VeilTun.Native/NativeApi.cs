using System.Net.Sockets;
using System.Reflection;
using System.Text;
using Microsoft.Win32.SafeHandles;
using VeilTun.Device;
using VeilTun.Tun;
using VeilTun.Uapi;
using VeilTun.Udp;

namespace VeilTun.Native;

/// <summary>Receives text the library lends for the length of one call (Exports.cs copies it to native memory).</summary>
internal delegate void TextReceiver(ReadOnlySpan<byte> utf8);

/// <summary>
/// What the C ABI does, in safe code: the handle table and one method per entry point. Exports.cs converts pointers
/// to spans and callbacks to delegates and calls these; every method here returns an errno-style int and turns every
/// exception into one (and a log line), so nothing reaches the boundary but a number.
/// </summary>
internal static class NativeApi
{
    // Linux errno values (asm-generic/errno-base.h, errno.h).
    public const int EPERM = 1, EIO = 5, EBADF = 9, ENOMEM = 12, EINVAL = 22, ENFILE = 23, ENOTSUP = 95,
        EAFNOSUPPORT = 97, EADDRINUSE = 98, ENOTCONN = 107;

    /// <summary>One tunnel behind a handle.</summary>
    private sealed class Entry
    {
        public Tunnel? Tunnel;
        /// <summary>Serialises the calls that reach into the tunnel with its disposal, so none runs on a disposed one.</summary>
        public readonly object Gate = new();
        public volatile bool Closed;
        /// <summary>The socket last handed to protect (the tunnel's current one, or a closed one while down).</summary>
        public volatile LinuxUdpSocket? Socket;
    }

    private static readonly object s_lock = new();
    private static readonly Dictionary<int, Entry> s_tunnels = new();
    private static int s_nextHandle;

    public static string Version { get; } =
        typeof(Tunnel).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Tunnel).Assembly.GetName().Version?.ToString() ?? "unknown";

    public static int TurnOn(ReadOnlySpan<byte> config, int tunFd, Func<int, int>? protect)
    {
        const string Function = "veiltun_turn_on";
        LinuxTun tun;
        try
        {
            tun = LinuxTun.FromFileDescriptor(tunFd);
        }
        catch (Exception e)
        {
            CloseDescriptor(tunFd); // ours in every case, as the header says (libwg-go closes it too)
            return Fail(Function, e);
        }

        var entry = new Entry();
        Tunnel tunnel;
        try
        {
            tunnel = new Tunnel(new TunnelOptions
            {
                Tun = tun,
                ProtectSocket = udp => Protect(entry, udp, protect),
                LoggerFactory = new CallbackLoggerFactory(tun.Name),
            });
        }
        catch (Exception e)
        {
            tun.Dispose();
            return Fail(Function, e);
        }

        try
        {
            int rc = Configure(tunnel, config, Function, initial: true);
            if (rc != 0)
            {
                tunnel.Dispose();
                return rc;
            }
            tunnel.Start();
            // Start brings the interface up with its link; if the link is up and the tunnel is not, binding (or
            // protect) failed, which the tunnel logged.
            if (tun.IsUp && !tunnel.IsUp)
            {
                tunnel.Dispose();
                return Error(EIO, $"{Function}: the UDP socket could not be bound or protected");
            }
        }
        catch (Exception e)
        {
            tunnel.Dispose();
            return Fail(Function, e);
        }
        entry.Tunnel = tunnel;

        lock (s_lock)
        {
            // Handles count up and are not reused until the int32 space wraps: a stale handle finds nothing.
            for (int tries = 0; tries <= s_tunnels.Count; tries++)
            {
                int handle = s_nextHandle;
                s_nextHandle = s_nextHandle == int.MaxValue ? 0 : s_nextHandle + 1;
                if (s_tunnels.TryAdd(handle, entry)) return handle;
            }
        }
        tunnel.Dispose();
        return Error(ENFILE, $"{Function}: no free handle");
    }

    private static void Protect(Entry entry, IUdpTransport udp, Func<int, int>? protect)
    {
        var socket = udp as LinuxUdpSocket;
        if (protect is not null && socket is not null)
        {
            int fd = socket.FileDescriptor;
            int rc = protect(fd);
            // IOException: the tunnel treats it as a failed bind (logged; the socket is closed).
            if (rc != 0) throw new IOException($"the protect callback refused UDP socket {fd} (it returned {rc})");
        }
        entry.Socket = socket;
    }

    public static int TurnOff(int handle)
    {
        Entry? entry;
        lock (s_lock)
        {
            if (!s_tunnels.Remove(handle, out entry)) return BadHandle("veiltun_turn_off", handle);
        }
        lock (entry.Gate)
        {
            entry.Closed = true;
            try
            {
                entry.Tunnel!.Dispose();
            }
            catch (Exception e)
            {
                return Fail("veiltun_turn_off", e);
            }
        }
        return 0;
    }

    public static int SetConfig(int handle, ReadOnlySpan<byte> uapi)
    {
        const string Function = "veiltun_set_config";
        if (!TryGet(handle, Function, out var entry, out int error)) return error;
        lock (entry.Gate)
        {
            if (entry.Closed) return BadHandle(Function, handle);
            try
            {
                return Configure(entry.Tunnel!, uapi, Function, initial: false);
            }
            catch (Exception e)
            {
                return Fail(Function, e);
            }
        }
    }

    /// <summary>Hands the UAPI get text to <paramref name="receiver"/>; the text's buffer is zeroed afterwards.</summary>
    public static int GetConfig(int handle, TextReceiver receiver)
    {
        const string Function = "veiltun_get_config";
        if (!TryGet(handle, Function, out var entry, out int error)) return error;
        lock (entry.Gate)
        {
            if (entry.Closed) return BadHandle(Function, handle);
            DeviceSnapshot? snapshot = null;
            try
            {
                using var text = new WipedTextBuffer(4096);
                snapshot = entry.Tunnel!.GetSnapshot();
                UapiWriter.WriteGet(snapshot, text);
                receiver(text.Written.Span);
                return 0;
            }
            catch (Exception e)
            {
                return Fail(Function, e);
            }
            finally
            {
                snapshot?.ClearSecrets();
            }
        }
    }

    /// <summary>The socket's descriptor. Lock-free, so a protect callback may ask for it.</summary>
    public static int GetSocket(int handle, bool ipv6)
    {
        string function = ipv6 ? "veiltun_get_socket_v6" : "veiltun_get_socket_v4";
        if (!TryGet(handle, function, out var entry, out int error)) return error;
        if (entry.Closed) return BadHandle(function, handle);
        if (entry.Socket is not { } socket) return -ENOTCONN;
        int fd = socket.FileDescriptor; // -1 once closed (down, or replaced)
        if (fd < 0) return -ENOTCONN;
        return ipv6 && !socket.IsDualStack ? -EAFNOSUPPORT : fd;
    }

    public static int BumpSockets(int handle)
    {
        const string Function = "veiltun_bump_sockets";
        if (!TryGet(handle, Function, out var entry, out int error)) return error;
        lock (entry.Gate)
        {
            if (entry.Closed) return BadHandle(Function, handle);
            try
            {
                entry.Tunnel!.NetworkChanged();
                return 0;
            }
            catch (Exception e)
            {
                return Fail(Function, e);
            }
        }
    }

    public static int TrimMemory(int handle)
    {
        const string Function = "veiltun_trim_memory";
        if (!TryGet(handle, Function, out var entry, out int error)) return error;
        lock (entry.Gate)
        {
            if (entry.Closed) return BadHandle(Function, handle);
            try
            {
                return entry.Tunnel!.TrimMemory();
            }
            catch (Exception e)
            {
                return Fail(Function, e);
            }
        }
    }

    public static int SetLogger(ILogSink? sink, int minLevel)
    {
        if (minLevel is < 0 or > 6) return Error(EINVAL, $"veiltun_set_logger: level {minLevel} is not a VEILTUN_LOG_* value");
        NativeLog.Set(sink, minLevel);
        return 0;
    }

    // wg(8) text if the first non-blank character is '[' or '#', else UAPI set text; empty: nothing to apply.
    private static int Configure(Tunnel tunnel, ReadOnlySpan<byte> config, string function, bool initial)
    {
        var trimmed = config.TrimStart(" \t\r\n"u8);
        if (trimmed.StartsWith("\uFEFF"u8)) trimmed = trimmed[3..].TrimStart(" \t\r\n"u8);
        if (trimmed.IsEmpty && initial) return 0;

        SetRequest? request;
        if (initial && (trimmed[0] == (byte)'[' || trimmed[0] == (byte)'#'))
        {
            // WgConfigFile reads a string: the key text is in it until the GC reclaims it, as with Tunnel.Configure(string).
            if (!WgConfigFile.TryParse(Encoding.UTF8.GetString(config), out request, out string? error))
                return Error(EINVAL, $"{function}: {error}");
        }
        else if (!UapiParser.TryParseSet(config, out request, out var uapiError, DaitaKeys.IsSetKey))
        {
            return Error(uapiError.Errno, $"{function}: {uapiError}");
        }
        try
        {
            if (tunnel.Configure(request) is { } failure && failure.Errno != 0) return Error(failure.Errno, $"{function}: {failure}");
            return 0;
        }
        finally
        {
            request.ClearSecrets();
        }
    }

    private static bool TryGet(int handle, string function, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Entry? entry, out int error)
    {
        lock (s_lock) s_tunnels.TryGetValue(handle, out entry);
        error = entry is null ? BadHandle(function, handle) : 0;
        return entry is not null;
    }

    private static int BadHandle(string function, int handle) => Error(EBADF, $"{function}: {handle} is not a tunnel handle");

    /// <summary>Logs <paramref name="message"/> as an error and returns -<paramref name="errno"/> (or it as is, if negative).</summary>
    private static int Error(int errno, string message)
    {
        NativeLog.Error(message);
        return errno < 0 ? errno : -errno;
    }

    /// <summary>The errno for an exception, after logging it.</summary>
    public static int Fail(string function, Exception e)
    {
        int errno = e switch
        {
            ObjectDisposedException => EBADF,
            ArgumentException or FormatException => EINVAL,
            OutOfMemoryException => ENOMEM,
            UnauthorizedAccessException => EPERM,
            NotSupportedException => ENOTSUP, // PlatformNotSupportedException too
            SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } => EADDRINUSE,
            IOException { HResult: > 0 and < 4096 } io => io.HResult, // LibcIo's errno exceptions
            _ => EIO,
        };
        return Error(errno, $"{function}: {e.GetType().Name}: {e.Message}");
    }

    private static void CloseDescriptor(int fd)
    {
        if (fd < 0) return;
        try
        {
            using var handle = new SafeFileHandle((nint)fd, ownsHandle: true); // close(2) on dispose
        }
        catch (Exception)
        {
            // Nothing more to do for a descriptor that cannot even be closed.
        }
    }
}
