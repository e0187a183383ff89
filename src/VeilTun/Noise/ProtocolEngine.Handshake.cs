using System.Security.Cryptography;
using VeilTun.Crypto;

namespace VeilTun.Noise;

// Noise_IKpsk2 (whitepaper §5.4.2–§5.4.5; kernel noise.c; wireguard-go noise-protocol.go). Each step quotes the
// paper's line above the code that implements it. Temporaries holding secrets are zeroed before returning.
internal sealed partial class ProtocolEngine
{
    private static void MixHash(Span<byte> hash, ReadOnlySpan<byte> data) => Blake2s.Hash(hash, data, hash);

    /// <summary>Writes a 148-byte initiation (mac fields zero) for <paramref name="peer"/>. False if impossible.</summary>
    internal bool CreateInitiation(Peer peer, Span<byte> msg)
    {
        var hs = peer.Handshake;
        if (_privateKey is null || !hs.HasStaticStatic) return false;

        Span<byte> key = stackalloc byte[32];
        Span<byte> dh = stackalloc byte[32];
        Span<byte> ephemeralPublic = stackalloc byte[32];
        try
        {
            // Ci := HASH(CONSTRUCTION); Hi := HASH(Ci || IDENTIFIER); Hi := HASH(Hi || Spub_r)
            Key32 ck = s_initialChainKey, h = s_initialHash;
            MixHash(h, peer.PublicKey.Bytes);

            // (Epriv_i, Epub_i) := DH-GENERATE(); msg.ephemeral := Epub_i
            _random.Fill(hs.LocalEphemeralPrivate);
            X25519.ClampPrivateKey(hs.LocalEphemeralPrivate);
            X25519.DerivePublicKey(hs.LocalEphemeralPrivate, ephemeralPublic);
            ephemeralPublic.CopyTo(msg[Messages.InitEphemeralOffset..]);

            // Ci := KDF1(Ci, msg.ephemeral); Hi := HASH(Hi || msg.ephemeral)
            NoiseKdf.Kdf1(ck, ephemeralPublic, ck);
            MixHash(h, ephemeralPublic);

            // (Ci, κ) := KDF2(Ci, DH(Epriv_i, Spub_r))
            if (!X25519.TrySharedSecret(hs.LocalEphemeralPrivate, peer.PublicKey.Bytes, dh)) return false;
            NoiseKdf.Kdf2(ck, dh, ck, key);

            // msg.static := AEAD(κ, 0, Spub_i, Hi); Hi := HASH(Hi || msg.static)
            var encryptedStatic = msg.Slice(Messages.InitStaticOffset, Messages.InitStaticLength);
            ChaCha20Poly1305Context.Seal(key, 0, PublicKey!.Value.Bytes, h, encryptedStatic);
            MixHash(h, encryptedStatic);

            // (Ci, κ) := KDF2(Ci, DH(Spriv_i, Spub_r))
            NoiseKdf.Kdf2(ck, hs.PrecomputedStaticStatic, ck, key);

            // msg.timestamp := AEAD(κ, 0, TAI64N(), Hi); Hi := HASH(Hi || msg.timestamp)
            Span<byte> timestamp = stackalloc byte[Tai64N.Size];
            Tai64N.Write(_wallClock.GetUtcNow(), timestamp);
            var encryptedTimestamp = msg.Slice(Messages.InitTimestampOffset, Messages.InitTimestampLength);
            ChaCha20Poly1305Context.Seal(key, 0, timestamp, h, encryptedTimestamp);
            MixHash(h, encryptedTimestamp);

            // msg.sender := Ii (a fresh index, registered so the response finds this handshake)
            ClearHandshakeIndexOnly(peer);
            hs.LocalIndex = Indices.NewIndexForHandshake(peer);
            Messages.WriteHeader(msg, MessageType.HandshakeInitiation);
            Messages.WriteUInt32(msg, Messages.InitSenderOffset, hs.LocalIndex);
            msg.Slice(Messages.InitMac1Offset, 32).Clear();

            hs.ChainKey = ck;
            hs.Hash = h;
            hs.State = HandshakeState.InitiationCreated;
            CryptographicOperations.ZeroMemory(ck);
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(dh);
        }
    }

    private void ClearHandshakeIndexOnly(Peer peer)
    {
        var hs = peer.Handshake;
        if (hs.State != HandshakeState.Zeroed) Indices.Delete(hs.LocalIndex);
    }

