namespace VeilTun.Noise;

/// <summary>
/// Per-peer state that the host running a <see cref="ProtocolEngine"/> keeps in <see cref="Peer.Slot"/>; released
/// when the peer is removed, so nothing the host keeps per peer outlives it.
/// </summary>
internal interface IPeerSlot
{
    /// <summary>The peer was removed from the engine (called under whatever serialises the engine).</summary>
    void Release();
}
