using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Uapi;

namespace VeilTun.Device;

// Configuration: one SetRequest, fully parsed and validated before anything changes, applied atomically under the
// tunnel lock. The one step that can fail at apply time — binding a new listen port — happens first, so a
// rejected request leaves the device exactly as it was (wireguard-go keeps the lines before a bad one).
public sealed partial class Tunnel : IUapiHandler
{
    /// <summary>
    /// Applies a UAPI <c>set</c> request (wireguard-go semantics for every key). Returns null on success, or the
    /// error with wireguard-go's errno; on error nothing changed.
    /// </summary>
    public UapiError? Configure(SetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var staticStatic = PrecomputeStaticStatic(request);
        try
        {
            return Configure(request, staticStatic);
        }
        finally
        {
            staticStatic?.Zero();
        }
    }

    // Sets below this many peer sections compute their DH under the lock (it is ~50 us a peer).
    private const int PrecomputeMinPeers = 64;

    /// <summary>The static-static DH of each new peer of a set, computed before the tunnel lock (see below).</summary>
    private sealed class StaticStaticBatch(byte[] privateKey, int peers)
    {
        public readonly byte[] PrivateKey = privateKey;
        public readonly byte[] Secrets = new byte[32 * peers]; // peer section i at 32 * i
        public readonly bool[] Computed = new bool[peers];

        public void Zero()
        {
            CryptographicOperations.ZeroMemory(PrivateKey);
            CryptographicOperations.ZeroMemory(Secrets);
        }
    }

    /// <summary>
    /// The X25519 of every peer a set adds with the device's private key (or the one the set installs) is the costly
    /// part of adding peers: ~1.2 s for 10,000 on a busy core, all of it under the tunnel lock, a stall of the data
    /// path that made the packet pools grow (bench/churn.sh). It is computed here, outside the lock, for the peers
    /// that do not exist yet; <see cref="Configure(SetRequest, StaticStaticBatch?)"/> uses a result only if the
    /// private key is still the one it was computed with. Null for small sets and when there is no private key.
    /// </summary>
    private StaticStaticBatch? PrecomputeStaticStatic(SetRequest request)
    {
        if (request.Peers.Count < PrecomputeMinPeers) return null;
        var key = new byte[32];
        var batch = new StaticStaticBatch(key, request.Peers.Count);
        int wanted = 0;
        lock (_sync)
        {
            if (request.PrivateKey is { Length: 32 } given && given.AsSpan().IndexOfAnyExcept((byte)0) >= 0) given.CopyTo(key);
            else if (request.PrivateKey is not null || !_engine.TryCopyPrivateKey(key)) return null;
            for (int i = 0; i < request.Peers.Count; i++)
            {
                var p = request.Peers[i];
                if (p.Remove || p.UpdateOnly || p.PublicKey.Length != 32 || (!request.ReplacePeers && _engine.TryGetPeer(new PublicKey(p.PublicKey), out _)))
                    continue;
                batch.Computed[i] = true;
                wanted++;
            }
        }
        if (wanted == 0)
        {
            batch.Zero();
            return null;
        }
        for (int i = 0; i < request.Peers.Count; i++)
        {
            if (!batch.Computed[i]) continue;
            var secret = batch.Secrets.AsSpan(32 * i, 32);
            if (!X25519.TrySharedSecret(key, request.Peers[i].PublicKey, secret)) secret.Clear(); // low-order point
        }
        return batch;
    }

