using System.Diagnostics;
using System.Globalization;
using System.IO.Pipes;
using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using VeilTun.Device;
using VeilTun.Multihop;
using VeilTun.Tun;
using VeilTun.Uapi;

namespace VeilTun.Cli;

/// <summary>
/// `veiltun [-f|--foreground] IFNAME` with wireguard-go's semantics: create the TUN and the UAPI socket
/// /var/run/wireguard/IFNAME.sock; without -f (and WG_PROCESS_FOREGROUND != 1) start a detached copy of ourselves
/// and exit 0 only once it listens (1 if its setup failed). WG_TUN_FD / WG_UAPI_FD hand over existing
/// descriptors; LOG_LEVEL is verbose|debug, error (default) or silent. SIGINT/SIGTERM, deleting the interface or
/// deleting the socket file stop it; the socket and the interface are removed on the way out.
/// With <c>--via ENTRYNAME --entry-address ADDR[,ADDR6] [--entry-mtu N]</c> it runs a multihop pair: the exit
/// device on IFNAME and an entry device with no TUN and its own socket ENTRYNAME.sock beside IFNAME.sock.
/// </summary>
internal static class DaemonCommand
{
    private const int ExitSetupSuccess = 0;
    private const int ExitSetupFailed = 1;

    /// <summary>The parsed daemon command line.</summary>
    internal sealed record Arguments(string InterfaceName, bool Foreground, string? Via, IReadOnlyList<IPAddress> EntryAddresses, int EntryMtu,
        bool KeepPrivileges = false)
    {
        /// <summary>The command line as given (handed on when the daemon re-executes itself).</summary>
        public IReadOnlyList<string> RawArguments { get; init; } = [];
    }

