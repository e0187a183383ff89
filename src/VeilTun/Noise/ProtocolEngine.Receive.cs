using System.Buffers.Binary;
using VeilTun.Buffers;
using VeilTun.Packets;
using VeilTun.Udp;

namespace VeilTun.Noise;

// Inbound flow (wireguard-go device/receive.go; kernel receive.c):
//   datagram → classify by header and length → handshake path (mac1, load: mac2/cookie/ratelimit, Noise) or
//   transport path (index → keypair, age, decrypt in place, replay window, key confirmation, roaming,
//   timers, inner IP header check, cryptokey-routing source check) → deliver to the TUN.
// Every failure is a counted drop with a reason; nothing throws on bad input.
internal sealed partial class ProtocolEngine
{
    /// <summary>
    /// Processes one datagram received from <paramref name="from"/> (on local address <paramref name="local"/>).
    /// Takes ownership of <paramref name="datagram"/>: it is delivered (decrypted in place), or returned.
    /// </summary>
    public void ReceiveDatagram(PacketBuffer datagram, NetEndpoint from, in PacketInfo local, TimeSpan now)
    {
        try
        {
            // The header is always in place (only a transport message's sealed part is ever spliced).
            if (!WireGuardMessage.TryClassify(datagram.DataInPlace, out var type, out var reason))
            {
                Drop(reason, null, datagram);
                return;
            }
            if (!IsUp)
            {
                Drop(DropReason.DeviceDown, null, datagram);
                return;
            }
            switch (type)
            {
                case MessageType.TransportData:
                    ReceiveTransport(datagram, from, local, now);
                    return;
                case MessageType.CookieReply:
                    ReceiveCookieReply(datagram, now);
                    return;
                default:
                    ReceiveHandshake(datagram, type, from, local, now);
                    return;
            }
        }
        catch (Exception ex)
        {
            LastInternalError = ex;
            // Last resort: a bug must not take the tunnel down. The buffer may already be handed on, so it is
            // not returned here (a leak is counted by the pool, a double return would corrupt it).
            Drop(DropReason.Internal, null, null);
        }
    }

    /// <summary>
    /// Checks a handshake message's mac1 without the engine's serialization (the key changes only with the
    /// private key; a racing change makes one message fail or pass the pre-check, and the engine checks again).
    /// Lets a reader drop junk before it takes any queue space.
    /// </summary>
    public bool CheckMac1(ReadOnlySpan<byte> handshakeMessage) =>
        _privateKey is not null && _cookieChecker.CheckMac1(handshakeMessage);

    private void ReceiveCookieReply(PacketBuffer datagram, TimeSpan now)
    {
        var data = datagram.Data;
        uint receiver = Messages.ReadUInt32(data, Messages.CookieReceiverOffset);
        if (!Indices.TryLookup(receiver, out var entry))
        {
            Drop(DropReason.UnknownIndex, null, datagram);
            return;
        }
        if (!entry.Peer.Cookies.TryConsumeReply(data, now))
        {
            Drop(DropReason.InvalidCookieReply, entry.Peer, datagram);
            return;
        }
        datagram.Return();
        _output.OnEvent(new ProtocolEvent(ProtocolEventKind.CookieReplyReceived, entry.Peer));
    }

