using VeilTun.Buffers;

namespace VeilTun.Udp;

/// <summary>
/// A UDP transport that exchanges whole pooled buffers with the tunnel instead of copying: in-process transports
/// such as the exit device of a multihop chain, whose datagrams are wrapped in IP/UDP headers in the buffer's
/// headroom and handed to the entry device. A <see cref="Device.Tunnel"/> uses these members when present.
/// Thread-safe.
/// </summary>
public interface IPacketBufferUdp : IUdpTransport
{
    /// <summary>
    /// Blocks until a datagram arrives and hands it over (the caller owns the buffer and must return it).
    /// Returns null once the transport is closed.
    /// </summary>
    PacketBuffer? ReceiveBuffer(out NetEndpoint from, out PacketInfo local);

    /// <summary>As <see cref="ReceiveBuffer"/>, but returns null at once when nothing is queued.</summary>
    PacketBuffer? TryReceiveBuffer(out NetEndpoint from, out PacketInfo local);

    /// <summary>
    /// Sends the datagram in <paramref name="datagram"/>'s data and takes ownership of the buffer in every case
    /// (the transport may prepend headers into its headroom and pass the same buffer on).
    /// </summary>
    SendResult SendBuffer(PacketBuffer datagram, NetEndpoint to, in PacketInfo source);
}
