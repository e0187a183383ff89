using System.Net.Sockets;
using System.Text;

namespace VeilTun.Cli;

/// <summary>A minimal client of a running interface's UAPI socket (/var/run/wireguard/IFNAME.sock).</summary>
internal static class UapiClient
{
    /// <summary>
    /// Sends one request (ending in an empty line) and returns the reply up to and including its errno line.
    /// Throws <see cref="IOException"/> when the socket does not exist, <see cref="SocketException"/> when it cannot be used.
    /// </summary>
    public static string Transact(string interfaceName, string request)
    {
        var path = Path.Combine("/var/run/wireguard", interfaceName + ".sock");
        if (!File.Exists(path)) throw new IOException($"{path} does not exist: is the interface running?");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(path));
        socket.Send(Encoding.UTF8.GetBytes(request));
        var sb = new StringBuilder();
        var buffer = new byte[65536];
        while (!sb.ToString().Contains("errno="))
        {
            int n = socket.Receive(buffer);
            if (n == 0) break;
            sb.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }
        return sb.ToString();
    }
}