    private UapiError? Configure(SetRequest request, StaticStaticBatch? staticStatic)
    {
        lock (_sync)
        {
            if (_disposed != 0) return UapiError.Io("device is closed");
            if (request.PrivateKey is { Length: not 32 }) return UapiError.Invalid("private_key must be 32 bytes");
            foreach (var p in request.Peers)
            {
                if (p.PublicKey.Length != 32) return UapiError.Invalid("public_key must be 32 bytes");
                if (p.PresharedKey is { Length: not 32 }) return UapiError.Invalid("preshared_key must be 32 bytes");
                if (p.PersistentKeepaliveInterval is < 0 or > ushort.MaxValue)
                    return UapiError.Invalid($"invalid persistent_keepalive_interval {p.PersistentKeepaliveInterval}");
                if (p.Daita is { } d && d.Validate() is { } daitaError) return UapiError.Invalid(daitaError);
                if (p.ExtensionKeys.Count > 0)
                {
                    if (!DaitaKeys.TryParse(p.ExtensionKeys, out bool touched, out var settings, out var error))
                        return UapiError.Invalid(error!);
                    if (touched)
                    {
                        p.Daita = settings;
                        p.DisableDaita = settings is null;
                    }
                }
            }

            // The only fallible side effect: bind the new port before changing anything.
            Udp.IUdpTransport? newUdp = null;
            if (request.ListenPort is int port && port != _listenPort && _engine.IsUp)
            {
                try
                {
                    newUdp = BindTransport(port);
                }
                catch (Exception ex)
                {
                    return UapiError.PortInUse($"failed to set listen_port: {ex.Message}");
                }
            }

            var now = _now();
            if (request.PrivateKey is { } privateKey) _engine.SetPrivateKey(privateKey);
            if (request.ListenPort is int p2) _listenPort = p2;
            if (newUdp is not null)
            {
                SwapUdpLocked(newUdp);
                _listenPort = request.ListenPort!.Value;
            }
            if (request.Fwmark is uint mark)
            {
                _fwmark = mark;
                _udp?.SetFwmark(mark);
            }
            if (request.ReplacePeers) _engine.RemoveAllPeers();

            // The DH computed before the lock holds only if the private key did not change since (another set).
            if (staticStatic is not null && !HasPrivateKey(staticStatic.PrivateKey)) staticStatic = null;
            for (int i = 0; i < request.Peers.Count; i++)
            {
                var change = request.Peers[i];
                ApplyPeer(change, now, staticStatic is { } b && b.Computed[i] ? b.Secrets.AsSpan(32 * i, 32) : default);
            }
            AfterEngine();
        }
        _timerWake.Set();
        return null;
    }

