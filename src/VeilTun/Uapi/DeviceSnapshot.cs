namespace VeilTun.Uapi;

/// <summary>
/// The device state printed for a UAPI <c>get=1</c> (by <see cref="UapiWriter"/>) and by <c>wg showconf</c>
/// (<see cref="WgConfigFile.Write"/>). A plain data holder filled by the device under its own lock; not thread-safe.
/// Holds secrets: <see cref="ClearSecrets"/> zeroes <see cref="PrivateKey"/> and the peers' preshared keys, which
/// <see cref="UapiProtocol"/> calls once a get reply is sent: an <see cref="IUapiHandler.Get"/> hands over copies.
/// </summary>
public sealed class DeviceSnapshot
{
    /// <summary>The private key (32 bytes), or null (or all zeros) when none is set.</summary>
    public byte[]? PrivateKey { get; set; }

    /// <summary>The UDP port actually bound (0 = not bound; then not printed).</summary>
    public int ListenPort { get; set; }

    /// <summary>The fwmark (0 = none; then not printed).</summary>
    public uint Fwmark { get; set; }

    /// <summary>The peers, in the order to print them.</summary>
    public List<PeerSnapshot> Peers { get; } = new();

    /// <summary>
    /// Extra device keys printed after the standard ones (for extensions). wg(8) ignores keys it does not know.
    /// Keys must be non-empty and contain no '=' or newline; values no newline.
    /// </summary>
    public List<KeyValuePair<string, string>> ExtraKeys { get; } = new();

    /// <summary>Zeroes the private key and every peer's preshared key (the arrays stay, all zeros).</summary>
    public void ClearSecrets()
    {
        if (PrivateKey is { } key) System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        foreach (var peer in Peers)
            if (peer.PresharedKey is { } psk) System.Security.Cryptography.CryptographicOperations.ZeroMemory(psk);
    }
}
