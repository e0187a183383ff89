using System.Security.Cryptography;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Routing;
using VeilTun.Udp;

namespace VeilTun.Noise;

/// <summary>
/// WireGuard's protocol for one interface, sans-IO: handshakes, cookies, transport, timers and cryptokey routing.
/// The host hands it packets read from the TUN (<see cref="SendPacket"/>), datagrams read from the network
/// (<see cref="ReceiveDatagram"/>) and the current monotonic time (<see cref="Tick"/>); the engine answers by
/// calling <see cref="IProtocolOutput"/>. No sockets, threads or clocks inside: wall time (only for TAI64N and
/// "latest handshake") comes from the injected <see cref="TimeProvider"/>, randomness from
/// <see cref="IRandomSource"/>.
/// </summary>
/// <remarks>
/// Not thread-safe: the host serializes every call (one lock or one event loop). The fast data path seals and
/// opens with <see cref="Keypair"/> on worker threads and keeps only the sequential steps here.
/// </remarks>
internal sealed partial class ProtocolEngine
{
    private static readonly Key32 s_initialChainKey;
    private static readonly Key32 s_initialHash;

    private readonly IProtocolOutput _output;
    private readonly PacketPool _pool;
    private readonly IRandomSource _random;
    private readonly TimeProvider _wallClock;
    private readonly Dictionary<PublicKey, Peer> _peers = new();
    private readonly CookieChecker _cookieChecker;
    private readonly RateLimiter _rateLimiter = new();
    private readonly long[] _drops = new long[Enum.GetValues<DropReason>().Length];
    private long _handshakesCompleted;
    private long _handshakesFailed;
    private SecretKey? _privateKey;

    static ProtocolEngine()
    {
        // Whitepaper §5.4: Ci = HASH(CONSTRUCTION); Hi = HASH(Ci || IDENTIFIER), computed once.
        Key32 ck = default, h = default;
        Blake2s.Hash(System.Text.Encoding.ASCII.GetBytes(Protocol.Construction), ck);
        Blake2s.Hash(ck, System.Text.Encoding.ASCII.GetBytes(Protocol.Identifier), h);
        s_initialChainKey = ck;
        s_initialHash = h;
    }

    /// <param name="output">Where sends, deliveries and events go.</param>
    /// <param name="pool">Buffers for handshake messages, keepalives and cookie replies.</param>
    /// <param name="random">Randomness; the OS CSPRNG when null.</param>
    /// <param name="wallClock">Wall clock for TAI64N timestamps and handshake times; the system's when null.</param>
    public ProtocolEngine(IProtocolOutput output, PacketPool pool, IRandomSource? random = null, TimeProvider? wallClock = null)
    {
        _output = output;
        _pool = pool;
        _random = random ?? SystemRandomSource.Instance;
        _wallClock = wallClock ?? TimeProvider.System;
        _cookieChecker = new CookieChecker(_random);
        Indices = new IndexTable(_random);
    }

    /// <summary>Initial chaining key Ci (for tests and tools).</summary>
    public static ReadOnlySpan<byte> InitialChainKey => s_initialChainKey;

    /// <summary>Initial hash Hi.</summary>
    public static ReadOnlySpan<byte> InitialHash => s_initialHash;

    /// <summary>Cryptokey routing table: inner destination → peer on send, inner source check on receive.</summary>
    public AllowedIps<Peer> AllowedIps { get; } = new();

    public IndexTable Indices { get; }

    /// <summary>The tunnel MTU, used to cap padding.</summary>
    public int Mtu { get; set; } = Protocol.DefaultMtu;

    /// <summary>
    /// The load signal (an input): when true, handshake messages need a valid mac2 and pass the per-source rate
    /// limiter, and others get a cookie reply. The host derives it from its handshake queue depth.
    /// </summary>
    public bool UnderLoad { get; set; }

    /// <summary>True between <see cref="Up"/> and <see cref="Down"/>: only then do timers run and packets flow.</summary>
    public bool IsUp { get; private set; }

    /// <summary>Our public key, if a private key is set.</summary>
    public PublicKey? PublicKey { get; private set; }

