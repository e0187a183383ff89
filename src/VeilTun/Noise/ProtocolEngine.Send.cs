using System.Buffers.Binary;
using VeilTun.Buffers;
using VeilTun.Packets;
using VeilTun.Udp;

namespace VeilTun.Noise;

// Outbound flow (wireguard-go device/send.go; kernel send.c):
//   packet from the TUN → inner destination → peer (cryptokey routing) → staged queue (bounded, oldest dropped)
//   → if a usable current keypair exists: nonce, pad to 16 (capped at MTU), seal in place behind a 16-byte
//   header written into the buffer's headroom → output; otherwise an initiation (rate-limited per peer).
internal sealed partial class ProtocolEngine
{
    /// <summary>The last exception caught by a last-resort handler (counted as <see cref="DropReason.Internal"/>).</summary>
    public Exception? LastInternalError { get; private set; }

    /// <summary>
    /// Sends an IP packet read from the TUN (the buffer's data starts at the IP header; it needs 16 bytes of
    /// headroom and 31 of tailroom). Takes ownership of <paramref name="packet"/>.
    /// </summary>
    public void SendPacket(PacketBuffer packet, TimeSpan now)
    {
        try
        {
            if (!IsUp)
            {
                Drop(DropReason.DeviceDown, null, packet);
                return;
            }
            var data = packet.DataInPlace; // the IP header is always in place (a spliced payload is not read here)
            if (!IpPacket.TryRead(data, out var ip))
            {
                Drop(DropReason.InvalidInnerPacket, null, packet);
                return;
            }
            var peer = AllowedIps.Lookup(ip.Destination);
            if (peer is null)
            {
                Drop(DropReason.NoRoute, null, packet);
                return;
            }
            if (packet.Headroom < Messages.TransportHeaderSize || packet.Tailroom < Protocol.PaddingMultiple - 1 + Messages.TagSize)
            {
                Drop(DropReason.PacketTooBig, peer, packet);
                return;
            }
            if (ip.Protocol == IpProtocol.Udp && IsToOwnEndpoint(ip, peer))
            {
                Drop(DropReason.RoutingLoop, peer, packet);
                return;
            }
            var daita = peer.Daita;
            if (daita is not null && packet.Length > 0) daita.OnNormalSent(packet); // pads to the MTU
            Stage(peer, packet);
            SendStagedPackets(peer, now);
            // Still staged (no session or endpoint yet): then it is the last in the queue, and a spliced payload is
            // copied in, so waiting packets never keep whole 64 KiB super-packet buffers rented.
            if (peer.Staged.Count > 0 && packet.IsSpliced) packet.Materialize();
            daita?.Flush(now); // NormalSent is pending even when nothing could be sent yet
        }
        catch (Exception ex)
        {
            LastInternalError = ex;
            Drop(DropReason.Internal, null, null);
        }
    }

    // A UDP packet to the very endpoint its peer's datagrams go to: our own datagram, routed back into the tunnel.
    private static bool IsToOwnEndpoint(in IpPacket ip, Peer peer)
    {
        var endpoint = peer.Endpoint;
        if (endpoint.IsNone || !UdpDatagram.TryRead(ip.Payload, out var udp) || udp.DestinationPort != endpoint.Port) return false;
        Span<byte> address = stackalloc byte[16];
        endpoint.WriteAddress(address);
        return ip.Destination.SequenceEqual(address[..endpoint.AddressLength]);
    }

    private void Stage(Peer peer, PacketBuffer packet)
    {
        if (peer.Staged.Count >= Protocol.MaxStagedPackets)
            Drop(DropReason.StagedQueueFull, peer, peer.Staged.Dequeue());
        peer.Staged.Enqueue(packet);
    }

    /// <summary>
    /// Sends a keepalive (an empty transport message), unless data is staged, which then goes instead
    /// (wireguard-go SendKeepalive). Used by timers and after a completed handshake.
    /// </summary>
    public void SendKeepalive(Peer peer, TimeSpan now)
    {
        if (peer.Staged.Count == 0 && IsUp)
        {
            if (!_pool.TryRent(out var keepalive))
            {
                Drop(DropReason.PoolExhausted, peer, null);
                return;
            }
            Stage(peer, keepalive);
        }
        SendStagedPackets(peer, now);
    }

