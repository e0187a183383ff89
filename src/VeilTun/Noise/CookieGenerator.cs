using System.Security.Cryptography;
using VeilTun.Crypto;

namespace VeilTun.Noise;

/// <summary>
/// The sender's side of the cookie mechanism for one peer (kernel cookie.c wg_cookie_add_mac_to_packet and
/// wg_cookie_message_consume): writes mac1 and, while it holds a fresh cookie, mac2 into each handshake
/// message; accepts a cookie reply only for the mac1 it last sent, once. Not thread-safe; owned by the engine.
/// </summary>
internal sealed class CookieGenerator
{
    private Key32 _mac1Key;
    private Key32 _cookieKey;
    private Key32 _lastMac1;
    private bool _hasSentMac1;
    private Key32 _cookie; // first 16 bytes used
    private TimeSpan _cookieReceived;
    private bool _hasCookie;

    public CookieGenerator(PublicKey peerPublicKey)
    {
        CookieChecker.DeriveLabelKey(Protocol.LabelMac1, peerPublicKey.Bytes, _mac1Key);
        CookieChecker.DeriveLabelKey(Protocol.LabelCookie, peerPublicKey.Bytes, _cookieKey);
    }

    /// <summary>True while a cookie younger than two minutes is held (mac2 is then non-zero).</summary>
    public bool HasFreshCookie(TimeSpan now) => _hasCookie && now - _cookieReceived < Protocol.CookieRefreshTime;

    /// <summary>Writes mac1 and mac2 (the last 32 bytes) of a complete handshake message.</summary>
    public void AddMacs(Span<byte> message, TimeSpan now)
    {
        int mac1Offset = message.Length - 32;
        var mac1 = message.Slice(mac1Offset, 16);
        Blake2s.KeyedHash(_mac1Key, message[..mac1Offset], mac1);
        mac1.CopyTo(_lastMac1);
        _hasSentMac1 = true;

        var mac2 = message.Slice(mac1Offset + 16, 16);
        if (HasFreshCookie(now))
            Blake2s.KeyedHash(((ReadOnlySpan<byte>)_cookie)[..16], message[..(mac1Offset + 16)], mac2);
        else
            mac2.Clear();
    }

    /// <summary>Decrypts a cookie reply with the last mac1 as AD; one cookie per mac1. False on any mismatch.</summary>
    public bool TryConsumeReply(ReadOnlySpan<byte> reply, TimeSpan now)
    {
        if (!_hasSentMac1) return false;
        Span<byte> cookie = stackalloc byte[16];
        if (!XChaCha20Poly1305Cipher.TryOpen(_cookieKey,
                reply.Slice(Messages.CookieNonceOffset, Messages.CookieNonceLength),
                reply.Slice(Messages.CookieEncryptedOffset, Messages.CookieEncryptedLength),
                ((ReadOnlySpan<byte>)_lastMac1)[..16], cookie))
        {
            return false;
        }

        cookie.CopyTo(_cookie);
        CryptographicOperations.ZeroMemory(cookie);
        _cookieReceived = now;
        _hasCookie = true;
        _hasSentMac1 = false;
        return true;
    }

    /// <summary>Test hook: the cookie held (16 bytes; zeros when none).</summary>
    internal ReadOnlySpan<byte> CookieForTest => ((ReadOnlySpan<byte>)_cookie)[..16];

    /// <summary>Forgets and zeroes the cookie and the last mac1 (the peer is going away).</summary>
    public void Clear()
    {
        CryptographicOperations.ZeroMemory(_cookie);
        CryptographicOperations.ZeroMemory(_lastMac1);
        _hasCookie = false;
        _hasSentMac1 = false;
    }
}
