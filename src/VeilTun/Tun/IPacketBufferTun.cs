using VeilTun.Buffers;

namespace VeilTun.Tun;

/// <summary>
/// A TUN that exchanges whole pooled buffers with the tunnel instead of copying into and out of spans: in-process
/// packet pipes, such as the entry device of a multihop chain, whose "TUN" is fed by the exit device's datagrams.
/// A <see cref="Device.Tunnel"/> on such a TUN reads and writes through these members only. Thread-safe.
/// </summary>
public interface IPacketBufferTun : ITunDevice
{
    /// <summary>
    /// Blocks until a packet is available and hands it over (data = the IP packet; at least 16 bytes of headroom
    /// and 31 of tailroom, which the engine needs to seal in place). Returns null once the device is closed.
    /// The caller owns the buffer and must return it.
    /// </summary>
    PacketBuffer? ReadBuffer();

    /// <summary>As <see cref="ReadBuffer"/>, but returns null at once when nothing is queued.</summary>
    PacketBuffer? TryReadBuffer();

    /// <summary>Takes ownership of a decrypted IP packet (the device returns the buffer when done with it).</summary>
    void WriteBuffer(PacketBuffer packet);
}
