using System.Diagnostics;
using System.Globalization;
using VeilTun.Device;

namespace VeilTun.Cli;

/// <summary>
/// Least privilege for the daemon (docs/privileges.md). Started as root, the daemon sets up what needs root (the
/// TUN, the UAPI socket(s) in the root-owned /var/run/wireguard), then re-executes itself through setpriv(1) as an
/// unprivileged user with only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (ambient, so they survive the execve; the
/// bounding set holds nothing else) and no_new_privs, inheriting those descriptors (WG_TUN_FD, WG_UAPI_FD,
/// VEILTUN_ENTRY_UAPI_FD). Capabilities and no_new_privs are per thread and the .NET runtime starts threads
/// before Main, so only a fresh program image gets them on every thread: hence the execve, by the same PID.
/// A waiter is started first: /bin/sh under setpriv with no capabilities at all (uid 0, empty bounding set,
/// no_new_privs), holding only the read end of a pipe whose write end the daemon keeps. When the daemon exits, by
/// any path, the pipe reports end of file and the waiter removes the socket file(s), if they are still the ones
/// created here (device and inode unchanged): an unprivileged daemon cannot unlink in /var/run/wireguard.
/// <c>--disable-drop-privileges</c>, <c>VEILTUN_KEEP_PRIVILEGES=1</c> or boringtun's <c>WG_SUDO=1</c> keep root.
/// </summary>
internal static class PrivilegeDrop
{
    public const string KeepFlag = "--disable-drop-privileges";
    public const string KeepVariable = "VEILTUN_KEEP_PRIVILEGES";
    public const string BoringtunKeepVariable = "WG_SUDO";
    public const string DroppedVariable = "VEILTUN_PRIVILEGES_DROPPED";
    public const string EntryUapiFdVariable = "VEILTUN_ENTRY_UAPI_FD";

    // What the daemon keeps: SO_MARK (fwmark), SIOCSIFMTU and friends need CAP_NET_ADMIN; a listen port below
    // 1024 needs CAP_NET_BIND_SERVICE.
    private const string KeptCapabilities = "-all,+net_admin,+net_bind_service";

    // The waiter. $1 is the pipe's read end (dash takes one-digit descriptors only in redirections, so it reads
    // /dev/fd/N); then pairs "DEV:INO PATH". It ignores the signals a terminal or a service manager sends to the
    // whole group, so that it outlives the daemon it waits for.
    private const string WaiterScript = """
        trap '' HUP INT TERM
        exec </dev/null >/dev/null 2>&1
        cat "/dev/fd/$1"
        shift
        while [ "$#" -ge 2 ]; do
            [ "$(stat -c %d:%i -- "$2" 2>/dev/null)" = "$1" ] && rm -f -- "$2"
            shift 2
        done
        """;

    /// <summary>True unless the flag or one of the variables asks to keep the privileges.</summary>
    public static bool KeepRequested(bool flag) =>
        flag || IsTrue(Environment.GetEnvironmentVariable(KeepVariable)) || IsTrue(Environment.GetEnvironmentVariable(BoringtunKeepVariable));

    private static bool IsTrue(string? value) =>
        !string.IsNullOrEmpty(value) && value.ToLowerInvariant() is not ("0" or "false" or "no" or "off" or "n" or "f");

    /// <summary>Whether this process should drop: it is root (euid 0) and nothing asks to keep root.</summary>
    public static bool ShouldDrop(bool keepFlag) => !KeepRequested(keepFlag) && ProcessHandover.EffectiveUserId == 0;