    private bool HasPrivateKey(ReadOnlySpan<byte> key)
    {
        Span<byte> current = stackalloc byte[32];
        try
        {
            return _engine.TryCopyPrivateKey(current) && CryptographicOperations.FixedTimeEquals(current, key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(current);
        }
    }

    private void ApplyPeer(PeerChange change, TimeSpan now, ReadOnlySpan<byte> staticStatic)
    {
        var key = new PublicKey(change.PublicKey);
        // A section naming our own public key is ignored entirely (wireguard-go: a "dummy" peer).
        if (_engine.PublicKey is { } own && own == key) return;

        bool exists = _engine.TryGetPeer(key, out var peer);
        if (change.Remove)
        {
            if (exists) _engine.RemovePeer(peer);
            return;
        }
        if (!exists)
        {
            if (change.UpdateOnly) return;
            peer = _engine.AddPeer(key, staticStatic)!;
        }
        if (change.PresharedKey is { } psk) _engine.SetPresharedKey(peer, psk);
        if (change.Endpoint is { } endpoint) _engine.SetEndpoint(peer, endpoint);
        if (change.ReplaceAllowedIps) _engine.AllowedIps.RemoveByPeer(peer);
        Span<byte> address = stackalloc byte[16];
        foreach (var ip in change.AllowedIps)
        {
            ip.Address.TryWriteBytes(address, out int n);
            if (ip.Remove) _engine.AllowedIps.Remove(address[..n], ip.PrefixLength, peer);
            else _engine.AllowedIps.Insert(address[..n], ip.PrefixLength, peer);
        }
        if (change.PersistentKeepaliveInterval is int keepalive) _engine.SetPersistentKeepalive(peer, keepalive, now);
        if (change.Daita is { } daita)
        {
            if (!_engine.SetDaita(peer, daita, now, out var error)) Log.DaitaNotEnabled(_log, peer, error);
        }
        else if (change.DisableDaita)
        {
            _engine.SetDaita(peer, null, now, out _);
        }
        // A peer section ends: packets that waited for configuration (e.g. an endpoint) may go now.
        if (_engine.IsUp && peer.StagedCount > 0) _engine.SendStagedPackets(peer, now);
    }

    /// <summary>
    /// Applies a <c>wg setconf</c> configuration text (replacing peers). Throws <see cref="FormatException"/>
    /// with the line and reason, e.g. <c>line 7: AllowedIPs: '10.0.0.300/32' is not an address</c>; on error the
    /// running device is untouched.
    /// </summary>
    public void Configure(string wgConfig)
    {
        if (!WgConfigFile.TryParse(wgConfig, out var request, out var error)) throw new FormatException(error);
        try
        {
            if (Configure(request) is { } failure) throw new InvalidOperationException(failure.Message);
        }
        finally
        {
            request.ClearSecrets();
        }
    }

    /// <summary>A UAPI <c>get</c> view of the device, with VeilTun's counters as extra keys that wg(8) ignores.</summary>
    public DeviceSnapshot GetSnapshot()
    {
        var snapshot = new DeviceSnapshot();
        lock (_sync)
        {
            var key = new byte[32];
            if (_engine.TryCopyPrivateKey(key)) snapshot.PrivateKey = key;
            snapshot.ListenPort = _udp?.Port ?? _listenPort;
            snapshot.Fwmark = _fwmark;
            foreach (var peer in _engine.Peers)
            {
                var ps = new PeerSnapshot
                {
                    PublicKey = peer.PublicKey.Bytes.ToArray(),
                    Endpoint = peer.Endpoint,
                    TxBytes = (ulong)peer.TxBytes,
                    RxBytes = (ulong)peer.RxBytes,
                    PersistentKeepaliveInterval = peer.PersistentKeepaliveInterval,
                };
                if (peer.HasPresharedKey) ps.PresharedKey = ((ReadOnlySpan<byte>)peer.PresharedKeyBytes).ToArray();
                if (peer.LastHandshake is { } t)
                {
                    long ticks = (t - DateTimeOffset.UnixEpoch).Ticks;
                    ps.LastHandshakeTime = (ticks / TimeSpan.TicksPerSecond, ticks % TimeSpan.TicksPerSecond * 100);
                }
                foreach (var (address, prefix) in _engine.AllowedIps.EntriesFor(peer)) ps.AllowedIps.Add((address, prefix));
                if (peer.Daita is { } daita) DaitaKeys.AppendSnapshot(ps.ExtraKeys, daita);
                snapshot.Peers.Add(ps);
            }
        }
        foreach (var (reason, count) in GetDropCounts())
            snapshot.ExtraKeys.Add(new("veiltun_drop_" + ToSnake(reason.ToString()), count.ToString()));
        // Packet buffers the pools hold (rented or free) and their native memory (outside the managed heap).
        snapshot.ExtraKeys.Add(new("veiltun_buffers_large", _pools.Large.Created.ToString(CultureInfo.InvariantCulture)));
        snapshot.ExtraKeys.Add(new("veiltun_buffers_small", _pools.Small.Created.ToString(CultureInfo.InvariantCulture)));
        AppendCounterKeys(snapshot.ExtraKeys);
        snapshot.ExtraKeys.Add(new("veiltun_buffers_bytes", _pools.RetainedBytes.ToString(CultureInfo.InvariantCulture)));
        if (ExtraStats is { } extra) snapshot.ExtraKeys.AddRange(extra());
        return snapshot;
    }

    /// <summary>More device-level <c>veiltun_*</c> get keys (multihop's link counters on the exit device).</summary>
    internal Func<IEnumerable<KeyValuePair<string, string>>>? ExtraStats { get; set; }

    private static string ToSnake(string pascal) =>
        string.Concat(pascal.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    DeviceSnapshot IUapiHandler.Get() => GetSnapshot();

    UapiError? IUapiHandler.Set(SetRequest request)
    {
        try
        {
            return Configure(request);
        }
        finally
        {
            request.ClearSecrets();
        }
    }

    bool IUapiHandler.IsExtensionPeerKey(string key) => DaitaKeys.IsSetKey(key);

    void IUapiHandler.OnError(string message) => Log.UapiError(_log, message);
}
