using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// mmap(2), munmap(2) and madvise(2) for packet-buffer memory that goes back to the OS when a pool trims
    /// (memory on the pinned object heap never does: the GC does not compact it, so freed buffers stay as holes).
    /// </summary>
    internal static unsafe partial class Mman
    {
        private const string Libc = "libc";

        // include/uapi/asm-generic/mman-common.h (identical on x86-64 and arm64).
        private const int PROT_READ = 0x1;
        private const int PROT_WRITE = 0x2;
        private const int MAP_PRIVATE = 0x02;
        private const int MAP_ANONYMOUS = 0x20;
        private const int MADV_DONTNEED = 4;

        [LibraryImport(Libc, SetLastError = true)]
        private static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

        [LibraryImport(Libc, SetLastError = true)]
        private static partial int munmap(void* addr, nuint length);

        [LibraryImport(Libc, SetLastError = true)]
        private static partial int madvise(void* addr, nuint length, int advice);

        [LibraryImport(Libc, SetLastError = true)]
        private static partial int mincore(void* addr, nuint length, byte* vec);

        private const int ENOMEM = 12;

        /// <summary>
        /// Bytes of the pages covering [<paramref name="address"/>, + <paramref name="length"/>) that are in memory
        /// now (mincore(2)), or -1 when part of the range is not mapped. For tests: unlike the process's RSS, nothing
        /// else the process does (the GC, other threads) moves it.
        /// </summary>
        internal static long ResidentBytes(nint address, long length)
        {
            long page = PageSize;
            long start = address & ~(page - 1);
            long pages = (address + length - start + page - 1) / page;
            var vec = new byte[pages];
            fixed (byte* v = vec)
            {
                if (mincore((void*)start, (nuint)(pages * page), v) != 0)
                {
                    return LibcIo.LastErrno == ENOMEM ? -1 : throw new IOException($"mincore: errno {LibcIo.LastErrno}");
                }
            }
            long resident = 0;
            foreach (byte b in vec) resident += (b & 1) * page;
            return resident;
        }

        /// <summary>The page size (mmap's unit).</summary>
        internal static readonly int PageSize = Environment.SystemPageSize;

        /// <summary>Maps <paramref name="length"/> bytes of private anonymous read-write memory (zero-filled on first touch).</summary>
        internal static byte* MapAnonymous(nuint length)
        {
            void* p = mmap(null, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == (void*)-1) throw new OutOfMemoryException($"mmap of {length} bytes failed: errno {LibcIo.LastErrno}");
            return (byte*)p;
        }

        /// <summary>Unmaps a range <see cref="MapAnonymous"/> returned.</summary>
        internal static void Unmap(byte* address, nuint length) => munmap(address, length);

        /// <summary>Gives the pages of a range back to the OS; the range stays mapped and reads zeros when touched again.</summary>
        internal static void DiscardPages(byte* address, nuint length) => madvise(address, length, MADV_DONTNEED);
    }
}

/// <summary>
/// The memory of one packet buffer: either a chunk of a <see cref="NativeBufferArena"/> (pooled buffers; the arena,
/// which this object keeps alive, owns and unmaps it) or a pinned managed array (unpooled buffers, kept alive here).
/// Spans, <see cref="Memory{T}"/> (pinning is free: the address never moves) and raw pointers for iovecs all come
/// from here, so no code outside Interop touches the pointer. Once the arena releases the chunk the object is
/// emptied (length 0): any later access throws instead of touching unmapped memory.
/// </summary>
internal sealed unsafe class NativeBufferMemory : MemoryManager<byte>
{
    private byte* _pointer;
    private int _length;
    private readonly byte[]? _array; // unpooled: the pinned array the pointer points into
    internal readonly NativeBufferArena? Arena;
    internal readonly NativeBufferArena.Slab? Slab;
    internal readonly int ChunkIndex;

    /// <summary>Unpooled memory of <paramref name="capacity"/> bytes, on the pinned object heap.</summary>
    internal NativeBufferMemory(int capacity)
    {
        _array = GC.AllocateUninitializedArray<byte>(capacity, pinned: true);
        // Sound: the array lives on the pinned object heap (it never moves) and this object references it.
        _pointer = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
        _length = capacity;
    }

    internal NativeBufferMemory(NativeBufferArena arena, NativeBufferArena.Slab slab, int chunkIndex, byte* pointer, int length)
    {
        Arena = arena;
        Slab = slab;
        ChunkIndex = chunkIndex;
        _pointer = pointer;
        _length = length;
    }

    /// <summary>Bytes of the buffer (0 once released).</summary>
    internal int Length => _length;

    /// <summary>True once the arena took the memory back.</summary>
    internal bool IsReleased => _pointer == null;

    /// <summary>Where the memory is (0 once released): for tests that ask the kernel about its pages.</summary>
    internal nint AddressForTests => (nint)_pointer;