    /// <summary>
    /// Consumes a 148-byte initiation whose mac1 was already checked. Returns the peer on success, or null with
    /// <paramref name="reason"/> set; nothing changes on failure.
    /// </summary>
    internal Peer? ConsumeInitiation(ReadOnlySpan<byte> msg, TimeSpan now, out DropReason reason)
    {
        reason = DropReason.InvalidHandshake;
        if (_privateKey is null)
        {
            reason = DropReason.NoPrivateKey;
            return null;
        }

        Span<byte> key = stackalloc byte[32];
        Span<byte> dh = stackalloc byte[32];
        Span<byte> peerStatic = stackalloc byte[32];
        Span<byte> timestamp = stackalloc byte[Tai64N.Size];
        Key32 ck = s_initialChainKey, h = s_initialHash;
        try
        {
            // Hr := HASH(Hr || Spub_r); Cr := KDF1(Cr, msg.ephemeral); Hr := HASH(Hr || msg.ephemeral)
            var ephemeral = msg.Slice(Messages.InitEphemeralOffset, 32);
            MixHash(h, PublicKey!.Value.Bytes);
            NoiseKdf.Kdf1(ck, ephemeral, ck);
            MixHash(h, ephemeral);

            // (Cr, κ) := KDF2(Cr, DH(Spriv_r, msg.ephemeral))
            if (!X25519.TrySharedSecret(_privateKey.Bytes, ephemeral, dh)) return null;
            NoiseKdf.Kdf2(ck, dh, ck, key);

            // Spub_i := AEAD-DECRYPT(κ, 0, msg.static, Hr); Hr := HASH(Hr || msg.static)
            var encryptedStatic = msg.Slice(Messages.InitStaticOffset, Messages.InitStaticLength);
            if (!ChaCha20Poly1305Context.TryOpen(key, 0, encryptedStatic, h, peerStatic)) return null;
            MixHash(h, encryptedStatic);

            // The decrypted static key names the peer; unknown keys are dropped silently.
            if (!_peers.TryGetValue(new PublicKey(peerStatic), out var peer))
            {
                reason = DropReason.UnknownPeer;
                return null;
            }
            var hs = peer.Handshake;
            if (!hs.HasStaticStatic) return null;

            // (Cr, κ) := KDF2(Cr, DH(Spriv_r, Spub_i)) — precomputed per peer
            NoiseKdf.Kdf2(ck, hs.PrecomputedStaticStatic, ck, key);

            // timestamp := AEAD-DECRYPT(κ, 0, msg.timestamp, Hr); Hr := HASH(Hr || msg.timestamp)
            var encryptedTimestamp = msg.Slice(Messages.InitTimestampOffset, Messages.InitTimestampLength);
            if (!ChaCha20Poly1305Context.TryOpen(key, 0, encryptedTimestamp, h, timestamp)) return null;
            MixHash(h, encryptedTimestamp);

            // Replay: the timestamp must be strictly greater than any seen from this peer (whitepaper §5.1).
            if (!Tai64N.IsAfter(timestamp, hs.LatestTimestamp))
            {
                reason = DropReason.ReplayedTimestamp;
                return null;
            }
            // Flood: at most one initiation per 20 ms per peer (wireguard-go HandshakeInitationRate, <=).
            if (hs.LastInitiationConsumed is { } last && now - last <= Protocol.HandshakeInitiationRate)
            {
                reason = DropReason.InitiationFlood;
                return null;
            }

            // Commit: store e, h, ck and the initiator's index.
            ClearHandshakeIndexOnly(peer);
            hs.LocalIndex = 0;
            timestamp.CopyTo(hs.LatestTimestamp);
            hs.LastInitiationConsumed = now;
            hs.ChainKey = ck;
            hs.Hash = h;
            ephemeral.CopyTo(hs.RemoteEphemeral);
            hs.RemoteIndex = Messages.ReadUInt32(msg, Messages.InitSenderOffset);
            hs.State = HandshakeState.InitiationConsumed;
            reason = DropReason.None;
            return peer;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(dh);
            CryptographicOperations.ZeroMemory(ck);
            CryptographicOperations.ZeroMemory(h);
        }
    }