    /// <summary>
    /// Parses <c>[-f] [--disable-drop-privileges] [--via NAME --entry-address A[,A6] [--entry-mtu N]] IFNAME</c>;
    /// null + error if invalid.
    /// </summary>
    public static Arguments? Parse(string[] args, out string? error)
    {
        bool foreground = false, keep = false;
        string? via = null, name = null, addresses = null;
        int mtu = 1420;
        error = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? Value() => i + 1 < args.Length ? args[++i] : null;
            switch (a)
            {
                case "-f" or "--foreground":
                    foreground = true;
                    break;
                case PrivilegeDrop.KeepFlag:
                    keep = true;
                    break;
                case "--via":
                    via = Value();
                    if (via is null) { error = "--via needs the entry interface name"; return null; }
                    break;
                case "--entry-address":
                    addresses = Value();
                    if (addresses is null) { error = "--entry-address needs ADDR[,ADDR6]"; return null; }
                    break;
                case "--entry-mtu":
                    if (!int.TryParse(Value(), out mtu)) { error = "--entry-mtu needs a number"; return null; }
                    break;
                default:
                    if (a.StartsWith('-') || name is not null) { error = $"unexpected argument '{a}'"; return null; }
                    name = a;
                    break;
            }
        }
        if (name is null) { error = "missing interface name"; return null; }
        var list = new List<IPAddress>();
        if (via is null && addresses is not null) { error = "--entry-address needs --via"; return null; }
        if (via is not null)
        {
            if (via == name || via.Length is 0 or > 15 || via.Contains('/')) { error = $"invalid entry interface name '{via}'"; return null; }
            if (addresses is null) { error = "--via needs --entry-address ADDR[,ADDR6]"; return null; }
            foreach (var part in addresses.Split(','))
            {
                if (!TryParseEntryAddress(part.Trim(), out var ip, out var why)) { error = $"invalid entry address '{part}': {why}"; return null; }
                if (list.Any(x => x.AddressFamily == ip.AddressFamily)) { error = "at most one IPv4 and one IPv6 entry address"; return null; }
                list.Add(ip);
            }
            if (!MultihopMtu.TryValidate(mtu, list.Any(x => x.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6), out _, out var mtuError))
            {
                error = mtuError;
                return null;
            }
        }
        return new Arguments(name, foreground, via, list, mtu, keep) { RawArguments = args };
    }

    // One address of this host inside the entry tunnel: a unicast host address, written plainly ("10.64.0.2") or as a
    // host prefix as wg-quick's Address lines are ("10.64.0.2/32", "fc00::2/128"). IPv4 must be dotted-quad.
    private static bool TryParseEntryAddress(string text, out IPAddress ip, out string why)
    {
        ip = IPAddress.None;
        int slash = text.IndexOf('/');
        string address = slash >= 0 ? text[..slash] : text;
        if (address.Contains('%') || !IPAddress.TryParse(address, out var parsed))
        {
            why = "not an IP address";
            return false;
        }
        bool v4 = parsed.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
        if (v4 && parsed.ToString() != address)
        {
            why = "not an IPv4 address in dotted-quad form"; // IPAddress.TryParse also takes "10" or "010.1.2.3"
            return false;
        }
        if (slash >= 0 && text[(slash + 1)..] != (v4 ? "32" : "128"))
        {
            why = $"only a host address (/{(v4 ? 32 : 128)}) can be the source of the exit hop's datagrams";
            return false;
        }
        byte[] b = parsed.GetAddressBytes();
        if (parsed.Equals(IPAddress.Any) || parsed.Equals(IPAddress.IPv6Any) || parsed.Equals(IPAddress.Broadcast)
            || IPAddress.IsLoopback(parsed) || (v4 ? b[0] >= 224 : b[0] == 0xFF))
        {
            why = "not a unicast host address";
            return false;
        }
        ip = parsed;
        why = "";
        return true;
    }

    // The device's options, with the tuning variables: VEILTUN_MAX_BUFFERS (the large packet buffer bound, default
    // 1024 of 64 KiB) and VEILTUN_MAX_SMALL_BUFFERS (the small one, default 4096 of 2 KiB). VEILTUN_AEAD is applied
    // for every command, in Program.cs (AeadEnvironment).
    // The TUN options, from VEILTUN_OFFLOADS=0 (offloads off) and VEILTUN_TUN_UDP6_GRO=1 (coalesce IPv6 UDP on TUN
    // writes too, for the investigation in docs/status.md); the same whether the TUN is created here or adopted.
    private static TunOptions TunOptionsFromEnvironment() => new()
    {
        Offloads = Environment.GetEnvironmentVariable("VEILTUN_OFFLOADS") != "0",
        CoalesceUdp6 = Environment.GetEnvironmentVariable("VEILTUN_TUN_UDP6_GRO") == "1",
    };

    // The TUN both start paths (keeping root, or dropping it after set-up) open first; null (logged) if it fails.
    private static LinuxTun? TryOpenTun(Arguments args, ILogger log)
    {
        try
        {
            return OpenTun(args);
        }
        catch (Exception ex)
        {
            Log.TunCreateFailed(log, ex);
            return null;
        }
    }

    // Creates the TUN, or adopts WG_TUN_FD (with the same options: offloads are turned on again on a descriptor
    // with IFF_VNET_HDR, as wireguard-go does).
    private static LinuxTun OpenTun(Arguments args) =>
        Environment.GetEnvironmentVariable("WG_TUN_FD") is { } tunFd
            ? LinuxTun.FromFileDescriptor(int.Parse(tunFd, CultureInfo.InvariantCulture), TunOptionsFromEnvironment())
            : LinuxTun.Create(args.InterfaceName,
                // Multihop: the exit hop's packets must fit the entry hop after its overhead (IPv6 worst case).
                args.Via is null ? LinuxTun.DefaultMtu : MultihopMtu.ExitMtu(args.EntryMtu, ipv6Outer: true),
                TunOptionsFromEnvironment());

    private static TunnelOptions Options(ITunDevice tun, ILoggerFactory logging) => new()
    {
        Tun = tun,
        LoggerFactory = logging,
        MaxBuffers = int.TryParse(Environment.GetEnvironmentVariable("VEILTUN_MAX_BUFFERS"), out int n) && n is >= 64 and <= 65536 ? n : 1024,
        MaxSmallBuffers = int.TryParse(Environment.GetEnvironmentVariable("VEILTUN_MAX_SMALL_BUFFERS"), out int s) && s is >= 64 and <= 262144 ? s : 4096,
    };

    public static int Run(Arguments args, string[] rawArgs)
    {
        var logLevel = (Environment.GetEnvironmentVariable("LOG_LEVEL") ?? "error").ToLowerInvariant();
        if (!args.Foreground && Environment.GetEnvironmentVariable("WG_PROCESS_FOREGROUND") != "1")
            return StartDetached(rawArgs, logLevel);
        return RunForeground(args, logLevel);
    }

    // The daemon's log (WireGuardLog.cs): wireguard-go's LOG_LEVEL and line format, on descriptor 2.
    private static WireGuardLoggerFactory Logging(string name, string level) => new(new WireGuardLogProvider(name, level));

    private static int StartDetached(string[] rawArgs, string logLevel)
    {
        using var ready = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find own executable");
        var psi = new ProcessStartInfo(self) { UseShellExecute = false };
        var entry = Path.Combine(AppContext.BaseDirectory, "VeilTun.Cli.dll");
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(entry);
        psi.ArgumentList.Add("-f");
        foreach (var a in rawArgs)
            if (a is not ("-f" or "--foreground")) psi.ArgumentList.Add(a);
        psi.Environment["WG_PROCESS_FOREGROUND"] = "1";
        psi.Environment["VEILTUN_READY_FD"] = ready.GetClientHandleAsString();
        psi.Environment["VEILTUN_DETACH"] = logLevel is "silent" or "error" && Environment.GetEnvironmentVariable("LOG_LEVEL") is null ? "null" : "keep";
        using var child = Process.Start(psi);
        if (child is null) return ExitSetupFailed;
        ready.DisposeLocalCopyOfClientHandle();
        var buffer = new byte[1];
        var read = ready.ReadAsync(buffer).AsTask();
        if (!read.Wait(TimeSpan.FromSeconds(30)) || read.Result != 1 || buffer[0] != (byte)'1')
            return ExitSetupFailed;
        return ExitSetupSuccess;
    }

    private static int RunForeground(Arguments args, string logLevel)
    {
        string interfaceName = args.InterfaceName;
        var logging = Logging(interfaceName, logLevel);
        var log = logging.CreateLogger(Log.Category);
        bool dropped = Environment.GetEnvironmentVariable(PrivilegeDrop.DroppedVariable) == "1";
        if (dropped && ProcessHandover.EffectiveUserId == 0)
        {
            Log.StillRoot(log);
            return ExitSetupFailed;
        }
        if (PrivilegeDrop.ShouldDrop(args.KeepPrivileges)) return SetUpAndDrop(args, logLevel);

        if (TryOpenTun(args, log) is not { } tun) return ExitSetupFailed;
        var name = tun.Name;
        logging.Provider.InterfaceName = name;

        UapiListener listener;
        try
        {
            listener = Environment.GetEnvironmentVariable("WG_UAPI_FD") is { } uapiFd
                ? UapiListener.FromFileDescriptor(int.Parse(uapiFd), Path.Combine(UapiListener.DefaultDirectory, name + ".sock"))
                : UapiListener.Create(name);
        }
        catch (Exception ex)
        {
            Log.UapiListenFailed(log, ex);
            tun.Dispose();
            return ExitSetupFailed;
        }

        Tunnel tunnel;
        MultihopTunnel? multihop = null;
        UapiListener? entryListener = null;
        if (args.Via is { } via)
        {
            try
            {
                entryListener = Environment.GetEnvironmentVariable(PrivilegeDrop.EntryUapiFdVariable) is { } entryFd
                    ? UapiListener.FromFileDescriptor(int.Parse(entryFd, CultureInfo.InvariantCulture),
                        Path.Combine(UapiListener.DefaultDirectory, via + ".sock"))
                    : UapiListener.Create(via);
                // One factory for both hops: each tunnel's lines carry its own interface name.
                multihop = MultihopTunnel.Create(Options(tun, logging),
                    new MultihopOptions { EntryName = via, EntryAddresses = args.EntryAddresses, EntryMtu = args.EntryMtu });
            }
            catch (Exception ex)
            {
                Log.EntryHopFailed(log, via, ex);
                entryListener?.Dispose();
                listener.Dispose();
                tun.Dispose();
                return ExitSetupFailed;
            }
            tunnel = multihop.Exit;
        }
        else
        {
            tunnel = new Tunnel(Options(tun, logging));
        }
        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        if (multihop is not null) multihop.Start();
        else tunnel.Start();
        using var handler = new DaemonUapiHandler(tunnel); // + process memory keys, a collection after large removals
        // Everything that ends the daemon cancels `stop`, saying why (a signal is the normal way and says nothing).
        // The main thread serves the UAPI socket meanwhile (it would only wait otherwise: one thread fewer).
        string? failure = null;
        void EndWith(string why)
        {
            Interlocked.CompareExchange(ref failure, why, null);
            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Already on the way out (the tunnel's own Stopped, say, completes as it is disposed).
            }
        }
        void EndOn(Task task, string why) => task.ContinueWith(t => EndWith(
            t.Exception?.GetBaseException() is { } e ? $"{why}: {e.GetType().Name}: {e.Message}" : why),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        EndOn(listener.SocketRemoved, $"the UAPI socket {listener.Path} was removed");
        EndOn(tunnel.Stopped, $"the interface {tunnel.Name} went away");
        if (multihop is not null && entryListener is not null)
        {
            EndOn(entryListener.RunAsync(multihop.Entry, stop.Token), "the entry device's UAPI listener ended");
            EndOn(entryListener.SocketRemoved, $"the UAPI socket {entryListener.Path} was removed");
            EndOn(multihop.Entry.Stopped, $"the entry device {multihop.Entry.Name} stopped");
        }
        if (log.IsEnabled(LogLevel.Information))
        {
            Log.RunningAs(log, PrivilegeDrop.Describe(),
                dropped ? "" : PrivilegeDrop.KeepRequested(args.KeepPrivileges) ? " (privileges kept on request)" : "");
        }
        Log.UapiListenerStarted(log);
        Log.DeviceStarted(log);

        if (Environment.GetEnvironmentVariable("VEILTUN_READY_FD") is { } readyFd)
        {
            try
            {
                using var ready = new AnonymousPipeClientStream(PipeDirection.Out, readyFd);
                ready.WriteByte((byte)'1');
            }
            catch (IOException)
            {
            }
            Environment.SetEnvironmentVariable("VEILTUN_READY_FD", null);
            Daemon.Detach(keepStdio: Environment.GetEnvironmentVariable("VEILTUN_DETACH") == "keep");
        }

        try
        {
            listener.Run(handler, stop.Token);
            if (!stop.IsCancellationRequested) EndWith("the UAPI listener ended");
        }
        catch (Exception ex)
        {
            EndWith($"the UAPI listener ended: {ex.GetType().Name}: {ex.Message}");
        }
        if (Volatile.Read(ref failure) is { } why) Log.ShuttingDownOnFailure(log, why);
        else Log.ShuttingDown(log);
        stop.Cancel();
        if (multihop is not null) multihop.Dispose();
        else tunnel.Dispose();
        listener.Dispose();
        entryListener?.Dispose();
        return 0;
    }

    // Root, dropping: create the TUN and the UAPI socket(s) here, then hand them to an unprivileged copy of this
    // program (PrivilegeDrop). Returns only on failure; everything created is removed then.
    private static int SetUpAndDrop(Arguments args, string logLevel)
    {
        var logging = Logging(args.InterfaceName, logLevel);
        var log = logging.CreateLogger(Log.Category);
        var setpriv = PrivilegeDrop.FindSetpriv();
        if (setpriv is null)
        {
            Log.CannotDropPrivileges(log, $"setpriv (util-linux) not found; install it or pass {PrivilegeDrop.KeepFlag}");
            return ExitSetupFailed;
        }
        if (!PrivilegeDrop.CheckProgramReachable(out var unreachable))
        {
            Log.CannotDropPrivileges(log, unreachable);
            return ExitSetupFailed;
        }
        if (TryOpenTun(args, log) is not { } tun) return ExitSetupFailed;
        var name = tun.Name;
        logging.Provider.InterfaceName = name;
        var listeners = new List<UapiListener>();
        var (uid, gid, user) = PrivilegeDrop.TargetUser();
        try
        {
            listeners.Add(Environment.GetEnvironmentVariable("WG_UAPI_FD") is { } uapiFd
                ? UapiListener.FromFileDescriptor(int.Parse(uapiFd, CultureInfo.InvariantCulture), Path.Combine(UapiListener.DefaultDirectory, name + ".sock"))
                : UapiListener.Create(name));
        }
        catch (Exception ex)
        {
            Log.UapiListenFailed(log, ex);
            tun.Dispose();
            return ExitSetupFailed;
        }
        bool failed = false;
        if (args.Via is { } via)
        {
            try
            {
                listeners.Add(UapiListener.Create(via));
            }
            catch (Exception ex)
            {
                Log.EntryHopFailed(log, via, ex);
                failed = true;
            }
        }
        if (!failed && !PrivilegeDrop.CheckDirectory(Path.GetDirectoryName(listeners[0].Path)!, out var why))
        {
            Log.CannotDropPrivileges(log, why);
            failed = true;
        }
        if (!failed)
        {
            var sockets = listeners.Select(l => l.Path).ToList();
            var fds = new List<int> { tun.DetachFileDescriptor() };
            fds.AddRange(listeners.Select(l => l.DetachFileDescriptor()));
            var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "");
            environment["WG_PROCESS_FOREGROUND"] = "1";
            environment["WG_TUN_FD"] = fds[0].ToString(CultureInfo.InvariantCulture);
            environment["WG_UAPI_FD"] = fds[1].ToString(CultureInfo.InvariantCulture);
            environment.Remove(PrivilegeDrop.EntryUapiFdVariable);
            if (fds.Count > 2) environment[PrivilegeDrop.EntryUapiFdVariable] = fds[2].ToString(CultureInfo.InvariantCulture);
            var inherit = new List<int>(fds);
            if (int.TryParse(Environment.GetEnvironmentVariable("VEILTUN_READY_FD"), NumberStyles.None, CultureInfo.InvariantCulture, out int ready))
                inherit.Add(ready);
            Log.DroppingPrivileges(log, user, uid, gid);
            string failure = PrivilegeDrop.HandOver(setpriv, (uid, gid, user), sockets, inherit, args.RawArguments, environment);
            // Still here: nothing was handed over. Closing the descriptors removes the interface; the sockets go
            // below (or with the waiter, which saw its pipe close).
            foreach (int fd in fds) ProcessHandover.Close(fd);
            foreach (var s in sockets)
            {
                try
                {
                    File.Delete(s);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
            Log.CannotDropPrivileges(log, failure);
            return ExitSetupFailed;
        }
        foreach (var l in listeners) l.Dispose();
        tun.Dispose();
        return ExitSetupFailed;
    }
}
