using VeilTun.Buffers;

namespace VeilTun.Daita;

/// <summary>
/// What a <see cref="DaitaPeer"/> needs from the tunnel it runs in: the engine implements it per peer. Called under
/// the engine's serialization only.
/// </summary>
internal interface IDaitaHost
{
    /// <summary>The tunnel MTU: real packets are padded to it and decoys are this long (before encryption).</summary>
    int Mtu { get; }

    /// <summary>Real packets handed to the engine but not yet on the wire (waiting for a session).</summary>
    int PendingOutbound { get; }

    /// <summary>A fresh plaintext decoy (GotaTun's format: 0xFF, 0, big-endian MTU, zeros to MTU), or null.</summary>
    PacketBuffer? RentDecoy();

    /// <summary>
    /// Seals <paramref name="plaintext"/> (a real packet or a decoy) on the current session and sends it. Takes
    /// ownership. Returns false if it did not go out now (no session: a decoy is dropped, a real packet waits for
    /// the handshake as any other).
    /// </summary>
    bool SendNow(PacketBuffer plaintext, TimeSpan now);

    /// <summary>A timer was set for <paramref name="due"/> (TimeSpan.Zero: work is waiting now): wake the timer loop if it sleeps longer.</summary>
    void OnDeadline(TimeSpan due);
}
