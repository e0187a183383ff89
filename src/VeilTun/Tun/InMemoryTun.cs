using System.Collections.Concurrent;
using VeilTun.Buffers;
using VeilTun.Noise;

namespace VeilTun.Tun;

/// <summary>
/// An in-process TUN: the application injects IP packets that the tunnel reads (as if the kernel routed them
/// into a TUN) and takes the packets the tunnel delivers. Lets apps and tests run a tunnel with no root.
/// Bounded: when the application does not take delivered packets, the oldest are dropped and counted.
/// Thread-safe.
/// </summary>
public sealed class InMemoryTun : ITunDevice
{
    private readonly BlockingCollection<byte[]> _toTunnel;
    private readonly BlockingCollection<byte[]> _fromTunnel;
    private readonly CancellationTokenSource _closed = new();
    private long _dropped;

    /// <summary>
    /// A TUN named <paramref name="name"/> with the given MTU; each direction queues at most
    /// <paramref name="capacity"/> packets.
    /// </summary>
    public InMemoryTun(string name = "mem0", int mtu = 1420, int capacity = 1024)
    {
        Name = name;
        Mtu = mtu;
        _toTunnel = new BlockingCollection<byte[]>(capacity);
        _fromTunnel = new BlockingCollection<byte[]>(capacity);
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public int Mtu { get; }

    /// <summary>Delivered packets dropped because the application did not take them in time.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <inheritdoc/>
    public event Action<TunEvent>? Event;

    /// <summary>Application side: send an IP packet into the tunnel. False if the queue is full or closed.</summary>
    public bool Inject(ReadOnlySpan<byte> packet)
    {
        try
        {
            return _toTunnel.TryAdd(packet.ToArray());
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Application side: take a packet the tunnel delivered, waiting up to <paramref name="timeout"/>.</summary>
    public bool TryTake(out byte[] packet, TimeSpan timeout)
    {
        try
        {
            return _fromTunnel.TryTake(out packet!, timeout);
        }
        catch (ObjectDisposedException)
        {
            packet = null!;
            return false;
        }
    }

    /// <summary>Always up: an in-process TUN has no link state.</summary>
    public bool IsUp => true;

    /// <inheritdoc/>
    public int Read(List<PacketBuffer> packets, int max, BufferPools pools)
    {
        int start = packets.Count;
        while (packets.Count - start < max)
        {
            byte[]? next;
            try
            {
                if (packets.Count == start)
                {
                    if (!_toTunnel.TryTake(out next, Timeout.Infinite, _closed.Token)) break;
                }
                else if (!_toTunnel.TryTake(out next))
                {
                    break;
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
            if (!pools.TryRentFor(next.Length, out var buffer))
            {
                pools.Drops.Count(DropReason.PoolExhausted);
                continue;
            }
            if (next.Length > buffer.Tailroom - 64)
            {
                buffer.Return(); // larger than any packet buffer: dropped, as a TUN would
                pools.Drops.Count(DropReason.PacketTooBig);
                continue;
            }
            buffer.SetLength(next.Length);
            next.CopyTo(buffer.Data);
            packets.Add(buffer);
        }
        return packets.Count - start;
    }

    /// <inheritdoc/>
    public void Write(List<PacketBuffer> packets, BufferPools pools)
    {
        foreach (var b in packets)
        {
            if (!_closed.IsCancellationRequested)
            {
                var copy = b.Data.ToArray();
                while (!_fromTunnel.TryAdd(copy))
                {
                    if (_fromTunnel.TryTake(out _)) Interlocked.Increment(ref _dropped);
                }
            }
            b.Return();
        }
        packets.Clear();
    }

    /// <summary>Simulates link state changes for tests.</summary>
    public void Raise(TunEvent e) => Event?.Invoke(e);

    /// <inheritdoc/>
    public void Close() => _closed.Cancel();

    /// <summary>Same as <see cref="Close"/>.</summary>
    public void Dispose() => Close();
}
