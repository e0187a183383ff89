namespace VeilTun.Noise;

/// <summary>The four WireGuard message types (the first byte; three reserved zero bytes follow).</summary>
internal enum MessageType : byte
{
    HandshakeInitiation = 1,
    HandshakeResponse = 2,
    CookieReply = 3,
    TransportData = 4,
}
