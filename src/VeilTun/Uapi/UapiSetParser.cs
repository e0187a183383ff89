using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using VeilTun.Crypto;

namespace VeilTun.Uapi;

/// <summary>
/// The one parser of <c>set=1</c> request bodies, fed one line at a time so that the protocol layer can parse a
/// large request as it arrives without keeping it. <see cref="UapiParser.TryParseSet"/> feeds it from a span and
/// <see cref="UapiProtocol"/> from the connection, so both follow the same rules:
/// <list type="bullet">
/// <item>one trailing '\r' is removed from each line, as Go's <c>bufio.ScanLines</c> does; the empty line ends the
/// request;</item>
/// <item>a line longer than <see cref="UapiProtocol.MaxLineLength"/> bytes, or a body of more than
/// <see cref="UapiProtocol.MaxSetRequestBytes"/>, fails with -EIO;</item>
/// <item>bytes are decoded as UTF-8 (invalid sequences become U+FFFD);</item>
/// <item>the first bad line fails the request; the lines after it, up to the empty line, are read and
/// discarded.</item>
/// </list>
/// Validation and errno follow wireguard-go <c>device/uapi.go</c> (<c>handleDeviceLine</c>, <c>handlePeerLine</c>).
/// Not thread-safe. Dispose it to return its buffer and clear the secrets of a request that was not taken.
/// </summary>
internal sealed class UapiSetParser : IDisposable
{
    /// <summary>What one line did to the request.</summary>
    internal enum LineResult
    {
        /// <summary>The line was taken (or discarded, after a failure); more may follow.</summary>
        Continue,

        /// <summary>The line was the empty line that ends the request; feed no more.</summary>
        End,

        /// <summary>The line failed the request; <see cref="Error"/> says why. Feed the rest of the request (it is
        /// discarded) until <see cref="End"/>.</summary>
        Failed,
    }

    private readonly Func<string, bool>? _isExtensionPeerKey;
    private readonly Func<string, bool>? _isExtensionDeviceKey;
    private SetRequest? _request = new();
    private PeerChange? _peer;      // current peer section, null while in the device section
    private bool _peerIsDummy;      // after remove=true: validate, do not record (wg-go turns the peer into a dummy)
    private long _total;            // bytes of the body so far, each line counted with its '\n'
    private bool _ended;
    private UapiError _error;
    private char[] _chars = [];

    public UapiSetParser(Func<string, bool>? isExtensionPeerKey, Func<string, bool>? isExtensionDeviceKey)
    {
        _isExtensionPeerKey = isExtensionPeerKey;
        _isExtensionDeviceKey = isExtensionDeviceKey;
    }

    /// <summary>The first error; the default value while the request is good.</summary>
    public UapiError Error => _error;

    /// <summary>True once a line failed the request.</summary>
    public bool Failed => _error.Errno != 0;

    /// <summary>
    /// Feeds one line of the body, without its '\n' (the last line of a body may lack one: it is fed the same way).
    /// </summary>
    public LineResult AddLine(ReadOnlySpan<byte> line)
    {
        if (_ended) throw new InvalidOperationException("the request has already ended");
        if (line.Length > UapiProtocol.MaxLineLength) return AddOverlongLine();
        var raw = line;
        if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
        if (line.IsEmpty)
        {
            _ended = true;
            return LineResult.End;
        }
        if (Failed) return LineResult.Continue;

        _total += raw.Length + 1;
        if (_total > UapiProtocol.MaxSetRequestBytes)
            return Fail(UapiError.Io($"set request larger than {UapiProtocol.MaxSetRequestBytes} bytes"));

        int maxChars = Encoding.UTF8.GetMaxCharCount(line.Length);
        if (_chars.Length < maxChars)
        {
            ReturnChars();
            _chars = ArrayPool<char>.Shared.Rent(maxChars);
        }
        int count = Encoding.UTF8.GetChars(line, _chars);
        bool ok = TryAddLine(_chars.AsSpan(0, count), out var error);
        _chars.AsSpan(0, count).Clear(); // the line may hold a private key
        return ok ? LineResult.Continue : Fail(error);
    }

    /// <summary>
    /// Feeds a line that was longer than <see cref="UapiProtocol.MaxLineLength"/> bytes and was not kept (the
    /// protocol layer drops such lines as they arrive).
    /// </summary>
    public LineResult AddOverlongLine()
    {
        if (_ended) throw new InvalidOperationException("the request has already ended");
        if (Failed) return LineResult.Continue;
        return Fail(UapiError.Io($"failed to read input: line longer than {UapiProtocol.MaxLineLength} bytes"));
    }

