using System.Globalization;
using System.Text;

namespace VeilTun.Uapi;

/// <summary>
/// Serves the UAPI text protocol on one connection (https://www.wireguard.com/xplatform/; wg-go <c>device/uapi.go</c> <c>IpcHandle</c>):
/// <list type="bullet">
/// <item><c>get=1\n\n</c>: the get output, then <c>errno=0\n\n</c>. A byte other than '\n' after <c>get=1\n</c> is
/// answered with <c>errno=-22\n\n</c>; that byte is consumed and reading continues with the next line.</item>
/// <item><c>set=1\n</c>, lines, empty line: <c>errno=N\n\n</c>. The whole request is parsed before anything is
/// applied. On the first bad line the error is answered at once and the rest of the request (up to its empty line)
/// is read and discarded, so the connection stays usable. If the stream ends before the empty line, what arrived is
/// applied, as wg-go does. The body is parsed by the parser behind <see cref="UapiParser.TryParseSet"/>, line by
/// line as it arrives.</item>
/// <item>Any other first line (an unknown operation) closes the connection without a reply, as wg-go does.</item>
/// </list>
/// Bounds: a line may hold at most <see cref="MaxLineLength"/> bytes (Go's <c>bufio.Scanner</c> limit; a longer line
/// in a set gives -EIO), and a set request at most <see cref="MaxSetRequestBytes"/> bytes (-EIO beyond). Several
/// requests may share one connection. Stateless and thread-safe; each call serves one stream.
/// </summary>
internal static class UapiProtocol
{
    /// <summary>Longest accepted line in bytes, without its '\n' (64 KiB, as Go's <c>bufio.MaxScanTokenSize</c>).</summary>
    public const int MaxLineLength = 64 * 1024;

    /// <summary>
    /// Largest accepted set request body in bytes (64 MiB). netns.sh's largest request, one peer with 130,560
    /// allowed IPs, is about 6 MB.
    /// </summary>
    public const int MaxSetRequestBytes = 64 * 1024 * 1024;

    private static readonly byte[] s_errnoZero = "errno=0\n\n"u8.ToArray();

    /// <summary>
    /// Serves requests from <paramref name="stream"/> until the client closes it, sends an unknown operation, or
    /// <paramref name="cancellationToken"/> fires. Does not dispose the stream.
    /// </summary>
    /// <returns>A task that completes (never faults) when the connection is done; client misbehaviour, I/O errors
    /// on the stream and cancellation all just end it.</returns>
    public static async Task HandleConnectionAsync(Stream stream, IUapiHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(handler);
        var reader = new UapiLineReader(stream, MaxLineLength);
        try
        {
            while (true)
            {
                var (kind, op) = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
                if (kind != UapiLineReader.Kind.Line)
                {
                    // End of stream, or an operation line that cannot be valid: wg-go's ReadString fails or the
                    // operation is unknown; either way it closes the connection.
                    if (kind == UapiLineReader.Kind.TooLong) handler.OnError("invalid UAPI operation: line too long");
                    return;
                }

                if (op.Span.SequenceEqual("set=1"u8))
                {
                    if (!await HandleSetAsync(stream, reader, handler, cancellationToken).ConfigureAwait(false)) return;
                }
                else if (op.Span.SequenceEqual("get=1"u8))
                {
                    int next = await reader.ReadByteAsync(cancellationToken).ConfigureAwait(false);
                    if (next < 0) return;
                    if (next != '\n')
                    {
                        var error = UapiError.Invalid($"trailing character in UAPI get: {IpText.Escape([(char)next])}");
                        handler.OnError(error.ToString());
                        await WriteErrnoAsync(stream, error.Errno, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    await HandleGetAsync(stream, handler, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    handler.OnError($"invalid UAPI operation: \"{IpText.Escape(Decode(op.Span))}\"");
                    return;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // A broken or closed connection, or shutdown: nothing to answer.
        }
        finally
        {
            reader.Wipe(); // set requests carry keys in hex
        }
    }

    // The reply holds the private and preshared keys: the snapshot's copies and every buffer the text passed
    // through are zeroed once it is sent (or failed).
    private static async Task HandleGetAsync(Stream stream, IUapiHandler handler, CancellationToken ct)
    {
        DeviceSnapshot? snapshot = null;
        using var output = new WipedTextBuffer(4096);
        try
        {
            try
            {
                snapshot = handler.Get();
                UapiWriter.WriteGet(snapshot, output);
                output.Write("errno=0\n\n");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // wg-go maps errors that are not IPC errors to IpcErrorUnknown.
                handler.OnError($"UAPI get failed: {e}");
                await WriteErrnoAsync(stream, UapiError.ErrnoUnknown, ct).ConfigureAwait(false);
                return;
            }
            await stream.WriteAsync(output.Written, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            snapshot?.ClearSecrets();
        }
    }

    /// <returns>False when the connection must be closed.</returns>
    private static async Task<bool> HandleSetAsync(Stream stream, UapiLineReader reader, IUapiHandler handler, CancellationToken ct)
    {
        SetRequest? request;
        using (var parser = new UapiSetParser(handler.IsExtensionPeerKey, handler.IsExtensionDeviceKey))
        {
            while (true)
            {
                var (kind, line) = await reader.ReadLineAsync(ct).ConfigureAwait(false);
                if (kind == UapiLineReader.Kind.EndOfStream) break;
                var outcome = kind == UapiLineReader.Kind.TooLong ? parser.AddOverlongLine() : parser.AddLine(line.Span);
                if (outcome == UapiSetParser.LineResult.Failed)
                {
                    // Answer at once; the rest of the request is still read (and discarded) to stay in sync.
                    handler.OnError(parser.Error.ToString());
                    await WriteErrnoAsync(stream, parser.Error.Errno, ct).ConfigureAwait(false);
                }
                if (outcome == UapiSetParser.LineResult.End || kind == UapiLineReader.Kind.PartialLine) break;
                if (kind == UapiLineReader.Kind.TooLong && !await reader.SkipLineAsync(ct).ConfigureAwait(false)) break;
            }
            if (!parser.TryTakeResult(out request, out _)) return true; // the error has been answered
        }

        UapiError? result;
        try
        {
            result = handler.Set(request);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            result = UapiError.Unknown($"other UAPI error: {e}");
        }
        finally
        {
            request.ClearSecrets();
        }
        if (result is { } failure && failure.Errno != 0)
        {
            handler.OnError(failure.ToString());
            await WriteErrnoAsync(stream, failure.Errno, ct).ConfigureAwait(false);
        }
        else
        {
            await stream.WriteAsync(s_errnoZero, ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
        return true;
    }

    private static async Task WriteErrnoAsync(Stream stream, int errno, CancellationToken ct)
    {
        byte[] reply = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"errno={errno}\n\n"));
        await stream.WriteAsync(reply, ct).ConfigureAwait(false);
        await stream.FlushAsync(ct).ConfigureAwait(false);
    }

    private static string Decode(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
