using System.Net.Sockets;

namespace VeilTun.Cli;

/// <summary>`veiltun stats IFNAME`: reads the UAPI socket and prints what wg(8) does not show: drops by
/// reason and the daemon process's managed heap.</summary>
internal static class StatsCommand
{
    public static int Run(string interfaceName)
    {
        string text;
        try
        {
            text = UapiClient.Transact(interfaceName, "get=1\n\n");
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            Console.Error.WriteLine($"veiltun stats: {interfaceName}: {ex.Message}");
            return 1;
        }
        Console.WriteLine($"interface: {interfaceName}");
        string? peer = null;
        bool anyDrop = false;
        var process = new List<string>(); // the daemon's memory figures (managed heap as of the last GC, etc.)
        foreach (var line in text.Split('\n'))
        {
            int eq = line.IndexOf('=');
            if (eq < 0) continue;
            var (key, value) = (line[..eq], line[(eq + 1)..]);
            switch (key)
            {
                case "public_key":
                    peer = Convert.ToBase64String(Convert.FromHexString(value));
                    Console.WriteLine($"\npeer: {peer}");
                    break;
                case "endpoint" or "tx_bytes" or "rx_bytes" or "last_handshake_time_sec" or "daita_rx_padding_bytes"
                    or "daita_tx_padding_bytes" or "daita_rx_decoy_packet_bytes" or "daita_tx_decoy_packet_bytes" when peer is not null:
                    Console.WriteLine($"  {key}: {value}");
                    break;
                case "veiltun_gc_heap_bytes" or "veiltun_gc_live_bytes" or "veiltun_gc_fragmented_bytes" or "veiltun_gc_allocated_bytes"
                    or "veiltun_gc_committed_bytes" or "veiltun_gc_collections" or "veiltun_thread_pool_threads":
                    process.Add($"  {key["veiltun_".Length..]}: {value}");
                    break;
                default:
                    if (key.StartsWith("veiltun_drop_"))
                    {
                        if (!anyDrop) Console.WriteLine("drops:");
                        anyDrop = true;
                        Console.WriteLine($"  {key["veiltun_drop_".Length..]}: {value}");
                    }
                    break;
            }
        }
        if (!anyDrop) Console.WriteLine("drops: none");
        if (process.Count > 0)
        {
            Console.WriteLine("process:");
            foreach (var line in process) Console.WriteLine(line);
        }
        return text.Contains("errno=0") ? 0 : 1;
    }
}
