using VeilTun.Udp;

namespace VeilTun.Uapi;

/// <summary>
/// The lines of one peer section of a set request (from a <c>public_key=</c> line to the next one).
/// Semantics follow wireguard-go's <c>handlePeerLine</c>:
/// <list type="bullet">
/// <item>A section whose <see cref="PublicKey"/> equals the device's own public key (after this request's
/// private_key, if any) is ignored entirely; its values were still validated.</item>
/// <item><see cref="Remove"/>: remove the peer. Lines after <c>remove=true</c> are validated but not recorded; lines
/// before it are kept here, because wg-go applies them (an allowed_ip moved to the peer is then lost with it).</item>
/// <item><see cref="UpdateOnly"/>: if the peer does not exist yet, ignore the whole section instead of creating it.</item>
/// <item><see cref="ReplaceAllowedIps"/>: drop the peer's existing prefixes before adding <see cref="AllowedIps"/>;
/// allowed_ip lines that came before <c>replace_allowed_ips=true</c> in the same section are already discarded here.</item>
/// </list>
/// When the section ends and the device is up, wg-go starts the peer, sends a keepalive if the persistent keepalive
/// went from 0 to non-zero, and flushes staged packets.
/// Not thread-safe.
/// </summary>
public sealed class PeerChange
{
    /// <summary>The peer's public key, 32 bytes.</summary>
    public required byte[] PublicKey { get; init; }

    /// <summary>Remove this peer (<c>remove=true</c>).</summary>
    public bool Remove { get; set; }

    /// <summary>Only update an existing peer, never create one (<c>update_only=true</c>).</summary>
    public bool UpdateOnly { get; set; }

    /// <summary>New preshared key (32 bytes; all zeros = none), or null to leave it.</summary>
    public byte[]? PresharedKey { get; set; }

    /// <summary>New endpoint, or null to leave it.</summary>
    public NetEndpoint? Endpoint { get; set; }

    /// <summary>New persistent keepalive interval in seconds (0 = off, up to 65535), or null to leave it.</summary>
    public int? PersistentKeepaliveInterval { get; set; }

    /// <summary>Remove all of the peer's allowed IPs before applying <see cref="AllowedIps"/>.</summary>
    public bool ReplaceAllowedIps { get; set; }

    /// <summary>Prefixes to add or remove, in request order.</summary>
    public List<AllowedIpChange> AllowedIps { get; } = new();

    /// <summary>
    /// Peer-section keys unknown to the core that an extension declared acceptable, in request order (a key may
    /// repeat). Their values are not validated here.
    /// </summary>
    public List<KeyValuePair<string, string>> ExtensionKeys { get; } = new();

    /// <summary>DAITA settings to enable (library API, or folded from the <c>daita_*</c> UAPI keys); null = unchanged.</summary>
    public Daita.DaitaSettings? Daita { get; set; }

    /// <summary>Turn DAITA off for this peer (<c>daita_enable=0</c>).</summary>
    public bool DisableDaita { get; set; }
}
