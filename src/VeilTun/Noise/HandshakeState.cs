namespace VeilTun.Noise;

/// <summary>Where a peer's handshake stands (wireguard-go handshakeState; kernel noise.h).</summary>
internal enum HandshakeState
{
    Zeroed,
    InitiationCreated,
    InitiationConsumed,
    ResponseCreated,
    ResponseConsumed,
}
