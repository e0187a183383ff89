namespace VeilTun.Buffers;

/// <summary>
/// One packet's memory: a pinned array with headroom in front of the data (for the 16-byte transport header,
/// and for multihop's outer IP/UDP header plus the entry hop's transport header) and tailroom behind it (for
/// padding and the 16-byte tag). Encryption and decryption happen in place, so a packet read from the TUN
/// leaves through the UDP socket in the same buffer, and the reverse.
/// </summary>
/// <remarks>
/// Ownership moves with the buffer: whoever is handed a buffer ("takes ownership") must either hand it on or
/// call <see cref="Return"/> exactly once. Not thread-safe; one owner at a time.
/// </remarks>
public sealed class PacketBuffer
{
    /// <summary>Headroom for a transport header (16) plus multihop wrapping (IPv6 40 + UDP 8 + 16) with slack.</summary>
    public const int DefaultHeadroom = 128;

    private readonly byte[] _array;
    private int _offset;
    private int _length;
    internal PacketPool? Pool;
    internal bool Rented;

    /// <summary>Creates an unpooled buffer of <paramref name="capacity"/> bytes (tests, cold paths).</summary>
    public PacketBuffer(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, DefaultHeadroom + 64);
        _array = GC.AllocateUninitializedArray<byte>(capacity, pinned: true);
        _offset = DefaultHeadroom;
    }

    /// <summary>Total bytes, headroom + data + tailroom.</summary>
    public int Capacity => _array.Length;

    /// <summary>Where the data starts in the underlying array.</summary>
    public int Offset => _offset;

    /// <summary>Length of the data.</summary>
    public int Length => _length;

    /// <summary>Bytes free in front of the data.</summary>
    public int Headroom => _offset;

    /// <summary>Bytes free behind the data.</summary>
    public int Tailroom => _array.Length - _offset - _length;

    /// <summary>The data.</summary>
    public Span<byte> Data => _array.AsSpan(_offset, _length);

    /// <summary>The whole array, for I/O that fills the buffer before the data bounds are known.</summary>
    public Span<byte> Raw => _array;

    /// <summary>The whole backing array (allocated on the pinned object heap: its address never moves).</summary>
    internal byte[] RawArray => _array;

    /// <summary>The whole array as memory (for async socket APIs).</summary>
    public Memory<byte> RawMemory => _array;

    /// <summary>
    /// The data as memory that pins for free (the array is allocated pinned), for vectored syscalls such as
    /// sendmsg with one iovec per buffer.
    /// </summary>
    public ReadOnlyMemory<byte> DataMemory =>
        System.Runtime.InteropServices.MemoryMarshal.CreateFromPinnedArray(_array, _offset, _length);

    /// <summary>Space after the headroom for a read: the caller then calls <see cref="SetData"/>.</summary>
    public Span<byte> ReadArea(int headroom = DefaultHeadroom) => _array.AsSpan(headroom);

    /// <summary>Sets the data bounds.</summary>
    public void SetData(int offset, int length)
    {
        if ((uint)offset > (uint)_array.Length || (uint)length > (uint)(_array.Length - offset))
            throw new ArgumentOutOfRangeException(nameof(length));
        _offset = offset;
        _length = length;
    }

    /// <summary>Empties the buffer and puts the data start at <paramref name="headroom"/>.</summary>
    public void Reset(int headroom = DefaultHeadroom) => SetData(headroom, 0);

    /// <summary>Grows the data by <paramref name="count"/> bytes at the front and returns them.</summary>
    public Span<byte> Prepend(int count)
    {
        if (count > _offset) throw new InvalidOperationException("not enough headroom");
        _offset -= count;
        _length += count;
        return _array.AsSpan(_offset, count);
    }

    /// <summary>Drops <paramref name="count"/> bytes from the front of the data.</summary>
    public void TrimFront(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)_length);
        _offset += count;
        _length -= count;
    }

    /// <summary>Sets the data length, growing into the tailroom or shrinking.</summary>
    public void SetLength(int length)
    {
        if ((uint)length > (uint)(_array.Length - _offset)) throw new InvalidOperationException("not enough tailroom");
        _length = length;
    }

    /// <summary>Gives the buffer back to its pool (no-op for unpooled buffers). Exactly once per rent.</summary>
    public void Return() => Pool?.Return(this);
}
