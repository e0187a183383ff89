using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using VeilTun.Crypto;
using VeilTun.Packets;
using VeilTun.Udp;

namespace VeilTun.Uapi;

/// <summary>
/// wg(8)'s configuration file format (wireguard-tools <c>src/config.c</c>, <c>src/showconf.c</c>; wg(8) man page
/// "CONFIGURATION FILE FORMAT"): what <c>wg setconf</c> reads and <c>wg showconf</c> prints.
/// Parsing rules as in wg: everything from '#' to the end of the line is a comment; all whitespace in a line is
/// ignored (even inside values); section names and keys are case-insensitive; keys are base64. Unlike wg, host names
/// in Endpoint and service names in ListenPort are refused instead of resolved.
/// Stateless and thread-safe.
/// </summary>
public static class WgConfigFile
{
    private static readonly string[] s_wgQuickKeys =
        ["Address", "DNS", "MTU", "Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig"];

    private enum Section
    {
        None,
        Interface,
        Peer,
    }

    private sealed class PeerBuilder
    {
        public int Line;
        public byte[]? PublicKey;
        public byte[]? PresharedKey;
        public NetEndpoint? Endpoint;
        public int? PersistentKeepalive;
        public bool ReplaceAllowedIps = true; // config.c sets WGPEER_REPLACE_ALLOWEDIPS on "[Peer]"
        public readonly List<AllowedIpChange> AllowedIps = new();
    }

    /// <summary>
    /// Parses a configuration into the request that <c>wg setconf</c> sends: <see cref="SetRequest.PrivateKey"/>
    /// (all zeros when the file has none; clamped otherwise), <see cref="SetRequest.ListenPort"/> and
    /// <see cref="SetRequest.Fwmark"/> (0 when absent) are always set, <see cref="SetRequest.ReplacePeers"/> is true,
    /// and every peer has <see cref="PeerChange.ReplaceAllowedIps"/> set unless its AllowedIPs use '+'/'-' entries
    /// (incremental changes, as wg's <c>parse_ip_prefix</c>).
    /// </summary>
    /// <param name="text">The file contents.</param>
    /// <param name="request">The request, or null on failure.</param>
    /// <param name="error">On failure, "line N: Key: 'value' reason"; secret values are never quoted.</param>
    public static bool TryParse(string text, [MaybeNullWhen(false)] out SetRequest request, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        request = null;
        var result = new SetRequest
        {
            PrivateKey = new byte[KeyEncoding.KeySize],
            ListenPort = 0,
            Fwmark = 0,
            ReplacePeers = true,
        };
        var peers = new List<PeerBuilder>();
        var section = Section.None;
        int lineNumber = 0;
        var cleaned = new StringBuilder();

        // Lines end at '\n' only, as with getline(3) in wg; a '\r' is whitespace and removed below.
        foreach (var lineRange in text.AsSpan().Split('\n'))
        {
            lineNumber++;
            var line = text.AsSpan(lineRange);
            if (lineNumber == 1 && line.StartsWith('\uFEFF')) line = line[1..]; // a UTF-8 byte order mark
            int comment = line.IndexOf('#');
            if (comment >= 0) line = line[..comment];
            cleaned.Clear();
            foreach (char c in line)
            {
                if (!IsSpace(c)) cleaned.Append(c);
            }
            if (cleaned.Length == 0) continue;
            string content = cleaned.ToString();

            if (content.Equals("[Interface]", StringComparison.OrdinalIgnoreCase))
            {
                section = Section.Interface;
                continue;
            }
            if (content.Equals("[Peer]", StringComparison.OrdinalIgnoreCase))
            {
                section = Section.Peer;
                peers.Add(new PeerBuilder { Line = lineNumber });
                continue;
            }

            int eq = content.IndexOf('=');
            if (eq < 0)
            {
                error = content.StartsWith('[')
                    ? $"line {lineNumber}: unknown section '{IpText.Escape(content)}' (expected [Interface] or [Peer])"
                    : $"line {lineNumber}: '{IpText.Escape(content)}' is not a Key = Value line";
                return Fail(result, peers, out error, error);
            }
            string key = content[..eq];
            string value = content[(eq + 1)..];
            string? canonical = CanonicalKey(key);

            if (canonical is not null && s_wgQuickKeys.Contains(canonical))
            {
                return Fail(result, peers, out error,
                    $"line {lineNumber}: {canonical} is a wg-quick setting, which wg setconf does not accept " +
                    "(remove wg-quick settings first, e.g. with 'wg-quick strip')");
            }
            if (section == Section.None)
            {
                return Fail(result, peers, out error,
                    $"line {lineNumber}: '{IpText.Escape(key)}' is outside of an [Interface] or [Peer] section");
            }
            bool known = section == Section.Interface
                ? canonical is "PrivateKey" or "ListenPort" or "FwMark"
                : canonical is "PublicKey" or "PresharedKey" or "AllowedIPs" or "Endpoint" or "PersistentKeepalive";
            if (!known)
            {
                string where = section == Section.Interface ? "[Interface]" : "[Peer]";
                string other = section == Section.Interface ? "[Peer]" : "[Interface]";
                string message = canonical is null
                    ? $"line {lineNumber}: unknown key '{IpText.Escape(key)}' in {where}"
                    : $"line {lineNumber}: {canonical} belongs in {other}, not in {where}";
                return Fail(result, peers, out error, message);
            }
            if (value.Length == 0)
                return Fail(result, peers, out error, $"line {lineNumber}: {canonical}: missing value");

            string? reason = section == Section.Interface
                ? ParseInterfaceKey(result, canonical!, value)
                : ParsePeerKey(peers[^1], canonical!, value);
            if (reason is not null) return Fail(result, peers, out error, $"line {lineNumber}: {canonical}: {reason}");
        }

        foreach (var peer in peers)
        {
            if (peer.PublicKey is null)
                return Fail(result, peers, out error, $"line {peer.Line}: [Peer] section has no PublicKey");
            var change = new PeerChange
            {
                PublicKey = peer.PublicKey,
                PresharedKey = peer.PresharedKey,
                Endpoint = peer.Endpoint,
                PersistentKeepaliveInterval = peer.PersistentKeepalive,
                ReplaceAllowedIps = peer.ReplaceAllowedIps,
            };
            change.AllowedIps.AddRange(peer.AllowedIps);
            result.Peers.Add(change);
        }

        request = result;
        error = null;
        return true;
    }