    /// <summary>True when a private key is configured.</summary>
    public bool HasPrivateKey => _privateKey is not null;

    /// <summary>A copy of the private key bytes (for UAPI get); the caller zeroes it.</summary>
    public bool TryCopyPrivateKey(Span<byte> destination)
    {
        if (_privateKey is null) return false;
        _privateKey.Bytes.CopyTo(destination);
        return true;
    }

    public IReadOnlyCollection<Peer> Peers => _peers.Values;

    public int PeerCount => _peers.Count;

    /// <summary>Sources the handshake rate limiter tracks (leak checks in tests).</summary>
    internal int RateLimiterCount => _rateLimiter.Count;

    /// <summary>Test hook: the peer table's capacity (it shrinks after mass removals).</summary>
    internal int PeerCapacity => _peers.Capacity;

    /// <summary>Drops counted for <paramref name="reason"/>.</summary>
    public long GetDropCount(DropReason reason) => Interlocked.Read(ref _drops[(int)reason]);

    /// <summary>Handshakes completed (a session derived and confirmed, either side), for metrics. Thread-safe read.</summary>
    public long HandshakesCompleted => Interlocked.Read(ref _handshakesCompleted);

    /// <summary>
    /// Handshakes given up after the retries (REKEY_ATTEMPT_TIME; a peer that never answers adds one every 90 s),
    /// for metrics. Rejected handshake messages are drops, by reason. Thread-safe read.
    /// </summary>
    public long HandshakesFailed => Interlocked.Read(ref _handshakesFailed);

    internal void Drop(DropReason reason, Peer? peer, PacketBuffer? buffer)
    {
        Interlocked.Increment(ref _drops[(int)reason]);
        buffer?.Return();
        _output.OnEvent(new ProtocolEvent(ProtocolEventKind.Dropped, peer, reason));
    }

    // ---- Configuration -------------------------------------------------------------------------------------

    /// <summary>
    /// Sets (or, with all zeros or an empty span, clears) the private key, as wireguard-go's SetPrivateKey: a peer
    /// whose public key equals the new public key is removed, every peer's static-static DH is recomputed, and
    /// current sessions are expired so the next packet rehandshakes at once. Setting the same key does nothing.
    /// </summary>
    public void SetPrivateKey(ReadOnlySpan<byte> privateKey)
    {
        bool clear = privateKey.IsEmpty || privateKey.IndexOfAnyExcept((byte)0) < 0;
        if (clear && _privateKey is null) return;
        if (!clear && _privateKey is not null && CryptographicOperations.FixedTimeEquals(_privateKey.Bytes, privateKey)) return;

        _privateKey?.Dispose();
        _privateKey = clear ? null : new SecretKey(privateKey);
        PublicKey = _privateKey?.DerivePublicKey();
        _cookieChecker.SetPublicKey(PublicKey);

        if (PublicKey is { } pub && _peers.TryGetValue(pub, out var same)) RemovePeer(same);
        foreach (var peer in _peers.Values)
        {
            PrecomputeStaticStatic(peer);
            ExpireCurrentKeypairs(peer);
        }
    }

    /// <summary>Finds a peer by public key.</summary>
    public bool TryGetPeer(PublicKey publicKey, out Peer peer) => _peers.TryGetValue(publicKey, out peer!);

    /// <summary>
    /// Adds a peer (or returns the existing one). Returns null when <paramref name="publicKey"/> is our own
    /// public key: wg(8) treats such a peer section as a no-op.
    /// </summary>
    public Peer? AddPeer(PublicKey publicKey) => AddPeer(publicKey, default);

