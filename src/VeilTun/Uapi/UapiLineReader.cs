namespace VeilTun.Uapi;

/// <summary>
/// Buffered '\n'-line reader over a stream with a hard bound on line length, so a client that never sends a newline
/// cannot make the daemon buffer without limit. Returned lines are views into the internal buffer, valid until the
/// next call. Not thread-safe (one per connection).
/// </summary>
internal sealed class UapiLineReader
{
    internal enum Kind
    {
        /// <summary>A line ending in '\n' (the '\n' is not included).</summary>
        Line,

        /// <summary>The last bytes of the stream, without a '\n'.</summary>
        PartialLine,

        /// <summary>End of stream and nothing buffered.</summary>
        EndOfStream,

        /// <summary>More than the maximum line length arrived without a '\n'; those bytes were dropped. Call
        /// <see cref="SkipLineAsync"/> to drop the rest of the line.</summary>
        TooLong,
    }

    private readonly Stream _stream;
    private readonly int _maxLineLength;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private bool _eof;

    public UapiLineReader(Stream stream, int maxLineLength)
    {
        _stream = stream;
        _maxLineLength = maxLineLength;
        _buffer = new byte[Math.Min(8192, maxLineLength + 1)];
    }

    /// <summary>Reads the next line. Throws only what the stream throws (IOException, cancellation).</summary>
    public async ValueTask<(Kind Kind, ReadOnlyMemory<byte> Line)> ReadLineAsync(CancellationToken ct)
    {
        int searched = 0;
        while (true)
        {
            int newline = _buffer.AsSpan(_start + searched, _end - _start - searched).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                int length = searched + newline;
                var line = new ReadOnlyMemory<byte>(_buffer, _start, length);
                _start += length + 1;
                return (Kind.Line, line);
            }
            searched = _end - _start;

            if (searched > _maxLineLength)
            {
                _start = _end = 0;
                return (Kind.TooLong, default);
            }
            if (_eof)
            {
                if (searched == 0) return (Kind.EndOfStream, default);
                var rest = new ReadOnlyMemory<byte>(_buffer, _start, searched);
                _start = _end;
                return (Kind.PartialLine, rest);
            }
            await FillAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Test hook: the buffer lines are read into.</summary>
    internal byte[] BufferForTest => _buffer;

    /// <summary>Zeroes the buffer (lines of a set request may hold keys); the reader must not be used after.</summary>
    public void Wipe()
    {
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(_buffer);
        _start = _end = 0;
    }

    /// <summary>Reads one byte, or -1 at end of stream.</summary>
    public async ValueTask<int> ReadByteAsync(CancellationToken ct)
    {
        while (_start == _end)
        {
            if (_eof) return -1;
            await FillAsync(ct).ConfigureAwait(false);
        }
        return _buffer[_start++];
    }

    /// <summary>Discards input up to and including the next '\n'; false if the stream ended first.</summary>
    public async ValueTask<bool> SkipLineAsync(CancellationToken ct)
    {
        while (true)
        {
            int newline = _buffer.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                _start += newline + 1;
                return true;
            }
            _start = _end = 0;
            if (_eof) return false;
            await FillAsync(ct).ConfigureAwait(false);
        }
    }

    private async ValueTask FillAsync(CancellationToken ct)
    {
        if (_start > 0)
        {
            // Move the unread bytes to the front.
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length)
        {
            // Grow up to one byte more than the longest allowed line, so that "too long" can be detected.
            int size = (int)Math.Min((long)_buffer.Length * 2, _maxLineLength + 1L);
            if (size <= _buffer.Length) size = _buffer.Length + 1; // unreachable while the bound holds
            var larger = new byte[size];
            _buffer.AsSpan(0, _end).CopyTo(larger);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(_buffer); // lines may hold keys
            _buffer = larger;
        }
        int n = await _stream.ReadAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
        if (n == 0) _eof = true;
        else _end += n;
    }
}
