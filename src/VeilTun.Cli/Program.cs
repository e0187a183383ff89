using System.Reflection;
using VeilTun.Cli;

// veiltun's command line. The daemon form mirrors wireguard-go: `veiltun [-f|--foreground] IFNAME`.
// The version is the library's (VersionPrefix in Directory.Build.props, the NuGet package's version too), without
// the "+commit" SourceLink appends.
var version = typeof(VeilTun.Device.Tunnel).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
version = version.Split('+')[0];

// Environment variables that choose library options are mapped here, before the library is used.
AeadEnvironment.Apply();

switch (args)
{
    case ["--version"]:
        // wireguard-go's words ("for linux-amd64"), with the architecture this build runs on (Go's names).
        string arch = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.X64 => "amd64",
            System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
            var other => other.ToString().ToLowerInvariant(),
        };
        Console.WriteLine($"veiltun v{version}\n\nUserspace WireGuard daemon for linux-{arch}, in C#/.NET.\n" +
            $"ChaCha20-Poly1305: {VeilTun.Crypto.ChaCha20Poly1305Context.ImplementationName}\nInformation: README.md of the VeilTun repository.");
        return 0;
    case ["demo", "--in-process"]:
        return InProcessDemo.Run();
    case ["stats", var ifname]:
        return StatsCommand.Run(ifname);
    case ["metrics", _, ..]:
        return MetricsCommand.Run(args[1..]);
    case ["daita", ..]:
        return DaitaCommand.Run(args[1..]);
    case [_, ..] when args[0] is not ("-h" or "--help" or "demo" or "stats" or "metrics" or "daita"):
        {
            var parsed = DaemonCommand.Parse(args, out var parseError);
            if (parsed is null)
            {
                Console.Error.WriteLine($"veiltun: {parseError}");
                return 2;
            }
            return DaemonCommand.Run(parsed, args);
        }
    default:
        // As wireguard-go: a wrong argument count prints the usage and exits 0... but -h/--help is the only
        // way to get here on purpose, so say what exists.
        Console.WriteLine("""
            Usage: veiltun [-f/--foreground] INTERFACE-NAME
                   veiltun [-f] --via ENTRY-NAME --entry-address ADDR[,ADDR6] [--entry-mtu N] INTERFACE-NAME
                                                      multihop: INTERFACE-NAME's WireGuard rides inside ENTRY-NAME's
                   --disable-drop-privileges          (or VEILTUN_KEEP_PRIVILEGES=1, or WG_SUDO=1) keep running as
                                                      root; by default, once the TUN and UAPI socket exist, the
                                                      daemon runs as $SUDO_UID or nobody with only CAP_NET_ADMIN and
                                                      CAP_NET_BIND_SERVICE and no_new_privs (docs/privileges.md)
                   veiltun stats INTERFACE-NAME       drops by reason and per-peer counters
                   veiltun metrics INTERFACE-NAME...  the counters in Prometheus' text format (docs/metrics.md)
                   veiltun daita inspect|set|off ...  DAITA machines and per-peer settings (veiltun daita for help)
                   veiltun demo --in-process          two in-process peers, every message printed
                   veiltun --version
            """);
        return args is [] or ["-h"] or ["--help"] ? 0 : 2;
}