    /// <summary>The whole buffer.</summary>
    internal Span<byte> Span
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(_pointer, _length);
    }

    /// <summary>Bytes [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>), bounds-checked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Span<byte> Slice(int start, int length)
    {
        if ((uint)start > (uint)_length || (uint)length > (uint)(_length - start)) ThrowRange();
        // Sound: the range lies inside the live buffer (checked above; a released one has length 0).
        return new Span<byte>(_pointer + start, length);
    }

    /// <summary>Bytes from <paramref name="start"/> to the end, bounds-checked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Span<byte> Slice(int start)
    {
        if ((uint)start > (uint)_length) ThrowRange();
        return new Span<byte>(_pointer + start, _length - start);
    }

    /// <summary>A range as <see cref="Memory{T}"/> (pins for free).</summary>
    internal Memory<byte> GetMemory(int start, int length)
    {
        if ((uint)start > (uint)_length || (uint)length > (uint)(_length - start)) ThrowRange();
        return CreateMemory(start, length);
    }

    /// <summary>
    /// The address of byte <paramref name="start"/> of a range of <paramref name="length"/> bytes (for iovecs).
    /// Valid while the caller keeps this object referenced and the buffer rented.
    /// </summary>
    internal byte* Address(int start, int length)
    {
        if ((uint)start > (uint)_length || (uint)length > (uint)(_length - start)) ThrowRange();
        return _pointer + start;
    }

    /// <summary>Called by the arena (under its lock) when it takes the chunk back.</summary>
    internal void Invalidate()
    {
        _pointer = null;
        _length = 0;
    }

    public override Span<byte> GetSpan() => new(_pointer, _length);

    public override MemoryHandle Pin(int elementIndex = 0)
    {
        if ((uint)elementIndex > (uint)_length) ThrowRange();
        // Sound: the memory never moves (native, or a pinned-heap array) and outlives every Memory<byte> made
        // from this manager (they reference it, and it references its arena or array).
        return new MemoryHandle(_pointer + elementIndex);
    }

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        // The arena owns pooled memory; an array is the GC's.
    }

    private static void ThrowRange() => throw new ArgumentOutOfRangeException("start", "outside the packet buffer");
}

/// <summary>
/// Native memory for one pool's buffers, all of one size, that goes back to the OS when buffers are released.
/// Buffers of 16 KiB or more get a mapping each (page-rounded), unmapped on release. Smaller ones are chunks of
/// 64 KiB slabs: a slab is unmapped once all its chunks are released, and before that every page whose chunks are
/// all released is handed back with madvise(MADV_DONTNEED) (it reads zeros if a chunk on it is handed out again).
/// Thread-safe (one lock; taken only when a pool creates or releases buffers, never per packet).
/// </summary>
/// <remarks>
/// Memory is released only through <see cref="Release"/>, which the pool calls for buffers on its free list (so
/// never for a rented one), and by the finalizer, which runs only once nothing references the arena: not the pool
/// nor any buffer or <see cref="Memory{T}"/> made from it (each <see cref="NativeBufferMemory"/> references its
/// arena). So a buffer that is never returned costs its memory until its pool is unreachable, not forever.
/// </remarks>
internal sealed unsafe class NativeBufferArena
{
    private const int SlabBytes = 64 * 1024;
    private const int OwnMappingThreshold = 16 * 1024;

    private readonly Lock _lock = new();
    private readonly List<Slab> _slabs = new();
    private readonly List<Slab> _touched = new();
    private readonly int _chunkSize;
    private readonly int _chunksPerSlab;
    private readonly int _slabSize;
    private readonly int _pageSize = Interop.Mman.PageSize;
    private long _mappedBytes;
    private long _discardedBytes;

    internal sealed class Slab
    {
        public byte* Base;
        public int FreeCount;
        public ulong[] Free = null!; // bit set: chunk not handed out
        public ulong[] Discarded = null!; // bit set: page given back with madvise
        public int Index; // position in _slabs
    }

    /// <summary>An arena of buffers of <paramref name="bufferSize"/> bytes.</summary>
    internal NativeBufferArena(int bufferSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        BufferSize = bufferSize;
        if (bufferSize >= OwnMappingThreshold)
        {
            _slabSize = RoundUp(bufferSize, _pageSize);
            _chunkSize = _slabSize;
            _chunksPerSlab = 1;
        }
        else
        {
            _chunkSize = RoundUp(bufferSize, 64); // cache-line aligned chunks
            _slabSize = RoundUp(SlabBytes, _pageSize);
            _chunksPerSlab = _slabSize / _chunkSize;
        }
    }

    ~NativeBufferArena()
    {
        // Nothing references the arena any more (no pool, no buffer, no Memory<byte>): nothing can touch its memory.
        foreach (var slab in _slabs)
            if (slab.Base != null) Interop.Mman.Unmap(slab.Base, (nuint)_slabSize);
    }

    /// <summary>Size of each buffer.</summary>
    internal int BufferSize { get; }

    /// <summary>Bytes mapped and not given back with madvise: what the arena holds of the process's memory at most.</summary>
    internal long RetainedBytes
    {
        get
        {
            lock (_lock) return _mappedBytes - _discardedBytes;
        }
    }

    /// <summary>Bytes mapped (address space).</summary>
    internal long MappedBytes
    {
        get
        {
            lock (_lock) return _mappedBytes;
        }
    }