    /// <summary>Seals and sends staged packets if a usable session exists; otherwise asks for a handshake.</summary>
    internal void SendStagedPackets(Peer peer, TimeSpan now)
    {
        if (peer.Staged.Count == 0 || !IsUp) return;
        var keypair = peer.Keypairs.Current;
        if (!CanSendWith(keypair, now))
        {
            SendHandshakeInitiation(peer, isRetry: false, now);
            return;
        }
        if (peer.Endpoint.IsNone)
        {
            // Nothing to send to yet: keep the packets staged (bounded) until an endpoint is learned.
            return;
        }

        bool sentData = false, sentAny = false;
        var daita = peer.Daita;
        peer.Timers.AnyAuthenticatedPacketTraversal(now, peer.PersistentKeepaliveInterval);
        while (peer.Staged.TryPeek(out var packet))
        {
            if (daita is { IsDelaying: true } && packet.Length > 0 && daita.TryDelay(packet))
            {
                peer.Staged.Dequeue(); // held back by a DAITA delay; it goes out when the delay ends
                continue;
            }
            if (!keypair.TryTakeNonce(out ulong nonce))
            {
                // Nonces exhausted mid-batch: the rest stays staged and a new handshake starts.
                SendHandshakeInitiation(peer, isRetry: false, now);
                break;
            }
            peer.Staged.Dequeue();
            if (packet.Length > 0) sentData = true;
            int length = Messages.TransportOverhead + Messages.PaddedLength(packet.Length, Mtu);
            sentAny = true;
            bool isData = packet.Length > 0;
            if (_output.SealAndSend(packet, keypair, nonce, peer, Mtu)) peer.AddTx(length);
            if (daita is not null && isData) daita.OnTunnelSent();
        }
        daita?.Flush(now);
        if (!sentAny) return;
        peer.Timers.AnyAuthenticatedPacketSent();
        if (sentData && peer.Timers.DataSentArms) peer.Timers.DataSent(now, Jitter());
        KeepKeyFreshSending(peer, keypair, now);
    }

    /// <summary>
    /// Pads the packet to a multiple of 16 (capped at <paramref name="mtu"/>), writes the transport header into the
    /// headroom and seals in place: the buffer then holds the whole transport message. A spliced payload (an
    /// offload segment's, <see cref="PacketBuffer.Splice"/>) is read from where it lies and its ciphertext written
    /// into this buffer. Thread-safe for different buffers (the fast path calls it on worker threads). False, with
    /// the buffer unchanged, once the keypair is wiped: the packet must then be dropped.
    /// </summary>
    public static bool Encrypt(PacketBuffer packet, Keypair keypair, ulong nonce, int mtu)
    {
        if (!keypair.TryAcquire()) return false;
        try
        {
            EncryptLeased(packet, keypair, nonce, mtu);
            return true;
        }
        finally
        {
            keypair.Release();
        }
    }

