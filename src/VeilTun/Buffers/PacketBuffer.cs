namespace VeilTun.Buffers;

/// <summary>
/// One packet's memory: a block that never moves (native memory from its pool's arena, or a pinned array when
/// unpooled) with headroom in front of the data (for the 16-byte transport header, and for multihop's outer
/// IP/UDP header plus the entry hop's transport header) and tailroom behind it (for padding and the 16-byte tag). Encryption and decryption happen in place, so a packet read from the TUN
/// leaves through the UDP socket in the same buffer, and the reverse.
/// </summary>
/// <remarks>
/// <para>Ownership moves with the buffer: whoever is handed a buffer ("takes ownership") must either hand it on or
/// call <see cref="Return"/> exactly once. Not thread-safe; one owner at a time.</para>
/// <para>Spliced payload (zero copy for offloads): a packet cut out of a larger buffer (a TSO super-packet, a GRO
/// receive) may hold only its own headers and leave its payload where it lies. <see cref="Splice"/> records
/// where (a range of the source buffer, which gains a reference and so stays rented until every packet cut from
/// it has been returned); the packet's <see cref="Length"/> counts the payload and the bytes of its own memory at
/// the payload's position are a reserved gap. The cipher then reads the payload from the source and writes its
/// output into the gap (<c>ProtocolEngine.Encrypt</c>, <c>TryOpenTransport</c>): no copy but the crypto's.
/// Anything else that asks for <see cref="Data"/> first gets the payload copied in (<see cref="Materialize"/>),
/// so a reader never sees the gap; code that only needs the headers reads <see cref="DataInPlace"/>.</para>
/// </remarks>
public sealed class PacketBuffer
{
    /// <summary>Headroom for a transport header (16) plus multihop wrapping (IPv6 40 + UDP 8 + 16) with slack.</summary>
    public const int DefaultHeadroom = 128;

    private readonly NativeBufferMemory _memory;
    private int _offset;
    private int _length;
    internal PacketPool? Pool;
    internal bool Rented;
    private int _sharers; // holders besides the owner (packets spliced onto this buffer); changed atomically
    private PacketBuffer? _spliceSource;
    private int _spliceAt; // index in the buffer where the gap starts
    private int _spliceSourceAt; // index in the source buffer
    private int _spliceLength;

