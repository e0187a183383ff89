using System.Security.Cryptography;
using System.Text;

namespace VeilTun.Uapi;

/// <summary>
/// A <see cref="TextWriter"/> that collects UTF-8 bytes in one array it owns and zeroes: every array it outgrows
/// when it grows, and the last one on <see cref="Dispose(bool)"/>. For text that holds secrets (a UAPI get reply
/// carries the private and preshared keys), where a <see cref="StreamWriter"/> over a <see cref="MemoryStream"/>
/// would leave copies in buffers nobody wipes.
/// </summary>
internal sealed class WipedTextBuffer : TextWriter
{
    private byte[] _buffer;
    private int _length;

    public WipedTextBuffer(int capacity = 1024)
    {
        _buffer = new byte[Math.Max(16, capacity)];
        NewLine = "\n";
    }

    public override Encoding Encoding => Encoding.UTF8;

    /// <summary>The bytes written so far; valid until the next write or disposal.</summary>
    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    /// <summary>Test hook: the array behind <see cref="Written"/>.</summary>
    internal byte[] BufferForTest => _buffer;

    public override void Write(char value) => Write(new ReadOnlySpan<char>(in value));

    public override void Write(ReadOnlySpan<char> buffer)
    {
        int needed = Encoding.UTF8.GetByteCount(buffer);
        Reserve(needed);
        _length += Encoding.UTF8.GetBytes(buffer, _buffer.AsSpan(_length));
    }

    public override void Write(char[] buffer, int index, int count) => Write(buffer.AsSpan(index, count));

    public override void Write(string? value) => Write(value.AsSpan());

    private void Reserve(int needed)
    {
        if (_buffer.Length - _length >= needed) return;
        long size = Math.Max((long)_buffer.Length * 2, (long)_length + needed);
        if (size > Array.MaxLength) throw new OutOfMemoryException("UAPI reply too large");
        var larger = new byte[size];
        _buffer.AsSpan(0, _length).CopyTo(larger);
        CryptographicOperations.ZeroMemory(_buffer);
        _buffer = larger;
    }

    protected override void Dispose(bool disposing)
    {
        CryptographicOperations.ZeroMemory(_buffer);
        _length = 0;
        base.Dispose(disposing);
    }
}