    /// <summary>As <see cref="Encrypt"/>, for a caller that holds a lease on <paramref name="keypair"/>.</summary>
    internal static void EncryptLeased(PacketBuffer packet, Keypair keypair, ulong nonce, int mtu)
    {
        int length = packet.Length;
        int padded = Messages.PaddedLength(length, mtu);
        packet.ZeroExtend(padded);
        var header = packet.Prepend(Messages.TransportHeaderSize);
        Messages.WriteHeader(header, MessageType.TransportData);
        Messages.WriteUInt32(header, Messages.TransportReceiverOffset, keypair.RemoteIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(header[Messages.TransportCounterOffset..], nonce);
        packet.SetLength(Messages.TransportHeaderSize + padded + Messages.TagSize);
        var body = packet.DataInPlace[Messages.TransportHeaderSize..];
        if (packet.TryGetSplice(out var payload, out int at))
        {
            keypair.SealSplicedLeased(nonce, body, at - Messages.TransportHeaderSize, payload);
            packet.Unsplice(); // the ciphertext is all in this buffer now
        }
        else
        {
            keypair.SealLeased(nonce, body[..padded], body);
        }
    }

    // wireguard-go SendStagedPackets: a current keypair, not wiped, with nonces left and younger than REJECT_AFTER_TIME.
    private static bool CanSendWith([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] Keypair? keypair, TimeSpan now) =>
        keypair is not null && keypair.IsValid && keypair.SendNonce < Protocol.RejectAfterMessages
        && now - keypair.Created < Protocol.RejectAfterTime;

    private void KeepKeyFreshSending(Peer peer, Keypair keypair, TimeSpan now)
    {
        if (keypair.SendNonce > Protocol.RekeyAfterMessages
            || (keypair.IsInitiator && now - keypair.Created > Protocol.RekeyAfterTime))
        {
            SendHandshakeInitiation(peer, isRetry: false, now);
        }
    }

    /// <summary>
    /// Sends an initiation unless one went out less than REKEY_TIMEOUT ago (whitepaper §6.4). A fresh attempt
    /// (<paramref name="isRetry"/> false) restarts the retry count.
    /// </summary>
    public void SendHandshakeInitiation(Peer peer, bool isRetry, TimeSpan now)
    {
        if (!isRetry) peer.Timers.HandshakeAttempts = 0;
        if (peer.LastSentHandshake is { } last && now - last < Protocol.RekeyTimeout) return;
        peer.LastSentHandshake = now;

        if (!_pool.TryRent(out var buffer))
        {
            Drop(DropReason.PoolExhausted, peer, null);
            return;
        }
        buffer.SetLength(Messages.InitiationSize);
        if (!CreateInitiation(peer, buffer.Data))
        {
            buffer.Return();
            return;
        }
        peer.Cookies.AddMacs(buffer.Data, now);
        peer.Timers.AnyAuthenticatedPacketTraversal(now, peer.PersistentKeepaliveInterval);
        peer.Timers.AnyAuthenticatedPacketSent();
        if (peer.Endpoint.IsNone)
        {
            Drop(DropReason.NoEndpoint, peer, buffer);
        }
        else
        {
            int length = buffer.Length;
            if (_output.SendDatagram(buffer, peer.Endpoint, peer.Source, peer)) peer.AddTx(length);
            _output.OnEvent(new ProtocolEvent(ProtocolEventKind.HandshakeInitiationSent, peer));
        }
        peer.Timers.HandshakeInitiated(now, Jitter());
    }

    private void SendHandshakeResponse(Peer peer, TimeSpan now)
    {
        peer.LastSentHandshake = now;
        if (!_pool.TryRent(out var buffer))
        {
            Drop(DropReason.PoolExhausted, peer, null);
            return;
        }
        buffer.SetLength(Messages.ResponseSize);
        if (!CreateResponse(peer, buffer.Data))
        {
            buffer.Return();
            return;
        }
        peer.Cookies.AddMacs(buffer.Data, now);
        if (BeginSession(peer, now) is null)
        {
            buffer.Return();
            return;
        }
        peer.Timers.SessionDerived(now);
        peer.Timers.AnyAuthenticatedPacketTraversal(now, peer.PersistentKeepaliveInterval);
        peer.Timers.AnyAuthenticatedPacketSent();
        int length = buffer.Length;
        if (_output.SendDatagram(buffer, peer.Endpoint, peer.Source, peer)) peer.AddTx(length);
        _output.OnEvent(new ProtocolEvent(ProtocolEventKind.HandshakeResponseSent, peer));
    }

    private void SendCookieReply(ReadOnlySpan<byte> message, NetEndpoint to, in PacketInfo local, TimeSpan now)
    {
        if (!_pool.TryRent(out var buffer))
        {
            Drop(DropReason.PoolExhausted, null, null);
            return;
        }
        buffer.SetLength(Messages.CookieReplySize);
        _cookieChecker.CreateReply(message, to, now, buffer.Data);
        _output.SendDatagram(buffer, to, local, null);
        _output.OnEvent(new ProtocolEvent(ProtocolEventKind.CookieReplySent, null));
    }
}
