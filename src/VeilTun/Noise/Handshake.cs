using System.Security.Cryptography;
using VeilTun.Crypto;

namespace VeilTun.Noise;

/// <summary>
/// One peer's Noise_IKpsk2 handshake state: chaining key, hash, ephemeral keys and indices, plus the
/// per-peer replay and flood guards (greatest TAI64N timestamp seen, time of the last consumed initiation).
/// Not thread-safe; owned by the <see cref="ProtocolEngine"/> that owns the peer.
/// </summary>
internal sealed class Handshake
{
    internal Key32 ChainKey;
    internal Key32 Hash;
    internal Key32 LocalEphemeralPrivate;
    internal Key32 RemoteEphemeral;

    /// <summary>DH(our static, their static), computed once per key change. All-zero means "never handshake".</summary>
    internal Key32 PrecomputedStaticStatic;
    internal bool HasStaticStatic;

    internal byte[] LatestTimestamp = new byte[Tai64N.Size];
    internal TimeSpan? LastInitiationConsumed;

    public HandshakeState State { get; internal set; }

    /// <summary>Our index for this handshake (registered in the index table while the state is not Zeroed).</summary>
    public uint LocalIndex { get; internal set; }

    /// <summary>The other side's index for this handshake.</summary>
    public uint RemoteIndex { get; internal set; }

    /// <summary>Wipes the ephemeral state (not the static-static value or the replay guards).</summary>
    internal void Clear()
    {
        CryptographicOperations.ZeroMemory(ChainKey);
        CryptographicOperations.ZeroMemory(Hash);
        CryptographicOperations.ZeroMemory(LocalEphemeralPrivate);
        CryptographicOperations.ZeroMemory(RemoteEphemeral);
        State = HandshakeState.Zeroed;
        RemoteIndex = 0;
    }

    /// <summary>Wipes everything, including the precomputed static-static secret.</summary>
    internal void Destroy()
    {
        Clear();
        CryptographicOperations.ZeroMemory(PrecomputedStaticStatic);
        HasStaticStatic = false;
    }
}