    /// <summary>Memory for one more buffer: a free chunk of an existing slab if there is one, else a new mapping.</summary>
    internal NativeBufferMemory Allocate()
    {
        lock (_lock)
        {
            // The fullest slab with room: keeps the others emptying, so that a trim can unmap them.
            Slab? slab = null;
            foreach (var s in _slabs)
                if (s.FreeCount > 0 && (slab is null || s.FreeCount < slab.FreeCount)) slab = s;
            slab ??= NewSlab();
            int chunk = FirstSet(slab.Free);
            slab.Free[chunk >> 6] &= ~(1UL << chunk);
            slab.FreeCount--;
            int start = chunk * _chunkSize;
            int firstPage = start / _pageSize, lastPage = (start + _chunkSize - 1) / _pageSize;
            for (int p = firstPage; p <= lastPage; p++)
            {
                if ((slab.Discarded[p >> 6] & (1UL << p)) != 0)
                {
                    slab.Discarded[p >> 6] &= ~(1UL << p);
                    _discardedBytes -= _pageSize;
                }
            }
            return new NativeBufferMemory(this, slab, chunk, slab.Base + start, BufferSize);
        }
    }

    /// <summary>
    /// Takes back the memory of buffers that are not in use and never will be again (a pool's trimmed free
    /// buffers): unmaps slabs left empty and discards pages left without a buffer. Each memory is emptied.
    /// </summary>
    internal void Release(ReadOnlySpan<NativeBufferMemory> memories)
    {
        if (memories.IsEmpty) return;
        lock (_lock)
        {
            foreach (var m in memories)
            {
                if (!ReferenceEquals(m.Arena, this) || m.IsReleased) throw new InvalidOperationException("not a live buffer of this arena");
                var slab = m.Slab!;
                int chunk = m.ChunkIndex;
                m.Invalidate();
                slab.Free[chunk >> 6] |= 1UL << chunk;
                slab.FreeCount++;
                if (!_touched.Contains(slab)) _touched.Add(slab);
            }
            foreach (var slab in _touched)
            {
                if (slab.FreeCount == _chunksPerSlab) RemoveSlab(slab);
                else DiscardFreePages(slab);
            }
            _touched.Clear();
        }
        GC.KeepAlive(this);
    }

    private Slab NewSlab()
    {
        int pages = _slabSize / _pageSize;
        var slab = new Slab
        {
            Base = Interop.Mman.MapAnonymous((nuint)_slabSize),
            FreeCount = _chunksPerSlab,
            Free = new ulong[(_chunksPerSlab + 63) / 64],
            Discarded = new ulong[(pages + 63) / 64],
            Index = _slabs.Count,
        };
        for (int i = 0; i < _chunksPerSlab; i++) slab.Free[i >> 6] |= 1UL << i;
        _slabs.Add(slab);
        _mappedBytes += _slabSize;
        return slab;
    }

    private void RemoveSlab(Slab slab)
    {
        // Swap-remove keeps the indexes dense.
        int last = _slabs.Count - 1;
        var moved = _slabs[last];
        _slabs[slab.Index] = moved;
        moved.Index = slab.Index;
        _slabs.RemoveAt(last);
        for (int i = 0; i < slab.Discarded.Length; i++) _discardedBytes -= (long)System.Numerics.BitOperations.PopCount(slab.Discarded[i]) * _pageSize;
        _mappedBytes -= _slabSize;
        Interop.Mman.Unmap(slab.Base, (nuint)_slabSize);
        slab.Base = null;
    }

    // madvise every run of pages whose chunks are all free and which are not discarded yet.
    private void DiscardFreePages(Slab slab)
    {
        int pages = _slabSize / _pageSize;
        int usedEnd = _chunksPerSlab * _chunkSize; // bytes behind the last chunk are never touched
        int runStart = -1;
        for (int p = 0; p <= pages; p++)
        {
            bool discard = false;
            if (p < pages && p * _pageSize < usedEnd && (slab.Discarded[p >> 6] & (1UL << p)) == 0)
            {
                int first = p * _pageSize / _chunkSize;
                int last = Math.Min(((p + 1) * _pageSize - 1) / _chunkSize, _chunksPerSlab - 1);
                discard = true;
                for (int c = first; c <= last && discard; c++) discard = (slab.Free[c >> 6] & (1UL << c)) != 0;
            }
            if (discard)
            {
                if (runStart < 0) runStart = p;
                slab.Discarded[p >> 6] |= 1UL << p;
                _discardedBytes += _pageSize;
            }
            else if (runStart >= 0)
            {
                Interop.Mman.DiscardPages(slab.Base + (runStart * _pageSize), (nuint)((p - runStart) * _pageSize));
                runStart = -1;
            }
        }
    }

    private static int FirstSet(ulong[] bits)
    {
        for (int i = 0; i < bits.Length; i++)
            if (bits[i] != 0) return (i * 64) + System.Numerics.BitOperations.TrailingZeroCount(bits[i]);
        throw new InvalidOperationException("no free chunk");
    }

    private static int RoundUp(int value, int unit) => (value + unit - 1) / unit * unit;
}
