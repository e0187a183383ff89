namespace VeilTun.Noise;

/// <summary>Why a datagram or packet was dropped. Every drop is counted under one of these.</summary>
public enum DropReason
{
    None = 0,
    TooShort,
    InvalidLength,
    UnknownType,
    InvalidMac1,
    InvalidMac2,
    CookieReplySent,
    RateLimited,
    UnknownPeer,
    InvalidHandshake,
    ReplayedTimestamp,
    InitiationFlood,
    UnexpectedResponse,
    InvalidCookieReply,
    UnknownIndex,
    KeypairExpired,
    DecryptionFailed,
    ReplayedCounter,
    InvalidInnerPacket,
    DisallowedSource,
    NoRoute,
    NoEndpoint,
    StagedQueueFull,
    HandshakeGaveUp,
    NoPrivateKey,
    PoolExhausted,
    DeviceDown,
    PacketTooBig,
    HandshakeQueueFull,
    SendFailed,
    TunWriteFailed,

    /// <summary>
    /// A packet from the TUN that is one of our own datagrams to the peer it routes to: the peer's endpoint is routed
    /// into the tunnel itself. Sending it would loop forever, each round a layer deeper.
    /// </summary>
    RoutingLoop,
    Internal,
}