    private void ReceiveHandshake(PacketBuffer datagram, MessageType type, NetEndpoint from, in PacketInfo local, TimeSpan now)
    {
        var data = datagram.Data;
        if (_privateKey is null)
        {
            Drop(DropReason.NoPrivateKey, null, datagram);
            return;
        }
        // Whitepaper §5.4.7: mac1 is always checked, before any DH.
        if (!_cookieChecker.CheckMac1(data))
        {
            Drop(DropReason.InvalidMac1, null, datagram);
            return;
        }
        if (UnderLoad)
        {
            // Under load: no valid mac2 → cookie reply; valid mac2 but over the per-source rate → drop.
            if (!_cookieChecker.CheckMac2(data, from, now))
            {
                SendCookieReply(data, from, local, now);
                Drop(DropReason.CookieReplySent, null, datagram);
                return;
            }
            Span<byte> addr = stackalloc byte[16];
            int n = from.WriteAddress(addr);
            if (!_rateLimiter.Allow(addr[..n], now.Ticks * 100))
            {
                Drop(DropReason.RateLimited, null, datagram);
                return;
            }
        }

        if (type == MessageType.HandshakeInitiation)
        {
            var peer = ConsumeInitiation(data, now, out var reason);
            if (peer is null)
            {
                Drop(reason, null, datagram);
                return;
            }
            int length = data.Length;
            datagram.Return();
            peer.Timers.AnyAuthenticatedPacketTraversal(now, peer.PersistentKeepaliveInterval);
            peer.Timers.AnyAuthenticatedPacketReceived();
            UpdateEndpoint(peer, from, local);
            peer.AddRx(length);
            SendHandshakeResponse(peer, now);
        }
        else
        {
            var peer = ConsumeResponse(data, out var reason);
            if (peer is null)
            {
                Drop(reason, null, datagram);
                return;
            }
            int length = data.Length;
            datagram.Return();
            UpdateEndpoint(peer, from, local);
            peer.AddRx(length);
            peer.Timers.AnyAuthenticatedPacketTraversal(now, peer.PersistentKeepaliveInterval);
            peer.Timers.AnyAuthenticatedPacketReceived();
            if (BeginSession(peer, now) is null) return;
            peer.Timers.SessionDerived(now);
            HandshakeComplete(peer);
            // wireguard-go: SendKeepalive flushes staged packets, or confirms the session with a keepalive.
            SendKeepalive(peer, now);
        }
    }

    private void HandshakeComplete(Peer peer)
    {
        peer.Timers.HandshakeComplete();
        peer.LastHandshake = _wallClock.GetUtcNow();
        Interlocked.Increment(ref _handshakesCompleted);
        _output.OnEvent(new ProtocolEvent(ProtocolEventKind.HandshakeCompleted, peer));
    }

    // Roaming (whitepaper §2.1): the endpoint follows the latest authenticated packet, and the local address it
    // arrived on becomes the sticky source for replies.
    private void UpdateEndpoint(Peer peer, NetEndpoint from, in PacketInfo local)
    {
        bool changed = peer.Endpoint != from;
        peer.Endpoint = from;
        peer.Source = local;
        if (changed) _output.OnEvent(new ProtocolEvent(ProtocolEventKind.EndpointChanged, peer));
    }

    private void ReceiveTransport(PacketBuffer datagram, NetEndpoint from, in PacketInfo local, TimeSpan now)
    {
        if (!TryBeginTransport(datagram, now, out var peer, out var keypair, out ulong counter, out var reason))
        {
            Drop(reason, peer, datagram);
            return;
        }
        bool opened = TryOpenTransport(datagram, keypair, counter);
        CompleteTransport(datagram, peer, keypair, counter, opened, from, local, now);
    }

    /// <summary>
    /// First, lock-free step of receiving a transport message: finds the keypair by the receiver index and checks
    /// its age. Safe on any thread (index lookups are concurrent-safe). False with a drop reason when the message
    /// cannot be for us; the caller then counts the drop and returns the buffer.
    /// </summary>
    public bool TryBeginTransport(PacketBuffer datagram, TimeSpan now, out Peer? peer, out Keypair keypair,
        out ulong counter, out DropReason reason)
    {
        var data = datagram.DataInPlace; // the 16-byte header is in place even when the sealed part is spliced
        peer = null;
        keypair = null!;
        counter = 0;
        uint receiver = Messages.ReadUInt32(data, Messages.TransportReceiverOffset);
        if (!Indices.TryLookup(receiver, out var entry) || entry.Keypair is not { } kp)
        {
            reason = DropReason.UnknownIndex;
            return false;
        }
        peer = entry.Peer;
        keypair = kp;
        // Keypairs older than REJECT_AFTER_TIME never receive (checked before decrypting, as wireguard-go).
        if (!kp.IsValid || now - kp.Created >= Protocol.RejectAfterTime)
        {
            reason = DropReason.KeypairExpired;
            return false;
        }
        counter = BinaryPrimitives.ReadUInt64LittleEndian(data[Messages.TransportCounterOffset..]);
        reason = DropReason.None;
        return true;
    }

