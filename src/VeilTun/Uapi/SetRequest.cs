using System.Security.Cryptography;

namespace VeilTun.Uapi;

/// <summary>
/// A fully parsed UAPI <c>set=1</c> request (or the equivalent of <c>wg setconf</c>), built before anything is
/// applied so the device can apply it as one unit.
/// <para>
/// Order of application that reproduces wireguard-go (<c>device/uapi.go</c> <c>IpcSetOperation</c>): the device
/// keys first (<see cref="PrivateKey"/>, <see cref="ListenPort"/>, <see cref="Fwmark"/>, <see cref="ReplacePeers"/>
/// and <see cref="ExtensionKeys"/>), then each entry of <see cref="Peers"/> in order. The same public key may appear in
/// more than one entry; later entries see the effect of earlier ones.
/// </para>
/// Not thread-safe; owned by whoever parsed it until handed to the device. Holds secrets: call
/// <see cref="ClearSecrets"/> when done.
/// </summary>
public sealed class SetRequest
{
    /// <summary>
    /// New private key (32 bytes), or null to leave it. All zeros clears the key. A non-zero key is already clamped
    /// (RFC 7748 §5, as wg-go's <c>FromMaybeZeroHex</c> does), so the device stores and reports it as given.
    /// The device must also drop any peer whose public key equals the new public key (wg-go <c>SetPrivateKey</c>).
    /// </summary>
    public byte[]? PrivateKey { get; set; }

    /// <summary>New UDP listen port (0 = pick a random one), or null to leave it.</summary>
    public int? ListenPort { get; set; }

    /// <summary>New fwmark (0 = none), or null to leave it.</summary>
    public uint? Fwmark { get; set; }

    /// <summary>Remove every existing peer before applying <see cref="Peers"/>.</summary>
    public bool ReplacePeers { get; set; }

    /// <summary>Per-peer changes, in request order.</summary>
    public List<PeerChange> Peers { get; } = new();

    /// <summary>
    /// Device-section keys unknown to the core that an extension declared acceptable, in request order (a key may
    /// repeat). Their values are not validated here.
    /// </summary>
    public List<KeyValuePair<string, string>> ExtensionKeys { get; } = new();

    /// <summary>Zeroes <see cref="PrivateKey"/> and every peer's preshared key in place.</summary>
    public void ClearSecrets()
    {
        if (PrivateKey is not null) CryptographicOperations.ZeroMemory(PrivateKey);
        foreach (var peer in Peers)
        {
            if (peer.PresharedKey is not null) CryptographicOperations.ZeroMemory(peer.PresharedKey);
        }
    }
}