    private static bool Fail(SetRequest partial, List<PeerBuilder> peers, out string error, string message)
    {
        partial.ClearSecrets();
        foreach (var peer in peers)
        {
            if (peer.PresharedKey is not null) CryptographicOperations.ZeroMemory(peer.PresharedKey);
        }
        error = message;
        return false;
    }

    private static string? ParseInterfaceKey(SetRequest request, string key, string value)
    {
        switch (key)
        {
            case "PrivateKey":
                {
                    var sk = request.PrivateKey ??= new byte[KeyEncoding.KeySize];
                    if (!KeyEncoding.TryParseBase64(value, sk))
                        return "not a valid key (value not shown; expected 44 base64 characters ending in '=')";
                    if (sk.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
                    {
                        // Clamp as the device does (RFC 7748 §5), matching what the UAPI parser produces.
                        sk[0] &= 248;
                        sk[31] = (byte)((sk[31] & 127) | 64);
                    }
                    return null;
                }
            case "ListenPort":
                if (!IpText.TryParseDecimal(value, allowLeadingZeros: true, ushort.MaxValue, out long port))
                    return $"'{IpText.Escape(value)}' is not a port number from 0 to 65535 (service names are not supported)";
                request.ListenPort = (int)port;
                return null;
            default: // FwMark
                if (!TryParseFwmark(value, out uint mark))
                    return $"'{IpText.Escape(value)}' is neither 0/off nor a number from 0 to 0xffffffff";
                request.Fwmark = mark;
                return null;
        }
    }

    private static bool TryParseFwmark(string value, out uint mark)
    {
        mark = 0;
        if (value.Equals("off", StringComparison.OrdinalIgnoreCase)) return true;
        // config.c parse_fwmark: must start with a digit; "0x" (lowercase x) and more selects hex.
        if (value.Length > 2 && value[0] == '0' && value[1] == 'x')
            return uint.TryParse(value.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out mark);
        if (!IpText.TryParseDecimal(value, allowLeadingZeros: true, uint.MaxValue, out long n)) return false;
        mark = (uint)n;
        return true;
    }

    private static string? ParsePeerKey(PeerBuilder peer, string key, string value)
    {
        switch (key)
        {
            case "PublicKey":
                {
                    var pub = new byte[KeyEncoding.KeySize];
                    if (!KeyEncoding.TryParseBase64(value, pub))
                        return $"'{IpText.Escape(value)}' is not a valid key (expected 44 base64 characters ending in '=')";
                    peer.PublicKey = pub;
                    return null;
                }
            case "PresharedKey":
                {
                    var psk = new byte[KeyEncoding.KeySize];
                    if (!KeyEncoding.TryParseBase64(value, psk))
                        return "not a valid key (value not shown; expected 44 base64 characters ending in '=')";
                    if (peer.PresharedKey is not null) CryptographicOperations.ZeroMemory(peer.PresharedKey);
                    peer.PresharedKey = psk;
                    return null;
                }
            case "AllowedIPs":
                return ParseAllowedIps(peer, value);
            case "Endpoint":
                {
                    string? reason = ParseEndpoint(value, out var endpoint);
                    if (reason is null) peer.Endpoint = endpoint;
                    return reason;
                }
            default: // PersistentKeepalive
                if (value.Equals("off", StringComparison.OrdinalIgnoreCase))
                {
                    peer.PersistentKeepalive = 0;
                    return null;
                }
                if (!IpText.TryParseDecimal(value, allowLeadingZeros: true, ushort.MaxValue, out long seconds))
                    return $"'{IpText.Escape(value)}' is neither off nor a number from 0 to 65535";
                peer.PersistentKeepalive = (int)seconds;
                return null;
        }
    }

    private static string? ParseAllowedIps(PeerBuilder peer, string value)
    {
        // config.c parse_allowedips: each AllowedIPs line turns replacing on again, then '+'/'-' entries turn it off.
        peer.ReplaceAllowedIps = true;
        Span<byte> bytes = stackalloc byte[16];
        foreach (var range in value.AsSpan().Split(','))
        {
            var entry = value.AsSpan(range);
            bool remove = false;
            if (entry.Length > 0 && entry[0] is '+' or '-')
            {
                remove = entry[0] == '-';
                peer.ReplaceAllowedIps = false;
                entry = entry[1..];
            }
            if (entry.IsEmpty) return "empty entry in the list";

            var error = IpAddressText.ParsePrefix(entry, PrefixSyntax.WgConfig, bytes, out int length, out int prefixLength,
                out _, out _);
            switch (error)
            {
                case PrefixTextError.None:
                    break;
                case PrefixTextError.InvalidLength:
                    return $"'{IpText.Escape(entry)}' does not end in a decimal prefix length";
                case PrefixTextError.LengthTooLarge:
                    return $"'{IpText.Escape(entry)}' has a prefix length greater than {length * 8}";
                default:
                    return $"'{IpText.Escape(entry)}' is not an address";
            }
            // wg only warns about host bits; the trie clears them, and so do we.
            IpAddressText.Mask(bytes[..length], prefixLength);
            peer.AllowedIps.Add(new AllowedIpChange(new IPAddress(bytes[..length]), prefixLength, remove));
        }
        return null;
    }

    private static string? ParseEndpoint(string value, out NetEndpoint endpoint)
    {
        endpoint = default;
        ReadOnlySpan<char> host, port;
        // config.c parse_endpoint: "[host]:port", or split at the last ':'.
        if (value.StartsWith('['))
        {
            int close = value.IndexOf(']');
            if (close < 0) return $"'{IpText.Escape(value)}' has no matching ']'";
            host = value.AsSpan(1, close - 1);
            var rest = value.AsSpan(close + 1);
            if (rest.Length < 2 || rest[0] != ':') return $"'{IpText.Escape(value)}' has no port";
            port = rest[1..];
        }
        else
        {
            int colon = value.LastIndexOf(':');
            if (colon < 0 || colon == value.Length - 1) return $"'{IpText.Escape(value)}' has no port";
            host = value.AsSpan(0, colon);
            port = value.AsSpan(colon + 1);
        }
        if (!IpText.TryParseDecimal(port, allowLeadingZeros: true, ushort.MaxValue, out long portNumber))
            return $"'{IpText.Escape(value)}' does not end in a port number from 0 to 65535";
        Span<byte> bytes = stackalloc byte[16];
        if (!IpAddressText.TryParseAddress(host, bytes, out int length, out var zone, out _))
            return $"'{IpText.Escape(value)}' is not a numeric address (host names are not resolved here; resolve the name first)";
        if (!IpText.TryMakeEndpoint(bytes[..length], zone, (ushort)portNumber, out endpoint, out string? reason))
            return $"'{IpText.Escape(value)}': {reason}";
        return null;
    }

    /// <summary>
    /// Prints a snapshot as <c>wg showconf</c> does: <c>[Interface]</c> with ListenPort (if not 0), FwMark (hex, if
    /// not 0) and PrivateKey (if set), an empty line, then for each peer <c>[Peer]</c>, PublicKey, PresharedKey (if
    /// not zero), AllowedIPs (comma-separated, if any), Endpoint (if known), PersistentKeepalive (if not 0), with an
    /// empty line between peers. Addresses are printed as glibc's <c>inet_ntop</c> does. Extra keys are not printed.
    /// </summary>
    public static string Write(DeviceSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var sb = new StringBuilder();
        sb.Append("[Interface]\n");
        if (snapshot.ListenPort != 0) sb.Append(CultureInfo.InvariantCulture, $"ListenPort = {snapshot.ListenPort}\n");
        if (snapshot.Fwmark != 0) sb.Append(CultureInfo.InvariantCulture, $"FwMark = 0x{snapshot.Fwmark:x}\n");
        if (snapshot.PrivateKey is { } sk && sk.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
            sb.Append("PrivateKey = ").Append(KeyEncoding.ToBase64(CheckKey(sk))).Append('\n');
        sb.Append('\n');

        for (int i = 0; i < snapshot.Peers.Count; i++)
        {
            var peer = snapshot.Peers[i];
            sb.Append("[Peer]\nPublicKey = ").Append(KeyEncoding.ToBase64(CheckKey(peer.PublicKey))).Append('\n');
            if (peer.PresharedKey is { } psk && psk.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
                sb.Append("PresharedKey = ").Append(KeyEncoding.ToBase64(CheckKey(psk))).Append('\n');
            if (peer.AllowedIps.Count > 0)
            {
                sb.Append("AllowedIPs = ");
                for (int j = 0; j < peer.AllowedIps.Count; j++)
                {
                    if (j > 0) sb.Append(", ");
                    IpText.AppendPrefix(sb, peer.AllowedIps[j].Address, peer.AllowedIps[j].PrefixLength, glibcStyle: true);
                }
                sb.Append('\n');
            }
            if (!peer.Endpoint.IsNone)
            {
                sb.Append("Endpoint = ");
                IpText.AppendEndpoint(sb, peer.Endpoint, glibcStyle: true);
                sb.Append('\n');
            }
            if (peer.PersistentKeepaliveInterval != 0)
                sb.Append(CultureInfo.InvariantCulture, $"PersistentKeepalive = {peer.PersistentKeepaliveInterval}\n");
            if (i + 1 < snapshot.Peers.Count) sb.Append('\n');
        }
        return sb.ToString();
    }

    private static byte[] CheckKey(byte[] key) =>
        key.Length == KeyEncoding.KeySize ? key : throw new ArgumentException($"a key must be {KeyEncoding.KeySize} bytes, not {key.Length}");

    private static string? CanonicalKey(string key)
    {
        foreach (string name in (ReadOnlySpan<string>)
                 ["PrivateKey", "ListenPort", "FwMark", "PublicKey", "PresharedKey", "AllowedIPs", "Endpoint", "PersistentKeepalive"])
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase)) return name;
        }
        foreach (string name in s_wgQuickKeys)
        {
            if (key.Equals(name, StringComparison.OrdinalIgnoreCase)) return name;
        }
        return null;
    }

    // wireguard-tools ctype.h char_is_space: '\t' '\n' '\v' '\f' '\r' ' '.
    private static bool IsSpace(char c) => c is ' ' or (>= '\t' and <= '\r');
}
