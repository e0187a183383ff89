using VeilTun.Crypto;
using VeilTun.Device;

namespace VeilTun.Tests.Fakes;

/// <summary>
/// The usual two-tunnel topology of the in-memory Tunnel tests: A (198.51.100.1:51820, tunnel address 192.0.2.1)
/// knows B's endpoint (198.51.100.2:51821, 192.0.2.2); B learns A's from the handshake.
/// </summary>
internal static class TunnelPeers
{
    public static void ConfigureAndStart(Tunnel a, Tunnel b, SecretKey keyA, SecretKey keyB)
    {
        a.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(keyA.Bytes)}
            ListenPort = 51820

            [Peer]
            PublicKey = {keyB.DerivePublicKey()}
            AllowedIPs = 192.0.2.2/32
            Endpoint = 198.51.100.2:51821
            """);
        b.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(keyB.Bytes)}
            ListenPort = 51821

            [Peer]
            PublicKey = {keyA.DerivePublicKey()}
            AllowedIPs = 192.0.2.1/32
            """);
        a.Start();
        b.Start();
    }
}
