using System.Diagnostics.CodeAnalysis;

namespace VeilTun.Uapi;

/// <summary>
/// Parses the body of a UAPI <c>set=1</c> request (wireguard.md §7.3; wg-go <c>device/uapi.go</c>) into a
/// <see cref="SetRequest"/> without applying anything. Stateless and thread-safe.
/// </summary>
public static class UapiParser
{
    /// <summary>
    /// Parses the lines that follow <c>set=1</c>. An empty line ends the request; anything after it is ignored.
    /// One trailing '\r' is removed from each line, as Go's <c>bufio.ScanLines</c> does.
    /// </summary>
    /// <param name="lines">The request lines, without their '\n'.</param>
    /// <param name="request">The parsed request; null when parsing fails.</param>
    /// <param name="error">The first problem (errno and message); the default value on success.</param>
    /// <param name="isExtensionPeerKey">Returns true for a peer key that an extension accepts; such keys are kept in
    /// <see cref="PeerChange.ExtensionKeys"/> instead of failing with -EINVAL. Called once per unknown key.</param>
    /// <param name="isExtensionDeviceKey">The same for device keys (<see cref="SetRequest.ExtensionKeys"/>).</param>
    /// <returns>False for invalid input; never throws for any content of <paramref name="lines"/>.</returns>
    public static bool TryParseSet(IReadOnlyList<string> lines, [MaybeNullWhen(false)] out SetRequest request,
        out UapiError error, Func<string, bool>? isExtensionPeerKey = null, Func<string, bool>? isExtensionDeviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var parser = new UapiSetParser(isExtensionPeerKey, isExtensionDeviceKey);
        for (int i = 0; i < lines.Count; i++)
        {
            ReadOnlySpan<char> line = lines[i] ?? string.Empty;
            if (line.EndsWith('\r')) line = line[..^1];
            if (line.IsEmpty) break;
            if (line.IndexOf('\n') >= 0)
            {
                parser.Result.ClearSecrets();
                request = null;
                error = UapiError.Protocol($"line {i + 1} contains a newline: \"{IpText.Escape(line)}\"");
                return false;
            }
            if (!parser.TryAddLine(line, out error))
            {
                parser.Result.ClearSecrets();
                request = null;
                return false;
            }
        }
        request = parser.Result;
        error = default;
        return true;
    }
}
