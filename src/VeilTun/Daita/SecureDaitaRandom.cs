using System.Buffers.Binary;
using System.Security.Cryptography;

namespace VeilTun.Daita;

/// <summary>
/// Cryptographically secure <see cref="IDaitaRandom"/> for production (GotaTun uses a reseeding ChaCha12 CSPRNG):
/// draws from <see cref="RandomNumberGenerator"/> a <see cref="BufferSize"/>-byte block at a time and hands it out
/// 8 bytes per call, refilling when used up, so a call costs no allocation and rarely a syscall. The block holds
/// future outputs; it lives on the managed heap owned by this instance. Not thread-safe: use one instance per
/// <see cref="Framework"/> (the framework is single-threaded anyway).
/// </summary>
internal sealed class SecureDaitaRandom : IDaitaRandom
{
    /// <summary>Size of the internal block in bytes (64 outputs per refill).</summary>
    public const int BufferSize = 512;

    private readonly byte[] _buffer = new byte[BufferSize];
    private int _offset = BufferSize; // empty: the first call fills

    /// <inheritdoc/>
    public ulong NextUInt64()
    {
        if (_offset > BufferSize - sizeof(ulong))
        {
            RandomNumberGenerator.Fill(_buffer);
            _offset = 0;
        }
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_buffer.AsSpan(_offset));
        // Forget what was handed out, so a later memory disclosure reveals no past draws.
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.AsSpan(_offset), 0);
        _offset += sizeof(ulong);
        return v;
    }
}