    /// <summary>
    /// <see cref="AddPeer(PublicKey)"/> with the static-static DH already computed (32 bytes, all zeros when the
    /// peer's key is a low-order point) by a caller that made sure it used the current private key; empty: compute
    /// it here. Lets the tunnel do the X25519 of a large <c>set</c> before it takes its lock.
    /// </summary>
    internal Peer? AddPeer(PublicKey publicKey, ReadOnlySpan<byte> staticStatic)
    {
        if (_peers.TryGetValue(publicKey, out var existing)) return existing;
        if (PublicKey is { } own && own == publicKey) return null;
        var peer = new Peer(publicKey);
        if (staticStatic.Length == 32 && _privateKey is not null)
        {
            var hs = peer.Handshake;
            staticStatic.CopyTo(hs.PrecomputedStaticStatic);
            hs.HasStaticStatic = staticStatic.IndexOfAnyExcept((byte)0) >= 0;
        }
        else
        {
            PrecomputeStaticStatic(peer);
        }
        peer.Timers.Enabled = IsUp;
        peer.Timers.Queue = _timerQueue;
        _peers.Add(publicKey, peer);
        return peer;
    }

    /// <summary>Removes a peer: its allowed IPs, sessions, indices and staged packets go with it.</summary>
    public void RemovePeer(Peer peer)
    {
        if (!_peers.Remove(peer.PublicKey)) return;
        // A dictionary keeps its largest size: after a mass removal (peer churn) give the memory back, at most
        // once per quartering of the table, so the cost stays linear in the removals.
        if (_peers.Capacity > 64 && _peers.Count < _peers.Capacity / 4) _peers.TrimExcess();
        AllowedIps.RemoveByPeer(peer);
        peer.Daita?.Reset(TimeSpan.Zero, static b => b.Return());
        peer.Daita = null;
        _daitaPeers.Remove(peer);
        peer.Timers.Enabled = false;
        peer.Timers.StopAll();
        _timerQueue.Remove(peer.Timers);
        peer.Timers.Queue = null;
        ZeroAndFlushAll(peer);
        peer.Handshake.Destroy();
        peer.Cookies.Clear();
        CryptographicOperations.ZeroMemory(peer.PresharedKeyBytes);
        peer.Slot?.Release();
        peer.Slot = null;
    }

    /// <summary>Removes every peer.</summary>
    public void RemoveAllPeers()
    {
        foreach (var peer in _peers.Values.ToArray()) RemovePeer(peer);
    }

    /// <summary>Sets the preshared key; all zeros or empty means none.</summary>
    public void SetPresharedKey(Peer peer, ReadOnlySpan<byte> presharedKey)
    {
        if (presharedKey.IsEmpty || presharedKey.IndexOfAnyExcept((byte)0) < 0)
        {
            CryptographicOperations.ZeroMemory(peer.PresharedKeyBytes);
            peer.HasPresharedKey = false;
        }
        else
        {
            presharedKey.CopyTo(peer.PresharedKeyBytes);
            peer.HasPresharedKey = true;
        }
    }

    /// <summary>Sets the endpoint (UAPI <c>endpoint=</c>); it holds until the next authenticated packet roams it.</summary>
    public void SetEndpoint(Peer peer, NetEndpoint endpoint)
    {
        peer.Endpoint = endpoint;
        peer.Source = default;
    }

    /// <summary>Forgets the cached local source address (network change hook; send failure).</summary>
    public void ClearSource(Peer peer) => peer.Source = default;

    /// <summary>
    /// The host's network changed (the UDP transport was just rebound): for every peer with an endpoint, forgets the
    /// cached source, sends a keepalive under the current session when one is usable (the peer roams to our new
    /// address on it, so data flows again at once) and a handshake initiation regardless of REKEY_TIMEOUT (a new
    /// session from the new address; libwg-go's bump sends only the keepalives). Returns the initiations sent.
    /// </summary>
    public int NetworkChanged(TimeSpan now)
    {
        if (!IsUp) return 0;
        int sent = 0;
        foreach (var peer in _peers.Values)
        {
            if (peer.Endpoint.IsNone) continue;
            peer.Source = default;
            if (CanSendWith(peer.Keypairs.Current, now)) SendKeepalive(peer, now);
            peer.LastSentHandshake = null;
            SendHandshakeInitiation(peer, isRetry: false, now);
            if (peer.LastSentHandshake == now) sent++;
        }
        return sent;
    }

