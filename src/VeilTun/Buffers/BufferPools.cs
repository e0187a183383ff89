using VeilTun.Noise;

namespace VeilTun.Buffers;

/// <summary>
/// The packet buffers of one tunnel as its transports see them: large buffers (a packet or a super-packet of up to
/// 64 KiB), small ones (one packet of up to the MTU, with headroom, padding and tag), and the counters where a
/// transport records what it had to drop. A transport rents from here when it reads; whoever ends a buffer's
/// journey returns it. Thread-safe.
/// </summary>
public sealed class BufferPools : IDisposable
{
    /// <summary>Size of a large buffer: the largest IP packet or super-packet, its headroom and some tailroom.</summary>
    public const int LargeBufferSize = 65535 + PacketBuffer.DefaultHeadroom + 64;

    /// <summary>
    /// Size of a small buffer: headroom, a packet of up to the MTU, padding and tag (2 KiB fits MTUs up to ~1880; a
    /// larger MTU or packet takes a large buffer).
    /// </summary>
    public const int SmallBufferSize = 2048;

    private const int SmallBufferSlack = 64; // padding (15) + tag (16), rounded up

    private volatile int _mtu;

    /// <param name="maxLarge">Upper bound on large buffers.</param>
    /// <param name="maxSmall">Upper bound on small buffers.</param>
    /// <param name="mtu">The tunnel MTU: a packet is given a small buffer only if the MTU fits in one (DAITA pads
    /// packets up to it in place).</param>
    public BufferPools(int maxLarge, int maxSmall, int mtu)
    {
        Large = new PacketPool(LargeBufferSize, maxLarge);
        Small = new PacketPool(SmallBufferSize, maxSmall);
        _mtu = mtu;
    }

    /// <summary>Buffers for a packet or super-packet of up to 64 KiB.</summary>
    public PacketPool Large { get; }

    /// <summary>Buffers for one packet of up to the MTU.</summary>
    public PacketPool Small { get; }

    /// <summary>What transports dropped, by reason (the tunnel adds these to its own counts).</summary>
    public DropCounters Drops { get; } = new();

    /// <summary>The tunnel MTU, followed as the interface's MTU changes.</summary>
    public int Mtu
    {
        get => _mtu;
        set => _mtu = value;
    }

    /// <summary>Native memory both pools hold (see <see cref="PacketPool.RetainedBytes"/>).</summary>
    public long RetainedBytes => Large.RetainedBytes + Small.RetainedBytes;

    /// <summary>Ends both pools (see <see cref="PacketPool.Dispose"/>): their memory goes back as buffers come home.</summary>
    public void Dispose()
    {
        Large.Dispose();
        Small.Dispose();
    }

    /// <summary>Buffers rented and not yet returned, in both pools.</summary>
    public int Outstanding => Large.Outstanding + Small.Outstanding;

    /// <summary>
    /// Rents a buffer for one packet of <paramref name="length"/> bytes: a small one when the packet (and the MTU,
    /// for padding) fits, else a large one. False when neither pool has one left; the caller counts the drop.
    /// </summary>
    public bool TryRentFor(int length, out PacketBuffer buffer)
    {
        int needed = PacketBuffer.DefaultHeadroom + Math.Max(length, _mtu) + SmallBufferSlack;
        if (needed <= SmallBufferSize && Small.TryRent(out buffer)) return true;
        return Large.TryRent(out buffer);
    }
}
