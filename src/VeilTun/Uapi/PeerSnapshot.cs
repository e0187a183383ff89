using System.Net;
using VeilTun.Udp;

namespace VeilTun.Uapi;

/// <summary>One peer of a <see cref="DeviceSnapshot"/>. A plain data holder; not thread-safe.</summary>
public sealed class PeerSnapshot
{
    /// <summary>The peer's public key, 32 bytes.</summary>
    public required byte[] PublicKey { get; init; }

    /// <summary>The preshared key (32 bytes), or null (or all zeros) for none. The get output always prints it.</summary>
    public byte[]? PresharedKey { get; set; }

    /// <summary>The current endpoint; <see cref="NetEndpoint.IsNone"/> when unknown (then not printed).</summary>
    public NetEndpoint Endpoint { get; set; }

    /// <summary>Time of the last completed handshake as Unix time (seconds, nanoseconds 0..999999999); (0, 0) if never.</summary>
    public (long Seconds, long Nanoseconds) LastHandshakeTime { get; set; }

    /// <summary>Bytes sent: whole UDP payloads, handshakes included, as wireguard-go counts them.</summary>
    public ulong TxBytes { get; set; }

    /// <summary>Bytes received: whole UDP payloads, handshakes included.</summary>
    public ulong RxBytes { get; set; }

    /// <summary>Persistent keepalive interval in seconds (0 = off).</summary>
    public int PersistentKeepaliveInterval { get; set; }

    /// <summary>Allowed IPs; host bits are cleared when printed.</summary>
    public List<(IPAddress Address, int PrefixLength)> AllowedIps { get; } = new();

    /// <summary>
    /// Extra peer keys printed after the standard ones (after the allowed_ip lines). Same rules as
    /// <see cref="DeviceSnapshot.ExtraKeys"/>.
    /// </summary>
    public List<KeyValuePair<string, string>> ExtraKeys { get; } = new();
}
