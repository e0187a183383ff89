using System.Reflection;
using VeilTun.Cli;

// veiltun's command line. The daemon form mirrors wireguard-go: `veiltun [-f|--foreground] IFNAME`.
var version = typeof(InProcessDemo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
version = version.Split('+')[0];

if (args is ["--version"])
{
    Console.WriteLine($"veiltun v{version}\n\nUserspace WireGuard daemon for linux-amd64, in C#/.NET.");
    return 0;
}
if (args is ["demo", "--in-process"] or ["demo"])
    return InProcessDemo.Run();

Console.WriteLine($"""
    Usage: veiltun [-f/--foreground] INTERFACE-NAME
           veiltun demo --in-process
           veiltun --version
    """);
return args is [] or ["--help"] or ["-h"] ? 0 : 0;
