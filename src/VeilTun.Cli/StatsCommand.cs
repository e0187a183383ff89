using System.Net.Sockets;
using System.Text;

namespace VeilTun.Cli;

/// <summary>`veiltun stats IFNAME`: reads the UAPI socket and prints what wg(8) does not show: drops by reason.</summary>
internal static class StatsCommand
{
    public static int Run(string interfaceName)
    {
        var path = Path.Combine("/var/run/wireguard", interfaceName + ".sock");
        string text;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(path));
            socket.Send("get=1\n\n"u8);
            var sb = new StringBuilder();
            var buffer = new byte[65536];
            while (!sb.ToString().Contains("errno="))
            {
                int n = socket.Receive(buffer);
                if (n == 0) break;
                sb.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }
            text = sb.ToString();
        }
        catch (SocketException ex)
        {
            Console.Error.WriteLine($"veiltun stats: {path}: {ex.Message}");
            return 1;
        }
        Console.WriteLine($"interface: {interfaceName}");
        string? peer = null;
        bool anyDrop = false;
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
                case "endpoint" or "tx_bytes" or "rx_bytes" or "last_handshake_time_sec" when peer is not null:
                    Console.WriteLine($"  {key}: {value}");
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
        return text.Contains("errno=0") ? 0 : 1;
    }
}
