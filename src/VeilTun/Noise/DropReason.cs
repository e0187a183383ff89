namespace VeilTun.Noise;

/// <summary>Why a datagram or packet was dropped. Every drop is counted under one of these.</summary>
public enum DropReason
{
    /// <summary>Not a drop (the default value).</summary>
    None = 0,
    /// <summary>A datagram shorter than the 4-byte WireGuard message header.</summary>
    TooShort,
    /// <summary>A datagram whose length does not fit its message type (or an empty or oversized datagram).</summary>
    InvalidLength,
    /// <summary>A datagram whose message type is not one of WireGuard's four.</summary>
    UnknownType,
    /// <summary>A handshake message whose MAC1 does not match our public key.</summary>
    InvalidMac1,
    /// <summary>A handshake message under load without a valid cookie MAC2.</summary>
    InvalidMac2,
    /// <summary>A handshake message answered with a cookie reply instead (the device is under load).</summary>
    CookieReplySent,
    /// <summary>A handshake message over the per-source rate limit.</summary>
    RateLimited,
    /// <summary>A handshake initiation from a static key that is not a configured peer.</summary>
    UnknownPeer,
    /// <summary>A handshake message that failed to decrypt or verify.</summary>
    InvalidHandshake,
    /// <summary>A handshake initiation whose TAI64N timestamp is not newer than the last accepted one (a replay).</summary>
    ReplayedTimestamp,
    /// <summary>A handshake initiation from a peer within the minimum interval since its last one.</summary>
    InitiationFlood,
    /// <summary>A handshake response that matches no initiation we have in flight.</summary>
    UnexpectedResponse,
    /// <summary>A cookie reply that matches nothing we sent or fails to decrypt.</summary>
    InvalidCookieReply,
    /// <summary>A transport data message whose receiver index names no current session.</summary>
    UnknownIndex,
    /// <summary>A packet for or from a session whose keys are past their lifetime or message limit.</summary>
    KeypairExpired,
    /// <summary>A transport data message that failed authentication.</summary>
    DecryptionFailed,
    /// <summary>A transport data message whose counter was already seen or is outside the replay window.</summary>
    ReplayedCounter,
    /// <summary>A decrypted or TUN packet that is not a well-formed IPv4 or IPv6 packet.</summary>
    InvalidInnerPacket,
    /// <summary>A decrypted packet whose source address is not in the sending peer's AllowedIPs.</summary>
    DisallowedSource,
    /// <summary>A packet from the TUN whose destination is in no peer's AllowedIPs.</summary>
    NoRoute,
    /// <summary>A packet for a peer whose endpoint is not known yet.</summary>
    NoEndpoint,
    /// <summary>A packet pushed out of a peer's bounded queue of packets waiting for a handshake (the oldest goes).</summary>
    StagedQueueFull,
    /// <summary>A packet that waited for a handshake that did not complete after all its attempts.</summary>
    HandshakeGaveUp,
    /// <summary>A packet or handshake while the device has no private key.</summary>
    NoPrivateKey,
    /// <summary>A packet for which no pooled buffer was free.</summary>
    PoolExhausted,
    /// <summary>A packet or datagram while the device is down.</summary>
    DeviceDown,
    /// <summary>A packet larger than the MTU or the buffers can carry.</summary>
    PacketTooBig,
    /// <summary>A handshake message dropped because the handshake queue is full.</summary>
    HandshakeQueueFull,
    /// <summary>A datagram the UDP transport failed to send.</summary>
    SendFailed,
    /// <summary>A decrypted packet the TUN failed to write.</summary>
    TunWriteFailed,

    /// <summary>
    /// A packet from the TUN that is one of our own datagrams to the peer it routes to: the peer's endpoint is routed
    /// into the tunnel itself. Sending it would loop forever, each round a layer deeper.
    /// </summary>
    RoutingLoop,
    /// <summary>A packet dropped by a last-resort handler after an unexpected exception (a bug: please report it).</summary>
    Internal,
}
