using System.Diagnostics;
using System.IO.Pipes;
using System.Runtime.InteropServices;
using VeilTun.Device;
using VeilTun.Tun;
using VeilTun.Uapi;

namespace VeilTun.Cli;

/// <summary>
/// `veiltun [-f|--foreground] IFNAME` with wireguard-go's semantics: create the TUN and the UAPI socket
/// /var/run/wireguard/IFNAME.sock; without -f (and WG_PROCESS_FOREGROUND != 1) start a detached copy of ourselves
/// and exit 0 only once it listens (1 if its setup failed). WG_TUN_FD / WG_UAPI_FD hand over existing
/// descriptors; LOG_LEVEL is verbose|debug, error (default) or silent. SIGINT/SIGTERM, deleting the interface or
/// deleting the socket file stop it; the socket and the interface are removed on the way out.
/// </summary>
internal static class DaemonCommand
{
    private const int ExitSetupSuccess = 0;
    private const int ExitSetupFailed = 1;

    public static int Run(string interfaceName, bool foreground)
    {
        var logLevel = (Environment.GetEnvironmentVariable("LOG_LEVEL") ?? "error").ToLowerInvariant();
        if (!foreground && Environment.GetEnvironmentVariable("WG_PROCESS_FOREGROUND") != "1")
            return StartDetached(interfaceName, logLevel);
        return RunForeground(interfaceName, logLevel);
    }

    private static Action<TunnelLogLevel, string> Logger(string name, string level)
    {
        bool verbose = level is "verbose" or "debug";
        bool silent = level == "silent";
        return (l, message) =>
        {
            if (silent || (l == TunnelLogLevel.Verbose && !verbose)) return;
            var prefix = l == TunnelLogLevel.Error ? "ERROR" : "DEBUG";
            Console.Error.WriteLine($"{prefix}: ({name}) {DateTime.Now:yyyy/MM/dd HH:mm:ss} {message}");
        };
    }

    private static int StartDetached(string interfaceName, string logLevel)
    {
        using var ready = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find own executable");
        var psi = new ProcessStartInfo(self) { UseShellExecute = false };
        var entry = Path.Combine(AppContext.BaseDirectory, "VeilTun.Cli.dll");
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(entry);
        psi.ArgumentList.Add("-f");
        psi.ArgumentList.Add(interfaceName);
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

    private static int RunForeground(string interfaceName, string logLevel)
    {
        var log = Logger(interfaceName, logLevel);
        LinuxTun tun;
        try
        {
            tun = Environment.GetEnvironmentVariable("WG_TUN_FD") is { } tunFd
                ? LinuxTun.FromFileDescriptor(int.Parse(tunFd))
                : LinuxTun.Create(interfaceName, LinuxTun.DefaultMtu,
                    new TunOptions { Offloads = Environment.GetEnvironmentVariable("VEILTUN_OFFLOADS") != "0" });
        }
        catch (Exception ex)
        {
            log(TunnelLogLevel.Error, $"Failed to create TUN device: {ex.Message}");
            return ExitSetupFailed;
        }
        var name = tun.Name;
        log = Logger(name, logLevel);

        UapiListener listener;
        try
        {
            listener = Environment.GetEnvironmentVariable("WG_UAPI_FD") is { } uapiFd
                ? UapiListener.FromFileDescriptor(int.Parse(uapiFd), Path.Combine(UapiListener.DefaultDirectory, name + ".sock"))
                : UapiListener.Create(name);
        }
        catch (Exception ex)
        {
            log(TunnelLogLevel.Error, $"UAPI listen error: {ex.Message}");
            tun.Dispose();
            return ExitSetupFailed;
        }

        var tunnel = new Tunnel(new TunnelOptions { Tun = tun, Log = log });
        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        tunnel.Start();
        var uapi = listener.RunAsync(tunnel, stop.Token);
        log(TunnelLogLevel.Verbose, "UAPI listener started");
        log(TunnelLogLevel.Verbose, "Device started");

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

        var stopped = Task.WhenAny(Task.Delay(Timeout.Infinite, stop.Token), listener.SocketRemoved, tunnel.Stopped, uapi);
        try
        {
            stopped.Wait();
        }
        catch (AggregateException)
        {
        }
        log(TunnelLogLevel.Verbose, "Shutting down");
        stop.Cancel();
        tunnel.Dispose();
        listener.Dispose();
        return 0;
    }
}