    /// <summary>
    /// The user to become: the sudo caller (SUDO_UID/SUDO_GID, as boringtun runs as the login user) unless that is
    /// root, else nobody (its uid and primary group from /etc/passwd; 65534:65534 if absent).
    /// </summary>
    public static (uint Uid, uint Gid, string Name) TargetUser()
    {
        if (uint.TryParse(Environment.GetEnvironmentVariable("SUDO_UID"), NumberStyles.None, CultureInfo.InvariantCulture, out uint su) && su != 0 &&
            uint.TryParse(Environment.GetEnvironmentVariable("SUDO_GID"), NumberStyles.None, CultureInfo.InvariantCulture, out uint sg) && sg != 0)
        {
            return (su, sg, Environment.GetEnvironmentVariable("SUDO_USER") ?? su.ToString(CultureInfo.InvariantCulture));
        }

        try
        {
            foreach (var line in File.ReadLines("/etc/passwd"))
            {
                var f = line.Split(':');
                if (f.Length >= 4 && f[0] == "nobody" && uint.TryParse(f[2], out uint uid) && uint.TryParse(f[3], out uint gid) && uid != 0 && gid != 0)
                    return (uid, gid, "nobody");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        return (65534, 65534, "nobody");
    }

    /// <summary>setpriv's absolute path (PATH, then /usr/bin and /bin), or null.</summary>
    public static string? FindSetpriv()
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/bin", "/usr/sbin", "/sbin"]);
        foreach (var d in dirs)
        {
            if (!d.StartsWith('/')) continue;
            var p = Path.Combine(d, "setpriv");
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>
    /// Fails (with why) if <paramref name="directory"/> cannot be searched by everyone: the unprivileged daemon
    /// watches its socket file there (deleting the socket stops it) and would take an unreachable file for a
    /// deleted one.
    /// </summary>
    public static bool CheckDirectory(string directory, out string why)
    {
        try
        {
            if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException();
            var mode = File.GetUnixFileMode(directory);
            if ((mode & UnixFileMode.OtherExecute) != 0)
            {
                why = "";
                return true;
            }
            why = $"the UAPI directory {directory} (mode {Convert.ToString((int)mode, 8)}) is not searchable by others, so the unprivileged " +
                $"daemon could not watch its socket there: make it 0755 (as wireguard-go creates it) or pass {KeepFlag}";
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $"cannot read the mode of {directory}: {e.Message}";
            return false;
        }
    }

    /// <summary>
    /// Fails (with why) if the program's directory, or a directory above it, is not searchable by others, or a
    /// library beside it (libsodium.so) is not readable by others: the unprivileged daemon would start (setpriv
    /// still holds root's capabilities when it executes) but fail to load the library when a key is first set.
    /// </summary>
    public static bool CheckProgramReachable(out string why)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException();
        why = "";
        try
        {
            string baseDir = Path.GetFullPath(AppContext.BaseDirectory);
            for (var d = new DirectoryInfo(baseDir); d is not null; d = d.Parent)
            {
                if ((File.GetUnixFileMode(d.FullName) & UnixFileMode.OtherExecute) == 0)
                {
                    why = $"{d.FullName} is not searchable by others, so the unprivileged daemon could not load its libraries " +
                        $"from {baseDir}: install veiltun elsewhere (scripts/install.sh: /usr/local/lib/veiltun) or pass {KeepFlag}";
                    return false;
                }
            }
            foreach (var lib in Directory.EnumerateFiles(baseDir, "*.so"))
            {
                if ((File.GetUnixFileMode(lib) & UnixFileMode.OtherRead) == 0)
                {
                    why = $"{lib} is not readable by others: make it 0644 or pass {KeepFlag}";
                    return false;
                }
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $"cannot check {AppContext.BaseDirectory}: {e.Message}";
            return false;
        }
    }

    /// <summary>
    /// Starts the waiter for <paramref name="sockets"/> and re-executes this program through setpriv as
    /// <paramref name="user"/>, with <paramref name="inherit"/> (descriptors) and <paramref name="environment"/>.
    /// Returns only on failure, with why; the caller still owns every descriptor then.
    /// </summary>
    public static string HandOver(string setpriv, (uint Uid, uint Gid, string Name) user, IReadOnlyList<string> sockets,
        IReadOnlyList<int> inherit, IReadOnlyList<string> arguments, Dictionary<string, string> environment)
    {
        var self = Environment.ProcessPath;
        if (self is null) return "cannot find own executable";
        // From here only what is made inheritable below reaches the waiter and the daemon.
        ProcessHandover.CloseAllOnExec();
        var (read, write) = ProcessHandover.CreatePipe();
        try
        {
            ProcessHandover.SetInheritable(read, true);
            var waiter = new ProcessStartInfo(setpriv) { UseShellExecute = false };
            foreach (var a in (string[])["--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
                "/bin/sh", "-c", WaiterScript, "veiltun-uapi-waiter", read.ToString(CultureInfo.InvariantCulture)])
            {
                waiter.ArgumentList.Add(a);
            }

            foreach (var s in sockets)
            {
                waiter.ArgumentList.Add(ProcessHandover.FileId(s) ?? "none");
                waiter.ArgumentList.Add(s);
            }
            waiter.Environment.Clear();
            waiter.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
            using (var started = Process.Start(waiter))
            {
                if (started is null) return "cannot start the socket waiter";
            }
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            ProcessHandover.Close(write);
            return $"cannot start the socket waiter: {e.Message}";
        }
        finally
        {
            ProcessHandover.Close(read);
        }

        var argv = new List<string>
        {
            setpriv,
            $"--reuid={user.Uid}", $"--regid={user.Gid}", "--clear-groups",
            $"--inh-caps={KeptCapabilities}", $"--ambient-caps={KeptCapabilities}", $"--bounding-set={KeptCapabilities}",
            "--no-new-privs", "--", self,
        };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") argv.Add(Path.Combine(AppContext.BaseDirectory, "VeilTun.Cli.dll"));
        argv.AddRange(arguments);
        environment[DroppedVariable] = "1";
        try
        {
            ProcessHandover.SetInheritable(write, true);
            foreach (int fd in inherit) ProcessHandover.SetInheritable(fd, true);
            ProcessHandover.Exec(setpriv, argv, environment);
            return "execve returned"; // not reached: Exec throws on failure
        }
        catch (IOException e)
        {
            ProcessHandover.Close(write); // the waiter sees end of file and removes the sockets
            foreach (int fd in inherit) ProcessHandover.SetInheritable(fd, false);
            return e.Message;
        }
    }

    private static readonly string[] s_capabilityNames =
    [
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
        "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
        "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
        "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
        "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
        "checkpoint_restore",
    ];

    /// <summary>
    /// What this process runs with, from /proc/self/status: "uid 65534 gid 65534, capabilities
    /// net_bind_service,net_admin (CapEff 0000000000001400), no_new_privs 1".
    /// </summary>
    public static string Describe()
    {
        var fields = new Dictionary<string, string>();
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                int colon = line.IndexOf(':');
                if (colon > 0) fields[line[..colon]] = line[(colon + 1)..].Trim();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"unknown privileges ({e.Message})";
        }
        string First(string key) => fields.TryGetValue(key, out var v) ? v.Split('\t', ' ')[0] : "?";
        string capEff = fields.GetValueOrDefault("CapEff", "?");
        string names = "?";
        if (ulong.TryParse(capEff, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong bits))
        {
            var list = Enumerable.Range(0, 64).Where(b => (bits & (1UL << b)) != 0)
                .Select(b => b < s_capabilityNames.Length ? s_capabilityNames[b] : $"cap_{b}").ToList();
            names = list.Count == 0 ? "none" : list.Count == s_capabilityNames.Length ? "all" : string.Join(',', list);
        }
        return $"uid {First("Uid")} gid {First("Gid")}, capabilities {names} (CapEff {capEff}), no_new_privs {First("NoNewPrivs")}";
    }
}