    /// <summary>Writes a 92-byte response (mac fields zero) to the initiation consumed for <paramref name="peer"/>.</summary>
    internal bool CreateResponse(Peer peer, Span<byte> msg)
    {
        var hs = peer.Handshake;
        if (hs.State != HandshakeState.InitiationConsumed) return false;

        Span<byte> key = stackalloc byte[32];
        Span<byte> dh = stackalloc byte[32];
        Span<byte> tau = stackalloc byte[32];
        Span<byte> ephemeralPublic = stackalloc byte[32];
        Key32 ck = hs.ChainKey, h = hs.Hash;
        try
        {
            // (Epriv_r, Epub_r) := DH-GENERATE(); msg.ephemeral := Epub_r
            _random.Fill(hs.LocalEphemeralPrivate);
            X25519.ClampPrivateKey(hs.LocalEphemeralPrivate);
            X25519.DerivePublicKey(hs.LocalEphemeralPrivate, ephemeralPublic);
            ephemeralPublic.CopyTo(msg[Messages.RespEphemeralOffset..]);

            // Cr := KDF1(Cr, Epub_r); Hr := HASH(Hr || msg.ephemeral)
            NoiseKdf.Kdf1(ck, ephemeralPublic, ck);
            MixHash(h, ephemeralPublic);

            // Cr := KDF1(Cr, DH(Epriv_r, Epub_i))
            if (!X25519.TrySharedSecret(hs.LocalEphemeralPrivate, hs.RemoteEphemeral, dh)) return false;
            NoiseKdf.Kdf1(ck, dh, ck);

            // Cr := KDF1(Cr, DH(Epriv_r, Spub_i))
            if (!X25519.TrySharedSecret(hs.LocalEphemeralPrivate, peer.PublicKey.Bytes, dh)) return false;
            NoiseKdf.Kdf1(ck, dh, ck);

            // (Cr, τ, κ) := KDF3(Cr, Q); Hr := HASH(Hr || τ)
            NoiseKdf.Kdf3(ck, peer.PresharedKeyBytes, ck, tau, key);
            MixHash(h, tau);

            // msg.empty := AEAD(κ, 0, ε, Hr); Hr := HASH(Hr || msg.empty)
            var empty = msg.Slice(Messages.RespEmptyOffset, 16);
            ChaCha20Poly1305Context.Seal(key, 0, ReadOnlySpan<byte>.Empty, h, empty);
            MixHash(h, empty);

            // msg.sender := Ir; msg.receiver := Ii
            hs.LocalIndex = Indices.NewIndexForHandshake(peer);
            Messages.WriteHeader(msg, MessageType.HandshakeResponse);
            Messages.WriteUInt32(msg, Messages.RespSenderOffset, hs.LocalIndex);
            Messages.WriteUInt32(msg, Messages.RespReceiverOffset, hs.RemoteIndex);
            msg.Slice(Messages.RespMac1Offset, 32).Clear();

            hs.ChainKey = ck;
            hs.Hash = h;
            hs.State = HandshakeState.ResponseCreated;
            return true;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(dh);
            CryptographicOperations.ZeroMemory(tau);
            CryptographicOperations.ZeroMemory(ck);
            CryptographicOperations.ZeroMemory(h);
        }
    }

