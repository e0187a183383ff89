using VeilTun.Buffers;
using VeilTun.Udp;

namespace VeilTun.Noise;

/// <summary>
/// What the sans-IO <see cref="ProtocolEngine"/> asks its host to do. The engine never touches sockets, the
/// TUN, threads or clocks; it calls these synchronously from within the call that caused them.
/// </summary>
internal interface IProtocolOutput
{
    /// <summary>
    /// Send <paramref name="datagram"/>'s data as one UDP datagram to <paramref name="destination"/>, from
    /// <paramref name="source"/> if it names a local address. Takes ownership of the buffer.
    /// <paramref name="peer"/> is null for cookie replies to unknown senders. Returns true when the datagram was
    /// handed to the network (only those count in the peer's tx bytes, as wireguard-go).
    /// </summary>
    bool SendDatagram(PacketBuffer datagram, NetEndpoint destination, in PacketInfo source, Peer? peer);

    /// <summary>
    /// Seal <paramref name="packet"/> (an IP packet, or empty for a keepalive) with <paramref name="keypair"/> at
    /// <paramref name="nonce"/> and send it to the peer. Called in nonce order; a host that seals on worker threads
    /// must send each peer's datagrams in the order of these calls. The default seals inline
    /// (<see cref="ProtocolEngine.Encrypt"/>) and calls <see cref="SendDatagram"/>. Takes ownership of the buffer.
    /// </summary>
    bool SealAndSend(PacketBuffer packet, Keypair keypair, ulong nonce, Peer peer, int mtu)
    {
        if (ProtocolEngine.Encrypt(packet, keypair, nonce, mtu)) return SendDatagram(packet, peer.Endpoint, peer.Source, peer);
        packet.Return(); // the keypair was wiped meanwhile
        return false;
    }

    /// <summary>Write the decrypted IP packet in <paramref name="packet"/>'s data to the TUN. Takes ownership.</summary>
    void DeliverPacket(PacketBuffer packet, Peer peer);

    /// <summary>Something a user may want to know (handshake done, endpoint changed, a drop).</summary>
    void OnEvent(in ProtocolEvent e);
}

/// <summary>Kinds of <see cref="ProtocolEvent"/>.</summary>
internal enum ProtocolEventKind
{
    HandshakeInitiationSent,
    HandshakeResponseSent,
    HandshakeCompleted,
    CookieReplySent,
    CookieReplyReceived,
    EndpointChanged,
    KeypairsZeroed,
    HandshakeGaveUp,
    Dropped,
}

/// <summary>An event from the engine; <see cref="Reason"/> is set for drops.</summary>
internal readonly record struct ProtocolEvent(ProtocolEventKind Kind, Peer? Peer, DropReason Reason = DropReason.None);
