using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace VeilTun.Cli;

/// <summary>A minimal client of a running interface's UAPI socket (/var/run/wireguard/IFNAME.sock).</summary>
internal static class UapiClient
{
    private static readonly byte[] s_errno = "errno="u8.ToArray();
    private static readonly byte[][] s_secretKeys = ["private_key="u8.ToArray(), "preshared_key="u8.ToArray()];

    /// <summary>
    /// Sends one request (ending in an empty line) and returns the reply up to and including its errno line, without
    /// its <c>private_key</c> and <c>preshared_key</c> lines: the commands that use this (stats, metrics, daita)
    /// never need them, and a string cannot be wiped. The bytes received are zeroed before returning.
    /// Throws <see cref="IOException"/> when the socket does not exist, <see cref="SocketException"/> when it cannot be used.
    /// </summary>
    public static string Transact(string interfaceName, string request)
    {
        var path = Path.Combine("/var/run/wireguard", interfaceName + ".sock");
        if (!File.Exists(path)) throw new IOException($"{path} does not exist: is the interface running?");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(path));
        socket.Send(Encoding.UTF8.GetBytes(request));
        byte[] reply = new byte[65536];
        int length = 0;
        try
        {
            while (reply.AsSpan(0, length).IndexOf(s_errno) < 0)
            {
                if (length == reply.Length)
                {
                    var bigger = new byte[reply.Length * 2];
                    reply.AsSpan(0, length).CopyTo(bigger);
                    CryptographicOperations.ZeroMemory(reply);
                    reply = bigger;
                }
                int n = socket.Receive(reply, length, reply.Length - length, SocketFlags.None);
                if (n == 0) break;
                length += n;
            }
            return WithoutSecrets(reply.AsSpan(0, length));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(reply);
        }
    }

    /// <summary>The reply's text, less the lines that carry keys.</summary>
    internal static string WithoutSecrets(ReadOnlySpan<byte> reply)
    {
        var text = new StringBuilder(reply.Length);
        while (!reply.IsEmpty)
        {
            int end = reply.IndexOf((byte)'\n');
            var line = end < 0 ? reply : reply[..(end + 1)];
            reply = reply[line.Length..];
            bool secret = false;
            foreach (var key in s_secretKeys) secret |= line.StartsWith(key);
            if (!secret) text.Append(Encoding.UTF8.GetString(line));
        }
        return text.ToString();
    }
}
