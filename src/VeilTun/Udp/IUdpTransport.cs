using VeilTun.Buffers;

namespace VeilTun.Udp;

/// <summary>
/// The data-plane UDP transport of a WireGuard device as the tunnel sees it: batches of datagrams in pooled
/// buffers, received and sent, with sticky source addresses. Everything a kind of socket does to move datagrams
/// in bulk (receive coalescing, segmentation offload on send, batched syscalls) happens behind this contract.
/// </summary>
public interface IUdpTransport : IDisposable
{
    /// <summary>The bound local port.</summary>
    int Port { get; }

    /// <summary>
    /// Blocks until a datagram arrives, then appends it and whatever else is queued right now to
    /// <paramref name="batch"/>, until the batch holds at least <paramref name="max"/> datagrams (datagrams the
    /// kernel delivered as one coalesced run are appended whole, so the batch may end up a little longer). Each
    /// datagram is in its own buffer from <paramref name="pools"/> with the sender and the local address it came
    /// to; the caller owns the buffers. Datagrams that cannot be received (no buffer free, empty, oversized) are
    /// dropped and counted in <see cref="BufferPools.Drops"/>. Returns the number appended; 0 once
    /// <see cref="Close"/> was called. One receiver at a time.
    /// </summary>
    int Receive(DatagramBatch batch, int max, BufferPools pools);

    /// <summary>
    /// Sends <paramref name="datagrams"/> in order, datagram i to <paramref name="destinations"/>[i] from
    /// <paramref name="sources"/>[i] (none: the kernel chooses), and takes ownership of every buffer. When a pinned
    /// source no longer works (address gone, route changed) the datagram goes again without it and
    /// <paramref name="sourceInvalid"/> is set, so the caller forgets its cached source. Never throws for network
    /// conditions. Returns how many datagrams were handed to the network. Thread-safe.
    /// </summary>
    int Send(ReadOnlySpan<PacketBuffer> datagrams, ReadOnlySpan<NetEndpoint> destinations, ReadOnlySpan<PacketInfo> sources, out bool sourceInvalid);

    /// <summary>Sets SO_MARK on outgoing packets (0 clears it). Needs CAP_NET_ADMIN.</summary>
    void SetFwmark(uint mark);

    /// <summary>Wakes a blocked receiver (it returns 0) and releases the transport. Idempotent, thread-safe.</summary>
    void Close();
}
