namespace VeilTun.Tun;

/// <summary>
/// A layer-3 tunnel interface: whole IP packets in and out, no link-layer or packet-information header.
/// </summary>
public interface ITunDevice : IDisposable
{
    /// <summary>Current interface name (follows renames where the implementation can observe them).</summary>
    string Name { get; }

    /// <summary>Last known MTU of the interface in bytes.</summary>
    int Mtu { get; }

    /// <summary>
    /// Blocks until a packet is available and copies it to <paramref name="packet"/>, starting at the IP header.
    /// Returns its length, or 0 once <see cref="Close"/> was called or the device went away (never throws for
    /// that). Packets longer than <paramref name="packet"/> are dropped, so pass at least <see cref="Mtu"/> bytes
    /// (65535 is always enough). May be called from several threads at once; each packet goes to one reader.
    /// </summary>
    int Read(Span<byte> packet);

    /// <summary>
    /// Writes one IP packet (starting at the IP header) to the interface. Returns silently, dropping the packet,
    /// when the interface is down, gone, closed or the kernel rejects the packet; throws only for unexpected
    /// failures. Thread-safe.
    /// </summary>
    void Write(ReadOnlySpan<byte> packet);

    /// <summary>
    /// Reads a packet only if one is queued right now: its length, -1 when none is (or the device cannot tell),
    /// 0 once closed. Lets a reader drain a burst into one batch after a blocking <see cref="Read"/>.
    /// </summary>
    int TryRead(Span<byte> packet) => -1;

    /// <summary>
    /// Link state changes. Raised on a background thread; handlers must be quick and must not throw (an escaping
    /// exception is unhandled on that thread and ends the process).
    /// </summary>
    event Action<TunEvent>? Event;

    /// <summary>
    /// Wakes every blocked <see cref="Read"/> (which then returns 0), stops event delivery and releases the device.
    /// Idempotent and thread-safe; <see cref="IDisposable.Dispose"/> does the same.
    /// </summary>
    void Close();
}
