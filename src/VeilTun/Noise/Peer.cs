using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Timers;
using VeilTun.Udp;

namespace VeilTun.Noise;

/// <summary>
/// One remote peer as the protocol sees it: its static key and preshared key, handshake, keypairs, timers,
/// cookie state, endpoint (with the sticky local source address), packets staged while no session exists, and
/// transfer counters. Not thread-safe: every member is touched only under the owning engine's serialization.
/// Counters are read with <see cref="Interlocked"/> so stats readers need no lock.
/// </summary>
internal sealed class Peer
{
    private readonly Queue<PacketBuffer> _staged = new();
    private long _rxBytes;
    private long _txBytes;
    internal Key32 PresharedKeyBytes;

    internal Peer(PublicKey publicKey)
    {
        PublicKey = publicKey;
        Cookies = new CookieGenerator(publicKey);
        Timers = new PeerTimers(this);
    }

    public PublicKey PublicKey { get; }

    public Handshake Handshake { get; } = new();

    public Keypairs Keypairs { get; } = new();

    public PeerTimers Timers { get; }

    public CookieGenerator Cookies { get; }

    /// <summary>Where to send: set by configuration and by every authenticated packet received (roaming).</summary>
    public NetEndpoint Endpoint { get; internal set; }

    /// <summary>The local address the peer's last packet arrived on; replies leave from it (sticky source).</summary>
    public PacketInfo Source { get; internal set; }

    /// <summary>Seconds between persistent keepalives; 0 = off.</summary>
    public int PersistentKeepaliveInterval { get; internal set; }

    public bool HasPresharedKey { get; internal set; }

    /// <summary>Wall-clock time of the last completed handshake, or null.</summary>
    public DateTimeOffset? LastHandshake { get; internal set; }

    /// <summary>Monotonic time we last sent an initiation or a response (per-peer REKEY_TIMEOUT limit).</summary>
    internal TimeSpan? LastSentHandshake { get; set; }

    /// <summary>The interface went down while this peer had a session: handshake again as soon as it is up.</summary>
    internal bool ResumeOnUp { get; set; }

    /// <summary>Whole UDP payloads received from this peer, handshakes included (as wg show transfer counts).</summary>
    public long RxBytes => Interlocked.Read(ref _rxBytes);

    /// <summary>Whole UDP payloads sent to this peer, handshakes included.</summary>
    public long TxBytes => Interlocked.Read(ref _txBytes);

    internal void AddRx(int bytes) => Interlocked.Add(ref _rxBytes, bytes);

    internal void AddTx(int bytes) => Interlocked.Add(ref _txBytes, bytes);

    /// <summary>Packets waiting for a session.</summary>
    public int StagedCount => _staged.Count;

    /// <summary>
    /// The host's own state for this peer (the device's ordered crypto lane). Its lifetime ends with the peer's: the
    /// engine calls <see cref="IPeerSlot.Release"/> and clears this when the peer is removed.
    /// </summary>
    public IPeerSlot? Slot { get; set; }

    /// <summary>The peer's DAITA state (null: DAITA off). Set through <see cref="ProtocolEngine.SetDaita"/>.</summary>
    public Daita.DaitaPeer? Daita { get; internal set; }

    internal Queue<PacketBuffer> Staged => _staged;

    public override string ToString()
    {
        var b64 = PublicKey.ToBase64();
        return $"peer({b64[..4]}…{b64[^5..^1]})";
    }
}
