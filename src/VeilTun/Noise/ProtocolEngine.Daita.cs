using System.Buffers.Binary;
using VeilTun.Buffers;
using VeilTun.Daita;

namespace VeilTun.Noise;

// DAITA in the engine: per peer, a DaitaPeer sees the peer's traffic and the engine carries out what its
// machines decide. Peers without DAITA never reach any of this (one null check per packet).
//   send:    SendPacket → NormalSent + pad to MTU → staged → (delay queue while delaying) → seal → TunnelSent
//   receive: decrypt → TunnelRecv → decoy (first byte 0xFF): PaddingRecv, dropped; else NormalRecv → TUN
//   timers:  Tick runs each DaitaPeer's due timers (decoys, delays, machine timers) with the protocol timers.
internal sealed partial class ProtocolEngine
{
    private IDaitaRandom? _daitaRandom;
    private TimeSpan _newDaitaDeadline = TimeSpan.MaxValue;

    /// <summary>Randomness for the Maybenot machines (default: a CSPRNG). Set before enabling DAITA on a peer.</summary>
    public IDaitaRandom DaitaRandom
    {
        get => _daitaRandom ??= new SecureDaitaRandom();
        set => _daitaRandom = value;
    }

    /// <summary>
    /// Enables DAITA on a peer with <paramref name="settings"/> (null disables it). The machines start from their
    /// start states at <paramref name="now"/>. Returns false with the reason if the settings are unusable; then
    /// nothing changes.
    /// </summary>
    public bool SetDaita(Peer peer, DaitaSettings? settings, TimeSpan now, out string? error)
    {
        error = null;
        DaitaPeer? daita = null;
        if (settings is not null && !DaitaPeer.TryCreate(settings, new DaitaHost(this, peer), DaitaRandom, now, out daita, out error))
            return false;
        peer.Daita?.Reset(now, ReleaseDelayed(peer));
        peer.Daita = daita;
        if (daita is null) _daitaPeers.Remove(peer);
        else if (!_daitaPeers.Contains(peer)) _daitaPeers.Add(peer);
        if (daita is not null && daita.NextDeadline < _newDaitaDeadline) _newDaitaDeadline = daita.NextDeadline;
        return true;
    }

    // The peers with DAITA on: their machines' deadlines are checked on every tick (they are few, and their timers
    // run while traffic flows), and while there is one the timer thread wakes at least every 100 ms.
    private readonly List<Peer> _daitaPeers = new();

    /// <summary>Peers with DAITA on.</summary>
    internal int DaitaPeerCount => _daitaPeers.Count;

    // A delayed real packet that cannot go out any more waits for the next session like any staged packet.
    private Action<PacketBuffer> ReleaseDelayed(Peer peer) => b =>
    {
        if (IsUp && b.Length > 0 && b.Data[0] != DaitaPeer.DecoyMarker) Stage(peer, b);
        else b.Return();
    };

    /// <summary>Seals and sends a packet DAITA released (a delayed real packet or a decoy) on the current session.</summary>
    private bool SendDaitaPacket(Peer peer, PacketBuffer plaintext, TimeSpan now)
    {
        bool decoy = plaintext.Length > 0 && plaintext.Data[0] == DaitaPeer.DecoyMarker;
        var keypair = peer.Keypairs.Current;
        if (!IsUp || !CanSendWith(keypair, now) || peer.Endpoint.IsNone || !keypair.TryTakeNonce(out ulong nonce))
        {
            // No session: a decoy is pointless without one (GotaTun drops it too); a real packet waits for it.
            if (decoy || !IsUp)
            {
                plaintext.Return();
                return false;
            }
            Stage(peer, plaintext);
            SendHandshakeInitiation(peer, isRetry: false, now);
            return false;
        }
        int length = Messages.TransportOverhead + Messages.PaddedLength(plaintext.Length, Mtu);
        peer.Timers.AnyAuthenticatedPacketTraversal(now, peer.PersistentKeepaliveInterval);
        if (_output.SealAndSend(plaintext, keypair, nonce, peer, Mtu)) peer.AddTx(length);
        peer.Timers.AnyAuthenticatedPacketSent();
        if (peer.Timers.DataSentArms) peer.Timers.DataSent(now, Jitter());
        KeepKeyFreshSending(peer, keypair, now);
        return true;
    }

    private sealed class DaitaHost(ProtocolEngine engine, Peer peer) : IDaitaHost
    {
        public int Mtu => engine.Mtu;

        public int PendingOutbound => peer.Staged.Count;

        public PacketBuffer? RentDecoy()
        {
            if (!engine._pool.TryRent(out var b)) return null;
            int mtu = Math.Max(engine.Mtu, DaitaPeer.DecoyHeaderSize);
            if (b.Tailroom < mtu)
            {
                b.Return();
                return null;
            }
            b.SetLength(mtu);
            var data = b.Data;
            data.Clear();
            data[0] = DaitaPeer.DecoyMarker;
            BinaryPrimitives.WriteUInt16BigEndian(data[2..], (ushort)Math.Min(mtu, ushort.MaxValue));
            return b;
        }

        public bool SendNow(PacketBuffer plaintext, TimeSpan now) => engine.SendDaitaPacket(peer, plaintext, now);

        public void OnDeadline(TimeSpan due)
        {
            if (due < engine._newDaitaDeadline) engine._newDaitaDeadline = due;
        }
    }
}
