namespace VeilTun.Uapi;

/// <summary>
/// What the UAPI protocol layer needs from the device. <see cref="UapiListener"/> serves connections concurrently,
/// so every member may be called from several threads at once; the device serialises <see cref="Get"/> and
/// <see cref="Set"/> itself (wireguard-go holds one <c>ipcMutex</c> for both).
/// </summary>
public interface IUapiHandler
{
    /// <summary>
    /// Takes a consistent snapshot for a <c>get=1</c> request. Exceptions become <c>errno=-55</c>. The snapshot is
    /// the caller's: its keys are zeroed once the reply is sent (<see cref="DeviceSnapshot.ClearSecrets"/>), so
    /// hand over copies.
    /// </summary>
    DeviceSnapshot Get();

    /// <summary>
    /// Applies a fully parsed <c>set=1</c> request. Returns null on success or the errno to report (e.g.
    /// <see cref="UapiError.PortInUse"/> when the new listen port cannot be bound). Exceptions become
    /// <c>errno=-55</c>. The request is not used by the caller afterwards; its secrets are cleared after this returns.
    /// </summary>
    UapiError? Set(SetRequest request);

    /// <summary>True when an extension accepts this unknown device key (default: none).</summary>
    bool IsExtensionDeviceKey(string key) => false;

    /// <summary>True when an extension accepts this unknown peer key (default: none).</summary>
    bool IsExtensionPeerKey(string key) => false;

    /// <summary>
    /// Called for every failed request and dropped connection, with a message for the log (wg-go logs these at
    /// error level). Default: ignored.
    /// </summary>
    void OnError(string message)
    {
    }
}