    /// <summary>
    /// Sets the persistent keepalive interval in seconds (0 = off). Going from off to on while up sends a
    /// keepalive at once (wireguard-go).
    /// </summary>
    public void SetPersistentKeepalive(Peer peer, int seconds, TimeSpan now)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(seconds);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(seconds, ushort.MaxValue);
        int old = peer.PersistentKeepaliveInterval;
        peer.PersistentKeepaliveInterval = seconds;
        if (old == 0 && seconds > 0 && IsUp) SendKeepalive(peer, now);
    }

    /// <summary>Brings the interface up: timers run; peers with persistent keepalive send one at once.</summary>
    public void Up(TimeSpan now)
    {
        if (IsUp) return;
        IsUp = true;
        foreach (var peer in _peers.Values)
        {
            peer.Daita?.Reset(now, static b => b.Return()); // the machines start afresh with the interface
            peer.Timers.Enabled = true;
            peer.LastSentHandshake = null; // a new start is not rate-limited by the last one (wireguard-go Peer.Start)
            if (peer.PersistentKeepaliveInterval > 0) SendKeepalive(peer, now);
            // A peer that had a session still sends under it and its packets would be dropped as unknown_index
            // until it rekeys on its own (up to two minutes): give it a new session now.
            else if (peer.ResumeOnUp && !peer.Endpoint.IsNone) SendHandshakeInitiation(peer, isRetry: false, now);
            peer.ResumeOnUp = false;
        }
    }

    /// <summary>Takes the interface down: timers stop, keys are wiped and staged packets dropped.</summary>
    public void Down()
    {
        if (!IsUp) return;
        IsUp = false;
        foreach (var peer in _peers.Values)
        {
            peer.ResumeOnUp = peer.Keypairs.Current is { IsValid: true } || peer.Keypairs.Next is { IsValid: true };
            peer.Daita?.Reset(TimeSpan.Zero, static b => b.Return());
            peer.Timers.Enabled = false;
            peer.Timers.StopAll();
            ZeroAndFlushAll(peer);
        }
        _timerQueue.Clear(); // every timer is off
    }

    private void PrecomputeStaticStatic(Peer peer)
    {
        var hs = peer.Handshake;
        hs.HasStaticStatic = _privateKey is not null
                             && X25519.TrySharedSecret(_privateKey.Bytes, peer.PublicKey.Bytes, hs.PrecomputedStaticStatic);
        if (!hs.HasStaticStatic) CryptographicOperations.ZeroMemory(hs.PrecomputedStaticStatic);
    }

    // wireguard-go ExpireCurrentKeypairs: clear the handshake, backdate the rate limit, exhaust send nonces.
    private void ExpireCurrentKeypairs(Peer peer)
    {
        ClearHandshake(peer);
        peer.LastSentHandshake = null;
        peer.Keypairs.Current?.ExhaustNonces();
        peer.Keypairs.Next?.ExhaustNonces();
    }

    private void ClearHandshake(Peer peer)
    {
        var hs = peer.Handshake;
        if (hs.State != HandshakeState.Zeroed) Indices.Delete(hs.LocalIndex);
        hs.LocalIndex = 0;
        hs.Clear();
    }

    private void DeleteKeypair(Keypair? keypair)
    {
        if (keypair is null) return;
        Indices.Delete(keypair.LocalIndex);
        keypair.Zero();
    }

    /// <summary>wireguard-go ZeroAndFlushAll: wipe the handshake and all keypairs, drop staged packets.</summary>
    private void ZeroAndFlushAll(Peer peer)
    {
        var kp = peer.Keypairs;
        DeleteKeypair(kp.Previous);
        DeleteKeypair(kp.Current);
        DeleteKeypair(kp.Next);
        kp.Previous = kp.Current = kp.Next = null;
        ClearHandshake(peer);
        FlushStaged(peer);
    }

    private void FlushStaged(Peer peer)
    {
        while (peer.Staged.TryDequeue(out var buffer)) buffer.Return();
    }

    private TimeSpan Jitter()
    {
        Span<byte> b = stackalloc byte[2];
        _random.Fill(b);
        return TimeSpan.FromMilliseconds((b[0] | b[1] << 8) % Protocol.RekeyTimeoutJitterMaxMs);
    }
}