    /// <summary>
    /// Ends parsing (after the empty line, or where the input ended: what arrived is the request, as in wg-go) and
    /// hands over the request, which the caller then owns; or the first error. Call once.
    /// </summary>
    public bool TryTakeResult([MaybeNullWhen(false)] out SetRequest request, out UapiError error)
    {
        _ended = true;
        error = _error;
        if (!Failed && _request is null) throw new InvalidOperationException("the result has already been taken");
        if (Failed || _request is null)
        {
            request = null;
            return false;
        }
        request = _request;
        _request = null;
        return true;
    }

    /// <summary>Returns the line buffer and clears the secrets of a request that was not taken.</summary>
    public void Dispose()
    {
        _request?.ClearSecrets();
        _request = null;
        ReturnChars();
    }

    private LineResult Fail(UapiError error)
    {
        _error = error;
        _request?.ClearSecrets();
        return LineResult.Failed;
    }

    private void ReturnChars()
    {
        if (_chars.Length == 0) return;
        ArrayPool<char>.Shared.Return(_chars, clearArray: true);
        _chars = [];
    }

    /// <summary>Parses one non-empty line: a device or peer key and its value.</summary>
    private bool TryAddLine(ReadOnlySpan<char> line, out UapiError error)
    {
        var request = _request!;
        int eq = line.IndexOf('=');
        if (eq < 0)
        {
            error = UapiError.Protocol($"failed to parse line \"{IpText.Escape(line)}\": expected key=value");
            return false;
        }
        var key = line[..eq];
        var value = line[(eq + 1)..];

        if (key is "public_key")
        {
            Span<byte> pub = stackalloc byte[KeyEncoding.KeySize];
            if (!KeyEncoding.TryParseHex(value, pub))
            {
                error = UapiError.Invalid($"invalid public_key \"{IpText.Escape(value)}\": {HexReason(value)}");
                return false;
            }
            _peer = new PeerChange { PublicKey = pub.ToArray() };
            _peerIsDummy = false;
            request.Peers.Add(_peer);
            error = default;
            return true;
        }

        return _peer is null ? TryDeviceLine(request, key, value, out error) : TryPeerLine(_peer, key, value, out error);
    }

