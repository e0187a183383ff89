using VeilTun.Buffers;

namespace VeilTun.Udp;

/// <summary>
/// A batch of datagrams in pooled buffers, each with its remote endpoint (the sender of a received datagram, the
/// destination of one to send) and its local side (where it arrived; the source to send from). Transports append
/// received datagrams to one; the tunnel hands each on and clears it. Not thread-safe.
/// </summary>
public class DatagramBatch
{
    private PacketBuffer[] _buffers;
    private NetEndpoint[] _endpoints;
    private PacketInfo[] _locals;

    /// <param name="capacity">Initial room; the batch grows when a transport appends more (rarely).</param>
    public DatagramBatch(int capacity)
    {
        _buffers = new PacketBuffer[capacity];
        _endpoints = new NetEndpoint[capacity];
        _locals = new PacketInfo[capacity];
    }

    /// <summary>Datagrams in the batch.</summary>
    public int Count { get; private set; }

    /// <summary>The buffers, <see cref="Count"/> of them from the start.</summary>
    public Span<PacketBuffer> Buffers => _buffers.AsSpan(0, Count);

    /// <summary>Per datagram: the remote endpoint.</summary>
    public Span<NetEndpoint> Endpoints => _endpoints.AsSpan(0, Count);

    /// <summary>Per datagram: the local address and interface.</summary>
    public Span<PacketInfo> Locals => _locals.AsSpan(0, Count);

    /// <summary>Appends a datagram; the batch owns its buffer until it is handed on.</summary>
    public void Add(PacketBuffer buffer, NetEndpoint endpoint, in PacketInfo local)
    {
        if (Count == _buffers.Length) Grow();
        _buffers[Count] = buffer;
        _endpoints[Count] = endpoint;
        _locals[Count] = local;
        Count++;
    }

    /// <summary>Forgets every entry (the buffers were handed on; they are not returned here).</summary>
    public virtual void Clear()
    {
        Array.Clear(_buffers, 0, Count);
        Count = 0;
    }

    /// <summary>Returns every buffer to its pool and empties the batch.</summary>
    public void ReturnAll()
    {
        foreach (var b in Buffers) b.Return();
        Clear();
    }

    private void Grow()
    {
        int size = Math.Max(4, _buffers.Length * 2);
        Array.Resize(ref _buffers, size);
        Array.Resize(ref _endpoints, size);
        Array.Resize(ref _locals, size);
    }
}