    /// <summary>
    /// Decrypts a transport message in place, or, when its sealed part is spliced (a datagram of a UDP GRO receive,
    /// <see cref="PacketBuffer.Splice"/>), from where that lies into this buffer. Thread-safe (per-thread cipher
    /// contexts); the parallel step.
    /// </summary>
    public static bool TryOpenTransport(PacketBuffer datagram, Keypair keypair, ulong counter)
    {
        if (!keypair.TryAcquire()) return false;
        try
        {
            return TryOpenTransportLeased(datagram, keypair, counter);
        }
        finally
        {
            keypair.Release();
        }
    }

    /// <summary>As <see cref="TryOpenTransport"/>, for a caller that holds a lease on <paramref name="keypair"/>.</summary>
    internal static bool TryOpenTransportLeased(PacketBuffer datagram, Keypair keypair, ulong counter)
    {
        var sealedPart = datagram.DataInPlace[Messages.TransportHeaderSize..];
        if (datagram.TryGetSplice(out var spliced, out int at) && at == Messages.TransportHeaderSize)
        {
            bool ok = counter < Protocol.RejectAfterMessages && keypair.OpenLeased(counter, spliced, sealedPart[..^Messages.TagSize]);
            datagram.Unsplice(); // the plaintext (or, on failure, zeros) is in this buffer; the tag's place is unused
            if (!ok) sealedPart.Clear();
            return ok;
        }
        sealedPart = datagram.Data[Messages.TransportHeaderSize..]; // copies a payload spliced anywhere else first
        return counter < Protocol.RejectAfterMessages && keypair.OpenLeased(counter, sealedPart, sealedPart[..^Messages.TagSize]);
    }

    /// <summary>
    /// The sequential step, in arrival order per peer, under the engine's serialization: replay window, key
    /// confirmation, roaming, timers, inner IP header and cryptokey-routing source check, delivery. Takes
    /// ownership of <paramref name="datagram"/>.
    /// </summary>
    public void CompleteTransport(PacketBuffer datagram, Peer? peer, Keypair keypair, ulong counter, bool opened,
        NetEndpoint from, in PacketInfo local, TimeSpan now)
    {
        if (peer is null || !opened)
        {
            Drop(DropReason.DecryptionFailed, peer, datagram);
            return;
        }
        if (!keypair.TryAcceptCounter(counter))
        {
            Drop(DropReason.ReplayedCounter, peer, datagram);
            return;
        }
        var plaintext = datagram.Data[Messages.TransportHeaderSize..^Messages.TagSize];

        int messageLength = datagram.Length;
        if (ReceivedWithKeypair(peer, keypair))
        {
            UpdateEndpoint(peer, from, local);
            HandshakeComplete(peer);
            SendStagedPackets(peer, now);
        }
        UpdateEndpoint(peer, from, local);
        KeepKeyFreshReceiving(peer, now);
        peer.Timers.AnyAuthenticatedPacketTraversal(now, peer.PersistentKeepaliveInterval);
        peer.Timers.AnyAuthenticatedPacketReceived();
        peer.AddRx(messageLength);

        if (plaintext.Length == 0)
        {
            datagram.Return(); // keepalive
            return;
        }
        peer.Timers.DataReceived(now);

        if (peer.Daita is { } daita)
        {
            bool real = daita.OnReceived(plaintext);
            daita.Flush(now);
            if (!real)
            {
                datagram.Return(); // a decoy: authenticated, counted by DAITA, never delivered
                return;
            }
        }

        // Inner packet: trim the padding by the IP header's own length, then check the source belongs to this
        // peer (cryptokey routing, whitepaper §2).
        if (!IpPacket.TryRead(plaintext, out var inner) || !inner.TotalLengthFits)
        {
            Drop(DropReason.InvalidInnerPacket, peer, datagram);
            return;
        }
        if (!ReferenceEquals(AllowedIps.Lookup(inner.Source), peer))
        {
            Drop(DropReason.DisallowedSource, peer, datagram);
            return;
        }
        datagram.SetData(datagram.Offset + Messages.TransportHeaderSize, inner.TotalLength);
        _output.DeliverPacket(datagram, peer);
    }

    private void KeepKeyFreshReceiving(Peer peer, TimeSpan now)
    {
        if (peer.Timers.SentLastMinuteHandshake) return;
        var current = peer.Keypairs.Current;
        if (current is not null && current.IsInitiator && now - current.Created > Protocol.RekeyOnReceiveAfter)
        {
            peer.Timers.SentLastMinuteHandshake = true;
            SendHandshakeInitiation(peer, isRetry: false, now);
        }
    }
}
