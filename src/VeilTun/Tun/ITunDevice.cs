using VeilTun.Buffers;

namespace VeilTun.Tun;

/// <summary>
/// A layer-3 tunnel interface as the tunnel sees it: batches of whole IP packets in pooled buffers, read and
/// written. Everything a kind of TUN does to move packets in bulk (offload headers, splitting super-packets,
/// coalescing segments) happens behind this contract; the tunnel only sees plain IP packets.
/// </summary>
public interface ITunDevice : IDisposable
{
    /// <summary>Current interface name (follows renames where the implementation can observe them).</summary>
    string Name { get; }

    /// <summary>Last known MTU of the interface in bytes.</summary>
    int Mtu { get; }

    /// <summary>True while the link is up (packets flow only then). In-process TUNs are always up.</summary>
    bool IsUp { get; }

    /// <summary>
    /// Blocks until a packet is available, then appends it and whatever else is queued right now to
    /// <paramref name="packets"/>, until the list holds at least <paramref name="max"/> packets (one read that the
    /// kernel made as a super-packet is split whole, so the list may end up a little longer). Each packet is in its
    /// own buffer from <paramref name="pools"/>, its data starting at the IP header, with at least
    /// <see cref="PacketBuffer.DefaultHeadroom"/> bytes of headroom and room for padding and tag behind it; the
    /// caller owns the buffers. Packets that cannot be read (no buffer free, malformed) are dropped and counted in
    /// <see cref="BufferPools.Drops"/>. Returns the number appended; 0 once <see cref="Close"/> was called or the
    /// device went away (never throws for that). One reader at a time.
    /// </summary>
    int Read(List<PacketBuffer> packets, int max, BufferPools pools);

    /// <summary>
    /// Writes <paramref name="packets"/> (decrypted IP packets) to the interface in their order, then returns every
    /// buffer and clears the list. Packets that cannot be written (link down, kernel refused) are dropped and
    /// counted in <see cref="BufferPools.Drops"/>. Several threads may write at once, each with its own list.
    /// </summary>
    void Write(List<PacketBuffer> packets, BufferPools pools);

    /// <summary>
    /// Link state changes. Raised on a background thread; handlers must be quick and must not throw (an escaping
    /// exception is unhandled on that thread and ends the process).
    /// </summary>
    event Action<TunEvent>? Event;

    /// <summary>
    /// Wakes a blocked <see cref="Read"/> (which then returns 0), stops event delivery and releases the device.
    /// Idempotent and thread-safe; <see cref="IDisposable.Dispose"/> does the same.
    /// </summary>
    void Close();
}
