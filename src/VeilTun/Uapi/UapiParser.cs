using System.Diagnostics.CodeAnalysis;

namespace VeilTun.Uapi;

/// <summary>
/// Parses the body of a UAPI <c>set=1</c> request (wg-go <c>device/uapi.go</c>) into a <see cref="SetRequest"/>
/// without applying anything. <see cref="UapiProtocol"/> runs the same parser on the lines it reads from a
/// connection, so a request gives the same result or error here as through the UAPI socket. Stateless and
/// thread-safe.
/// </summary>
internal static class UapiParser
{
    /// <summary>
    /// Parses the bytes that follow the <c>set=1\n</c> line, as they arrive on the UAPI socket: '\n'-separated
    /// <c>key=value</c> lines in UTF-8. One trailing '\r' is removed from each line, as Go's <c>bufio.ScanLines</c>
    /// does. An empty line ends the request and anything after it is ignored; without one, the request ends with
    /// <paramref name="body"/> (wg-go applies what arrived before the end of the stream). The bounds of
    /// <see cref="UapiProtocol"/> apply: a line longer than <see cref="UapiProtocol.MaxLineLength"/> bytes or a body
    /// longer than <see cref="UapiProtocol.MaxSetRequestBytes"/> fails with -EIO.
    /// </summary>
    /// <param name="body">The request body. Not modified; it may hold secrets, which the caller clears.</param>
    /// <param name="request">The parsed request, which the caller owns (it holds secrets: see
    /// <see cref="SetRequest.ClearSecrets"/>); null when parsing fails.</param>
    /// <param name="error">The first problem (errno and message); the default value on success.</param>
    /// <param name="isExtensionPeerKey">Returns true for a peer key that an extension accepts; such keys are kept in
    /// <see cref="PeerChange.ExtensionKeys"/> instead of failing with -EINVAL. Called once per unknown key.</param>
    /// <param name="isExtensionDeviceKey">The same for device keys (<see cref="SetRequest.ExtensionKeys"/>).</param>
    /// <returns>False for invalid input. Never throws for any content of <paramref name="body"/> (only what the
    /// extension predicates throw).</returns>
    public static bool TryParseSet(ReadOnlySpan<byte> body, [MaybeNullWhen(false)] out SetRequest request,
        out UapiError error, Func<string, bool>? isExtensionPeerKey = null, Func<string, bool>? isExtensionDeviceKey = null)
    {
        using var parser = new UapiSetParser(isExtensionPeerKey, isExtensionDeviceKey);
        while (!body.IsEmpty)
        {
            int newline = body.IndexOf((byte)'\n');
            var line = newline < 0 ? body : body[..newline];
            if (parser.AddLine(line) == UapiSetParser.LineResult.End) break;
            body = newline < 0 ? default : body[(newline + 1)..];
        }
        return parser.TryTakeResult(out request, out error);
    }
}
