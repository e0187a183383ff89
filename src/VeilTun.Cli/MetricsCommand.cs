using System.Net.Sockets;
using VeilTun.Diagnostics;

namespace VeilTun.Cli;

/// <summary>
/// `veiltun metrics IFNAME...`: reads each running interface's UAPI socket (as `veiltun stats`) and prints the
/// counters in Prometheus' text exposition format, under the same names the library's VeilTun meter gets from
/// OpenTelemetry's exporters (docs/metrics.md). For node_exporter's textfile collector or a one-line HTTP wrapper.
/// </summary>
internal static class MetricsCommand
{
    public static int Run(IReadOnlyList<string> interfaceNames)
    {
        var snapshots = new List<TunnelMetricsSnapshot>();
        foreach (var name in interfaceNames)
        {
            string text;
            try
            {
                text = UapiClient.Transact(name, "get=1\n\n");
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                Console.Error.WriteLine($"veiltun metrics: {name}: {ex.Message}");
                return 1;
            }
            if (!text.Contains("errno=0", StringComparison.Ordinal))
            {
                Console.Error.WriteLine($"veiltun metrics: {name}: get failed");
                return 1;
            }
            snapshots.Add(TunnelMetricsSnapshot.ParseUapi(name, text, DateTimeOffset.UtcNow));
        }
        // All or nothing: a textfile collector must never read half a file, so the text is written in one go.
        Console.Out.Write(PrometheusText.Format(snapshots));
        Console.Out.Flush();
        return 0;
    }
}
