using System.Security.Cryptography;
using VeilTun.Crypto;

namespace VeilTun.Uapi;

/// <summary>
/// Incremental parser for the body of a <c>set=1</c> request: feed it one line at a time (without the '\n'), then
/// take <see cref="Result"/>. Lets the protocol layer parse a large request as it arrives, without keeping the lines.
/// Validation and errno follow wireguard-go <c>device/uapi.go</c> (<c>handleDeviceLine</c>, <c>handlePeerLine</c>).
/// After the first error the parser must not be fed again. Not thread-safe.
/// </summary>
internal sealed class UapiSetParser
{
    private readonly Func<string, bool>? _isExtensionPeerKey;
    private readonly Func<string, bool>? _isExtensionDeviceKey;
    private readonly SetRequest _request = new();
    private PeerChange? _peer;      // current peer section, null while in the device section
    private bool _peerIsDummy;      // after remove=true: validate, do not record (wg-go turns the peer into a dummy)

    public UapiSetParser(Func<string, bool>? isExtensionPeerKey, Func<string, bool>? isExtensionDeviceKey)
    {
        _isExtensionPeerKey = isExtensionPeerKey;
        _isExtensionDeviceKey = isExtensionDeviceKey;
    }

    /// <summary>The request parsed so far.</summary>
    public SetRequest Result => _request;

    /// <summary>
    /// Parses one non-empty line (the caller handles the empty line that ends the request).
    /// </summary>
    /// <returns>False with <paramref name="error"/> set when the line is rejected.</returns>
    public bool TryAddLine(ReadOnlySpan<char> line, out UapiError error)
    {
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
            _request.Peers.Add(_peer);
            error = default;
            return true;
        }

        return _peer is null ? TryDeviceLine(key, value, out error) : TryPeerLine(_peer, key, value, out error);
    }

    private bool TryDeviceLine(ReadOnlySpan<char> key, ReadOnlySpan<char> value, out UapiError error)
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
                if (_request.PrivateKey is not null) CryptographicOperations.ZeroMemory(_request.PrivateKey);
                _request.PrivateKey = sk;
                return true;
            }
            case "listen_port":
                if (!IpText.TryParseDecimal(value, allowLeadingZeros: true, ushort.MaxValue, out long port))
                {
                    error = UapiError.Invalid($"invalid listen_port \"{IpText.Escape(value)}\": not a number from 0 to 65535");
                    return false;
                }
                _request.ListenPort = (int)port;
                return true;
            case "fwmark":
                if (!IpText.TryParseDecimal(value, allowLeadingZeros: true, uint.MaxValue, out long mark))
                {
                    error = UapiError.Invalid($"invalid fwmark \"{IpText.Escape(value)}\": not a number from 0 to 4294967295");
                    return false;
                }
                _request.Fwmark = (uint)mark;
                return true;
            case "replace_peers":
                if (!TryTrue("replace_peers", value, out error)) return false;
                _request.ReplacePeers = true;
                return true;
        }

        string keyText = key.ToString();
        if (_isExtensionDeviceKey is not null && _isExtensionDeviceKey(keyText))
        {
            _request.ExtensionKeys.Add(new(keyText, value.ToString()));
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
