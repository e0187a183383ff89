namespace VeilTun.Noise;

/// <summary>Where a peer's handshake stands (wireguard-go handshakeState; kernel noise.h).</summary>
public enum HandshakeState
{
    Zeroed,
    InitiationCreated,
    InitiationConsumed,
    ResponseCreated,
    ResponseConsumed,
}
