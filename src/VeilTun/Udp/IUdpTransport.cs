namespace VeilTun.Udp;

/// <summary>
/// The data-plane UDP socket of a WireGuard device: one socket for both address families, reporting and
/// accepting sticky source addresses.
/// </summary>
public interface IUdpTransport : IDisposable
{
    /// <summary>The bound local port.</summary>
    int Port { get; }

    /// <summary>
    /// Blocks until a datagram arrives and copies it to <paramref name="buffer"/>. Returns its length, or 0 once
    /// <see cref="Close"/> was called. <paramref name="from"/> is the sender, <paramref name="local"/> the address
    /// and interface it was sent to. Empty datagrams and datagrams longer than <paramref name="buffer"/> are
    /// discarded (no WireGuard message is empty; pass 65535 bytes to never truncate).
    /// </summary>
    int Receive(Span<byte> buffer, out NetEndpoint from, out PacketInfo local);

    /// <summary>
    /// Sends one datagram to <paramref name="to"/>, from <paramref name="source"/> when it is not none.
    /// Never throws for network conditions; see <see cref="SendResult"/>.
    /// </summary>
    SendResult Send(ReadOnlySpan<byte> datagram, NetEndpoint to, in PacketInfo source);

    /// <summary>Sets SO_MARK on outgoing packets (0 clears it). Needs CAP_NET_ADMIN.</summary>
    void SetFwmark(uint mark);

    /// <summary>
    /// Receives a datagram only if one is queued right now: its length, or -1 when none is (or the transport cannot
    /// tell). Lets a reader drain a burst into one batch after a blocking <see cref="Receive"/>.
    /// </summary>
    int TryReceive(Span<byte> buffer, out NetEndpoint from, out PacketInfo local)
    {
        from = default;
        local = default;
        return -1;
    }

    /// <summary>Wakes blocked receivers (they return 0) and releases the socket. Idempotent, thread-safe.</summary>
    void Close();
}