    /// <summary>Consumes a 92-byte response whose mac1 was already checked. Returns the peer, or null and a reason.</summary>
    internal Peer? ConsumeResponse(ReadOnlySpan<byte> msg, out DropReason reason)
    {
        reason = DropReason.UnexpectedResponse;
        uint receiver = Messages.ReadUInt32(msg, Messages.RespReceiverOffset);
        if (!Indices.TryLookup(receiver, out var entry) || entry.Keypair is not null)
        {
            reason = DropReason.UnknownIndex;
            return null;
        }
        var peer = entry.Peer;
        var hs = peer.Handshake;
        if (hs.State != HandshakeState.InitiationCreated || hs.LocalIndex != receiver || _privateKey is null) return null;

        reason = DropReason.InvalidHandshake;
        Span<byte> key = stackalloc byte[32];
        Span<byte> dh = stackalloc byte[32];
        Span<byte> tau = stackalloc byte[32];
        Key32 ck = hs.ChainKey, h = hs.Hash;
        try
        {
            // Ci := KDF1(Ci, msg.ephemeral); Hi := HASH(Hi || msg.ephemeral)
            var ephemeral = msg.Slice(Messages.RespEphemeralOffset, 32);
            NoiseKdf.Kdf1(ck, ephemeral, ck);
            MixHash(h, ephemeral);

            // Ci := KDF1(Ci, DH(Epriv_i, Epub_r))
            if (!X25519.TrySharedSecret(hs.LocalEphemeralPrivate, ephemeral, dh)) return null;
            NoiseKdf.Kdf1(ck, dh, ck);

            // Ci := KDF1(Ci, DH(Spriv_i, Epub_r))
            if (!X25519.TrySharedSecret(_privateKey.Bytes, ephemeral, dh)) return null;
            NoiseKdf.Kdf1(ck, dh, ck);

            // (Ci, τ, κ) := KDF3(Ci, Q); Hi := HASH(Hi || τ)
            NoiseKdf.Kdf3(ck, peer.PresharedKeyBytes, ck, tau, key);
            MixHash(h, tau);

            // ε := AEAD-DECRYPT(κ, 0, msg.empty, Hi); Hi := HASH(Hi || msg.empty)
            var empty = msg.Slice(Messages.RespEmptyOffset, 16);
            if (!ChaCha20Poly1305Context.TryOpen(key, 0, empty, h, Span<byte>.Empty)) return null;
            MixHash(h, empty);

            hs.ChainKey = ck;
            hs.Hash = h;
            hs.RemoteIndex = Messages.ReadUInt32(msg, Messages.RespSenderOffset);
            hs.State = HandshakeState.ResponseConsumed;
            reason = DropReason.None;
            return peer;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(dh);
            CryptographicOperations.ZeroMemory(tau);
            CryptographicOperations.ZeroMemory(ck);
            CryptographicOperations.ZeroMemory(h);
        }
    }

    /// <summary>
    /// Derives the transport keypair from a finished handshake (Noise Split: (T1, T2) := KDF2(C, ε); the initiator
    /// sends with T1, the responder with T2), wipes the handshake, and files the keypair into the slots
    /// (whitepaper §5.4.5, kernel add_new_keypair).
    /// </summary>
    internal Keypair? BeginSession(Peer peer, TimeSpan now)
    {
        var hs = peer.Handshake;
        bool isInitiator;
        if (hs.State == HandshakeState.ResponseConsumed) isInitiator = true;
        else if (hs.State == HandshakeState.ResponseCreated) isInitiator = false;
        else return null;

        Span<byte> t1 = stackalloc byte[32];
        Span<byte> t2 = stackalloc byte[32];
        NoiseKdf.Kdf2(hs.ChainKey, ReadOnlySpan<byte>.Empty, t1, t2);
        var keypair = isInitiator
            ? new Keypair(t1, t2, true, now, hs.LocalIndex, hs.RemoteIndex)
            : new Keypair(t2, t1, false, now, hs.LocalIndex, hs.RemoteIndex);
        CryptographicOperations.ZeroMemory(t1);
        CryptographicOperations.ZeroMemory(t2);

        // The handshake's index now names the keypair (wireguard-go SwapIndexForKeypair).
        Indices.SwapIndexForKeypair(hs.LocalIndex, keypair);
        hs.LocalIndex = 0;
        hs.Clear();

        var kp = peer.Keypairs;
        if (isInitiator)
        {
            if (kp.Next is not null)
            {
                DeleteKeypair(kp.Previous);
                kp.Previous = kp.Next;
                kp.Next = null;
                DeleteKeypair(kp.Current);
            }
            else
            {
                DeleteKeypair(kp.Previous);
                kp.Previous = kp.Current;
            }
            kp.Current = keypair;
        }
        else
        {
            DeleteKeypair(kp.Next);
            kp.Next = keypair;
            DeleteKeypair(kp.Previous);
            kp.Previous = null;
        }
        return keypair;
    }

    /// <summary>
    /// First authenticated data on <c>Next</c> confirms the responder's session: next → current → previous
    /// (kernel wg_noise_received_with_keypair). Returns true when a rotation happened.
    /// </summary>
    internal bool ReceivedWithKeypair(Peer peer, Keypair keypair)
    {
        var kp = peer.Keypairs;
        if (!ReferenceEquals(kp.Next, keypair)) return false;
        DeleteKeypair(kp.Previous);
        kp.Previous = kp.Current;
        kp.Current = keypair;
        kp.Next = null;
        return true;
    }
}
