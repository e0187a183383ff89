using System.Reflection;
using VeilTun.Cli;

// veiltun's command line. The daemon form mirrors wireguard-go: `veiltun [-f|--foreground] IFNAME`.
var version = typeof(InProcessDemo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
version = version.Split('+')[0];

switch (args)
{
    case ["--version"]:
        Console.WriteLine($"veiltun v{version}\n\nUserspace WireGuard daemon for linux-amd64, in C#/.NET.\nInformation: README.md of the VeilTun repository.");
        return 0;
    case ["demo", "--in-process"]:
        return InProcessDemo.Run();
    case ["stats", var ifname]:
        return StatsCommand.Run(ifname);
    case ["-f" or "--foreground", var ifname]:
        return DaemonCommand.Run(ifname, foreground: true);
    case [var ifname] when !ifname.StartsWith('-'):
        return DaemonCommand.Run(ifname, foreground: false);
    default:
        // As wireguard-go: a wrong argument count prints the usage and exits 0... but -h/--help is the only
        // way to get here on purpose, so say what exists.
        Console.WriteLine("""
            Usage: veiltun [-f/--foreground] INTERFACE-NAME
                   veiltun stats INTERFACE-NAME       drops by reason and per-peer counters
                   veiltun demo --in-process          two in-process peers, every message printed
                   veiltun --version
            """);
        return args is [] or ["-h"] or ["--help"] ? 0 : 2;
}
