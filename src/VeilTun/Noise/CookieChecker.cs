using System.Buffers.Binary;
using System.Security.Cryptography;
using VeilTun.Crypto;
using VeilTun.Udp;

namespace VeilTun.Noise;

/// <summary>
/// The responder's side of WireGuard's DoS defence (whitepaper §5.4.4, §5.4.7; kernel cookie.c): checks mac1 on
/// every handshake message, and under load checks mac2 against a cookie bound to the sender's address, or
/// answers with an encrypted cookie reply. The cookie secret rotates every two minutes.
/// Not thread-safe; owned by the engine.
/// </summary>
internal sealed class CookieChecker
{
    private Key32 _mac1Key;
    private Key32 _cookieKey;
    private Key32 _secret;
    private TimeSpan _secretCreated;
    private bool _hasSecret;
    private readonly IRandomSource _random;

    public CookieChecker(IRandomSource random) => _random = random;

    /// <summary>Recomputes the mac1 and cookie-encryption keys from our public key (or clears them).</summary>
    public void SetPublicKey(PublicKey? ownPublicKey)
    {
        if (ownPublicKey is { } pub)
        {
            DeriveLabelKey(Protocol.LabelMac1, pub.Bytes, _mac1Key);
            DeriveLabelKey(Protocol.LabelCookie, pub.Bytes, _cookieKey);
        }
        else
        {
            CryptographicOperations.ZeroMemory(_mac1Key);
            CryptographicOperations.ZeroMemory(_cookieKey);
        }
    }

    internal static void DeriveLabelKey(string label, ReadOnlySpan<byte> publicKey, Span<byte> key)
    {
        Span<byte> l = stackalloc byte[8];
        for (int i = 0; i < 8; i++) l[i] = (byte)label[i];
        Blake2s.Hash(l, publicKey, key);
    }

    /// <summary>mac1 = MAC(HASH("mac1----" || our public key), message up to mac1). Constant-time compare.</summary>
    public bool CheckMac1(ReadOnlySpan<byte> message)
    {
        int mac1Offset = message.Length - 32;
        Span<byte> mac = stackalloc byte[16];
        Blake2s.KeyedHash(_mac1Key, message[..mac1Offset], mac);
        return CryptographicOperations.FixedTimeEquals(mac, message.Slice(mac1Offset, 16));
    }

    /// <summary>mac2 = MAC(cookie for this source, message up to mac2); false once the secret is over 2 minutes old.</summary>
    public bool CheckMac2(ReadOnlySpan<byte> message, NetEndpoint source, TimeSpan now)
    {
        if (!_hasSecret || now - _secretCreated > Protocol.CookieRefreshTime) return false;
        Span<byte> cookie = stackalloc byte[16];
        ComputeCookie(source, cookie);
        int mac2Offset = message.Length - 16;
        Span<byte> mac = stackalloc byte[16];
        Blake2s.KeyedHash(cookie, message[..mac2Offset], mac);
        bool ok = CryptographicOperations.FixedTimeEquals(mac, message[mac2Offset..]);
        // The cookie is the sender's secret, and mac is a valid mac2 for whatever was sent: neither may linger.
        CryptographicOperations.ZeroMemory(cookie);
        CryptographicOperations.ZeroMemory(mac);
        return ok;
    }

    /// <summary>
    /// Writes a 64-byte cookie reply to <paramref name="reply"/> for the handshake <paramref name="message"/> that
    /// came from <paramref name="source"/>: XChaCha20-Poly1305 of the cookie, with the message's mac1 as AD.
    /// </summary>
    public void CreateReply(ReadOnlySpan<byte> message, NetEndpoint source, TimeSpan now, Span<byte> reply)
    {
        if (!_hasSecret || now - _secretCreated > Protocol.CookieRefreshTime)
        {
            _random.Fill(_secret);
            _secretCreated = now;
            _hasSecret = true;
        }
        Span<byte> cookie = stackalloc byte[16];
        ComputeCookie(source, cookie);
        Messages.WriteHeader(reply, MessageType.CookieReply);
        Messages.WriteUInt32(reply, Messages.CookieReceiverOffset, Messages.ReadUInt32(message, 4));
        var nonce = reply.Slice(Messages.CookieNonceOffset, Messages.CookieNonceLength);
        _random.Fill(nonce);
        var mac1 = message.Slice(message.Length - 32, 16);
        XChaCha20Poly1305Cipher.Seal(_cookieKey, nonce, cookie, mac1,
            reply.Slice(Messages.CookieEncryptedOffset, Messages.CookieEncryptedLength));
        CryptographicOperations.ZeroMemory(cookie);
    }

    // Kernel cookie.c make_cookie: the source address bytes (4 or 16) then the UDP port in big-endian order.
    private void ComputeCookie(NetEndpoint source, Span<byte> cookie)
    {
        Span<byte> input = stackalloc byte[18];
        int n = source.WriteAddress(input);
        BinaryPrimitives.WriteUInt16BigEndian(input[n..], source.Port);
        Blake2s.KeyedHash(_secret, input[..(n + 2)], cookie);
    }
}