    private bool TryDeviceLine(SetRequest request, ReadOnlySpan<char> key, ReadOnlySpan<char> value, out UapiError error)
    {
        error = default;
        switch (key)
        {
            case "private_key":
                {
                    var sk = new byte[KeyEncoding.KeySize];
                    if (!KeyEncoding.TryParseHex(value, sk))
                    {
                        // The value is a secret: report its shape only.
                        error = UapiError.Invalid($"invalid private_key (value not shown, {value.Length} characters): {HexReason(value)}");
                        return false;
                    }
                    // wg-go FromMaybeZeroHex: all zeros means "no key" and is not clamped; RFC 7748 §5 clamping otherwise.
                    if (sk.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
                    {
                        sk[0] &= 248;
                        sk[31] = (byte)((sk[31] & 127) | 64);
                    }
                    if (request.PrivateKey is not null) CryptographicOperations.ZeroMemory(request.PrivateKey);
                    request.PrivateKey = sk;
                    return true;
                }
            case "listen_port":
                if (!IpText.TryParseDecimal(value, allowLeadingZeros: true, ushort.MaxValue, out long port))
                {
                    error = UapiError.Invalid($"invalid listen_port \"{IpText.Escape(value)}\": not a number from 0 to 65535");
                    return false;
                }
                request.ListenPort = (int)port;
                return true;
            case "fwmark":
                if (!IpText.TryParseDecimal(value, allowLeadingZeros: true, uint.MaxValue, out long mark))
                {
                    error = UapiError.Invalid($"invalid fwmark \"{IpText.Escape(value)}\": not a number from 0 to 4294967295");
                    return false;
                }
                request.Fwmark = (uint)mark;
                return true;
            case "replace_peers":
                if (!TryTrue("replace_peers", value, out error)) return false;
                request.ReplacePeers = true;
                return true;
        }

        string keyText = key.ToString();
        if (_isExtensionDeviceKey is not null && _isExtensionDeviceKey(keyText))
        {
            request.ExtensionKeys.Add(new(keyText, value.ToString()));
            return true;
        }
        string hint = IsPeerKey(key) ? ": peer keys must follow a public_key line" : "";
        error = UapiError.Invalid($"invalid UAPI device key \"{IpText.Escape(key)}\" (value \"{IpText.Escape(value)}\"){hint}");
        return false;
    }

    private bool TryPeerLine(PeerChange peer, ReadOnlySpan<char> key, ReadOnlySpan<char> value, out UapiError error)
    {
        error = default;
        bool record = !_peerIsDummy;
        switch (key)
        {
            case "update_only":
                if (!TryTrue("update_only", value, out error)) return false;
                if (record) peer.UpdateOnly = true;
                return true;
            case "remove":
                if (!TryTrue("remove", value, out error)) return false;
                peer.Remove = true;
                _peerIsDummy = true;
                return true;
            case "preshared_key":
                {
                    var psk = new byte[KeyEncoding.KeySize];
                    if (!KeyEncoding.TryParseHex(value, psk))
                    {
                        error = UapiError.Invalid($"invalid preshared_key (value not shown, {value.Length} characters): {HexReason(value)}");
                        return false;
                    }
                    if (record)
                    {
                        if (peer.PresharedKey is not null) CryptographicOperations.ZeroMemory(peer.PresharedKey);
                        peer.PresharedKey = psk;
                    }
                    else
                    {
                        CryptographicOperations.ZeroMemory(psk);
                    }
                    return true;
                }
            case "endpoint":
                if (!IpText.TryParseEndpoint(value, out var endpoint, out string? endpointReason))
                {
                    error = UapiError.Invalid($"invalid endpoint \"{IpText.Escape(value)}\": {endpointReason}");
                    return false;
                }
                if (record) peer.Endpoint = endpoint;
                return true;
            case "persistent_keepalive_interval":
                if (!IpText.TryParseDecimal(value, allowLeadingZeros: true, ushort.MaxValue, out long seconds))
                {
                    error = UapiError.Invalid($"invalid persistent_keepalive_interval \"{IpText.Escape(value)}\": not a number from 0 to 65535");
                    return false;
                }
                if (record) peer.PersistentKeepaliveInterval = (int)seconds;
                return true;
            case "replace_allowed_ips":
                if (!TryTrue("replace_allowed_ips", value, out error)) return false;
                if (record)
                {
                    // wg-go removes the peer's prefixes at this point, including those added earlier in this section.
                    peer.ReplaceAllowedIps = true;
                    peer.AllowedIps.Clear();
                }
                return true;
            case "allowed_ip":
                {
                    // tools:src/ipc-uapi.h writes "allowed_ip=-a/n" to remove one prefix (wg set ... allowed-ips -a/n).
                    bool remove = value.Length > 0 && value[0] == '-';
                    var prefix = remove ? value[1..] : value;
                    if (!IpText.TryParsePrefix(prefix, out var address, out int length, out string? reason))
                    {
                        error = UapiError.Invalid($"invalid allowed_ip \"{IpText.Escape(value)}\": {reason}");
                        return false;
                    }
                    if (record) peer.AllowedIps.Add(new AllowedIpChange(address!, length, remove));
                    return true;
                }
            case "protocol_version":
                if (value is not "1")
                {
                    error = UapiError.Invalid($"invalid protocol_version \"{IpText.Escape(value)}\": only version 1 is supported");
                    return false;
                }
                return true;
        }

        string keyText = key.ToString();
        if (_isExtensionPeerKey is not null && _isExtensionPeerKey(keyText))
        {
            if (record) peer.ExtensionKeys.Add(new(keyText, value.ToString()));
            return true;
        }
        string hint = IsDeviceKey(key) ? ": device keys must come before the first public_key line" : "";
        error = UapiError.Invalid($"invalid UAPI peer key \"{IpText.Escape(key)}\" (value \"{IpText.Escape(value)}\"){hint}");
        return false;
    }

    private static bool TryTrue(string key, ReadOnlySpan<char> value, out UapiError error)
    {
        // wg-go compares with "true" exactly; "false" is not a way to say "no".
        if (value is "true")
        {
            error = default;
            return true;
        }
        error = UapiError.Invalid($"invalid {key} \"{IpText.Escape(value)}\": the only accepted value is \"true\"");
        return false;
    }

    private static string HexReason(ReadOnlySpan<char> value) =>
        value.Length != KeyEncoding.HexLength
            ? $"expected {KeyEncoding.HexLength} hex digits, got {value.Length} characters"
            : "not a hex string";

    private static bool IsPeerKey(ReadOnlySpan<char> key) =>
        key is "update_only" or "remove" or "preshared_key" or "endpoint" or "persistent_keepalive_interval"
            or "replace_allowed_ips" or "allowed_ip" or "protocol_version";

    private static bool IsDeviceKey(ReadOnlySpan<char> key) =>
        key is "private_key" or "listen_port" or "fwmark" or "replace_peers";
}
