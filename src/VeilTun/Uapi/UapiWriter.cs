using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using VeilTun.Crypto;

namespace VeilTun.Uapi;

/// <summary>
/// Writes the body of a UAPI <c>get=1</c> reply in wireguard-go's order and format (<c>IpcGetOperation</c>): <c>private_key</c> (if set), <c>listen_port</c> (if not 0), <c>fwmark</c> (if not 0), the
/// device's extra keys, then per peer <c>public_key</c>, <c>preshared_key</c> (always), <c>protocol_version=1</c>,
/// <c>endpoint</c> (if known), <c>last_handshake_time_sec</c>, <c>last_handshake_time_nsec</c>, <c>tx_bytes</c>,
/// <c>rx_bytes</c>, <c>persistent_keepalive_interval</c>, one <c>allowed_ip</c> per prefix, the peer's extra keys.
/// Lines end in '\n'. The final <c>errno=0</c> and empty line are the protocol layer's job.
/// Stateless and thread-safe. Key text goes through buffers it wipes, never through a string; the
/// <see cref="TextWriter"/> given is the caller's to wipe (<see cref="UapiProtocol"/> uses one that does).
/// </summary>
internal static class UapiWriter
{
    /// <summary>Writes the get output for <paramref name="snapshot"/> to <paramref name="writer"/>.</summary>
    /// <exception cref="ArgumentException">A key is not 32 bytes, a prefix length is out of range, or an extra key
    /// is not a valid key name.</exception>
    public static void WriteGet(DeviceSnapshot snapshot, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        ArgumentNullException.ThrowIfNull(writer);
        var sb = new StringBuilder(256);
        try
        {
            if (snapshot.PrivateKey is { } sk && !IsZero(sk)) AppendKey(sb, "private_key", sk);
            if (snapshot.ListenPort != 0) AppendNumber(sb, "listen_port", snapshot.ListenPort);
            if (snapshot.Fwmark != 0) AppendNumber(sb, "fwmark", snapshot.Fwmark);
            AppendExtra(sb, snapshot.ExtraKeys);
            Flush(sb, writer);

            foreach (var peer in snapshot.Peers)
            {
                AppendKey(sb, "public_key", peer.PublicKey);
                AppendKey(sb, "preshared_key", peer.PresharedKey ?? new byte[KeyEncoding.KeySize]);
                sb.Append("protocol_version=1\n");
                if (!peer.Endpoint.IsNone)
                {
                    sb.Append("endpoint=");
                    IpText.AppendEndpoint(sb, peer.Endpoint, glibcStyle: false);
                    sb.Append('\n');
                }
                AppendNumber(sb, "last_handshake_time_sec", peer.LastHandshakeTime.Seconds);
                AppendNumber(sb, "last_handshake_time_nsec", peer.LastHandshakeTime.Nanoseconds);
                AppendNumber(sb, "tx_bytes", peer.TxBytes);
                AppendNumber(sb, "rx_bytes", peer.RxBytes);
                AppendNumber(sb, "persistent_keepalive_interval", peer.PersistentKeepaliveInterval);
                foreach (var (address, prefixLength) in peer.AllowedIps)
                {
                    sb.Append("allowed_ip=");
                    IpText.AppendPrefix(sb, address, prefixLength, glibcStyle: false);
                    sb.Append('\n');
                    if (sb.Length > 16 * 1024) Flush(sb, writer);
                }
                AppendExtra(sb, peer.ExtraKeys);
                Flush(sb, writer);
            }
        }
        finally
        {
            Wipe(sb);
        }
    }

    // The builder held key hex: its chunks are wiped before they are let go (Clear keeps or drops them).
    private static void Flush(StringBuilder sb, TextWriter writer)
    {
        foreach (var chunk in sb.GetChunks()) writer.Write(chunk.Span);
        Wipe(sb);
    }

    private static void Wipe(StringBuilder sb)
    {
        foreach (var chunk in sb.GetChunks()) MemoryMarshal.AsMemory(chunk).Span.Clear();
        sb.Clear();
    }

    private static void AppendKey(StringBuilder sb, string name, byte[] key)
    {
        if (key.Length != KeyEncoding.KeySize)
            throw new ArgumentException($"{name} must be {KeyEncoding.KeySize} bytes, not {key.Length}");
        Span<char> hex = stackalloc char[2 * KeyEncoding.KeySize];
        KeyEncoding.WriteHex(key, hex);
        sb.Append(name).Append('=').Append(hex).Append('\n');
        CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(hex));
    }

    private static void AppendNumber(StringBuilder sb, string name, long value) =>
        sb.Append(name).Append('=').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    private static void AppendNumber(StringBuilder sb, string name, ulong value) =>
        sb.Append(name).Append('=').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    private static void AppendExtra(StringBuilder sb, List<KeyValuePair<string, string>> extra)
    {
        foreach (var (key, value) in extra)
        {
            if (string.IsNullOrEmpty(key) || key.AsSpan().IndexOfAny('=', '\n') >= 0)
                throw new ArgumentException($"invalid extra key \"{IpText.Escape(key)}\"");
            if (value is null || value.Contains('\n'))
                throw new ArgumentException($"invalid value for extra key \"{IpText.Escape(key)}\"");
            sb.Append(key).Append('=').Append(value).Append('\n');
        }
    }

    private static bool IsZero(byte[] key) => key.AsSpan().IndexOfAnyExcept((byte)0) < 0;
}