    /// <summary>Creates an unpooled buffer of <paramref name="capacity"/> bytes (tests, cold paths).</summary>
    public PacketBuffer(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, DefaultHeadroom + 64);
        _memory = new NativeBufferMemory(capacity);
        _offset = DefaultHeadroom;
    }

    /// <summary>A pooled buffer over <paramref name="memory"/> (a chunk of its pool's native arena).</summary>
    internal PacketBuffer(NativeBufferMemory memory)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(memory.Length, DefaultHeadroom + 64);
        _memory = memory;
        _offset = DefaultHeadroom;
    }

    /// <summary>The memory behind the buffer (for the pool, which releases it, and for iovecs).</summary>
    internal NativeBufferMemory NativeMemory => _memory;

    /// <summary>Total bytes, headroom + data + tailroom.</summary>
    public int Capacity => _memory.Length;

    /// <summary>Where the data starts in the buffer.</summary>
    public int Offset => _offset;

    /// <summary>Length of the data.</summary>
    public int Length => _length;

    /// <summary>Bytes free in front of the data.</summary>
    public int Headroom => _offset;

    /// <summary>Bytes free behind the data.</summary>
    public int Tailroom => _memory.Length - _offset - _length;

    /// <summary>The data (a spliced payload is copied in first; see <see cref="Materialize"/>).</summary>
    public Span<byte> Data
    {
        get
        {
            if (_spliceSource is not null) Materialize();
            return _memory.Slice(_offset, _length);
        }
    }

    /// <summary>
    /// The data as it lies in this buffer: for a spliced packet the payload's place is a gap of undefined bytes.
    /// For readers of headers (which always lie in the buffer) and for the cipher, which fills the gap itself.
    /// </summary>
    internal Span<byte> DataInPlace => _memory.Slice(_offset, _length);

    /// <summary>True while the payload still lies in another buffer (<see cref="Splice"/>).</summary>
    public bool IsSpliced => _spliceSource is not null;

    /// <summary>
    /// Where the spliced payload is: its bytes in the source buffer, and where they belong in this buffer's data
    /// (an offset from the data start). False when nothing is spliced.
    /// </summary>
    internal bool TryGetSplice(out ReadOnlySpan<byte> payload, out int dataOffset)
    {
        if (_spliceSource is not { } source)
        {
            payload = default;
            dataOffset = 0;
            return false;
        }
        payload = source._memory.Slice(_spliceSourceAt, _spliceLength);
        dataOffset = _spliceAt - _offset;
        return true;
    }

    /// <summary>
    /// Makes the last <paramref name="length"/> bytes of the data (which must already count them) the bytes at
    /// <paramref name="sourceIndex"/> of <paramref name="source"/>'s memory, without copying them. The source gains
    /// a reference (it returns to its pool after its owner and every packet spliced onto it have returned).
    /// </summary>
    internal void Splice(PacketBuffer source, int sourceIndex, int length)
    {
        if (_spliceSource is not null) throw new InvalidOperationException("already spliced");
        if (ReferenceEquals(source, this) || source._spliceSource is not null) throw new ArgumentException("invalid splice source", nameof(source));
        if ((uint)length > (uint)_length || (uint)sourceIndex > (uint)source._memory.Length || (uint)length > (uint)(source._memory.Length - sourceIndex))
            throw new ArgumentOutOfRangeException(nameof(length));
        Interlocked.Increment(ref source._sharers);
        _spliceSource = source;
        _spliceSourceAt = sourceIndex;
        _spliceAt = _offset + _length - length;
        _spliceLength = length;
    }

    /// <summary>Copies a spliced payload into its place in this buffer and lets go of the source.</summary>
    public void Materialize()
    {
        if (_spliceSource is not { } source) return;
        source._memory.Slice(_spliceSourceAt, _spliceLength).CopyTo(_memory.Slice(_spliceAt));
        Unsplice();
    }

    /// <summary>
    /// Lets go of the source once the caller has written the payload's place itself (the cipher wrote its output
    /// there), or when the payload is no longer wanted.
    /// </summary>
    internal void Unsplice()
    {
        var source = _spliceSource;
        if (source is null) return;
        _spliceSource = null;
        source.Return();
    }

    /// <summary>The whole buffer, for I/O that fills it before the data bounds are known.</summary>
    public Span<byte> Raw => _memory.Span;

    /// <summary>The whole buffer as memory (for async socket APIs; it never moves, so pinning is free).</summary>
    public Memory<byte> RawMemory => _memory.GetMemory(0, _memory.Length);

    /// <summary>
    /// The data as memory that pins for free (the buffer's memory never moves), for vectored syscalls such as
    /// sendmsg with one iovec per buffer.
    /// </summary>
    public ReadOnlyMemory<byte> DataMemory
    {
        get
        {
            if (_spliceSource is not null) Materialize();
            return _memory.GetMemory(_offset, _length);
        }
    }

    /// <summary>Space after the headroom for a read: the caller then calls <see cref="SetData"/>.</summary>
    public Span<byte> ReadArea(int headroom = DefaultHeadroom) => _memory.Slice(headroom);

    /// <summary>Sets the data bounds (a spliced payload is copied in first).</summary>
    public void SetData(int offset, int length)
    {
        if (_spliceSource is not null) Materialize();
        if ((uint)offset > (uint)_memory.Length || (uint)length > (uint)(_memory.Length - offset))
            throw new ArgumentOutOfRangeException(nameof(length));
        _offset = offset;
        _length = length;
    }

    /// <summary>Empties the buffer and puts the data start at <paramref name="headroom"/>.</summary>
    public void Reset(int headroom = DefaultHeadroom)
    {
        Unsplice();
        SetData(headroom, 0);
    }

    /// <summary>Grows the data by <paramref name="count"/> bytes at the front and returns them.</summary>
    public Span<byte> Prepend(int count)
    {
        if (count > _offset) throw new InvalidOperationException("not enough headroom");
        _offset -= count;
        _length += count;
        return _memory.Slice(_offset, count);
    }

    /// <summary>Drops <paramref name="count"/> bytes from the front of the data.</summary>
    public void TrimFront(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)_length);
        if (_spliceSource is not null && _offset + count > _spliceAt) Materialize();
        _offset += count;
        _length -= count;
    }

    /// <summary>Sets the data length, growing into the tailroom or shrinking.</summary>
    public void SetLength(int length)
    {
        if ((uint)length > (uint)(_memory.Length - _offset)) throw new InvalidOperationException("not enough tailroom");
        if (_spliceSource is not null && _offset + length < _spliceAt + _spliceLength) Materialize();
        _length = length;
    }

    /// <summary>
    /// Grows the data to <paramref name="length"/> bytes with zeros at the end (padding), leaving a spliced payload
    /// where it is.
    /// </summary>
    public void ZeroExtend(int length)
    {
        int old = _length;
        if (length <= old) return;
        SetLength(length);
        _memory.Slice(_offset + old, length - old).Clear();
    }

    /// <summary>
    /// Gives the buffer back to its pool (no-op for unpooled buffers). Exactly once per rent. A spliced packet lets
    /// go of its source; a source goes back only when the last packet spliced onto it has too.
    /// </summary>
    public void Return()
    {
        Unsplice();
        if (Volatile.Read(ref _sharers) != 0)
        {
            if (Interlocked.Decrement(ref _sharers) >= 0) return; // someone else still reads from this buffer
            _sharers = 0; // we were the last of several holders
        }
        Pool?.Return(this);
    }
}
