using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>
/// Two tunnels in this process on real TUNs with offloads (TSO super-packets in, coalesced super-packets out), in
/// two namespaces joined by a veth pair, carrying TCP both ways at once. Root only (CI is root).
/// </summary>
public sealed class OffloadTunnelTests
{
    private const int LargeBuffers = 128; // this load runs out of 128 large buffers if segments take large buffers

    // Payloads of split segments and GRO datagrams stay in the super-packet's buffer (spliced).
    [RootFact]
    public void TcpBothWaysThroughOffloadTunsArrivesIntactAndSegmentsUseSmallBuffers()
    {
        using var nsA = NetnsThread.Create();
        using var nsB = NetnsThread.Create();
        Shell.Run($"ip link add vto-a netns {nsA.Name} type veth peer name vto-b netns {nsB.Name}");
        Shell.Run($"ip -n {nsA.Name} addr add 198.51.100.1/24 dev vto-a && ip -n {nsA.Name} link set vto-a up");
        Shell.Run($"ip -n {nsB.Name} addr add 198.51.100.2/24 dev vto-b && ip -n {nsB.Name} link set vto-b up");
        var keyA = SecretKey.Generate();
        var keyB = SecretKey.Generate();
        var a = nsA.Invoke(() => Open("vtoa0", keyA, keyB, 51820, "192.0.2.2/32", "198.51.100.2:51821"));
        var b = nsB.Invoke(() => Open("vtob0", keyB, keyA, 51821, "192.0.2.1/32", null));
        try
        {
            Shell.Run($"ip -n {nsA.Name} addr add 192.0.2.1/24 dev vtoa0 && ip -n {nsA.Name} link set vtoa0 up");
            Shell.Run($"ip -n {nsB.Name} addr add 192.0.2.2/24 dev vtob0 && ip -n {nsB.Name} link set vtob0 up");
            var listener = nsB.Invoke(() =>
            {
                var l = new TcpListener(IPAddress.Parse("192.0.2.2"), 5201);
                l.Start();
                return l;
            });
            using (listener.Server)
            {
                var accept = listener.AcceptSocketAsync();
                using var client = nsA.Invoke(() =>
                {
                    var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    s.ConnectAsync(IPAddress.Parse("192.0.2.2"), 5201).Wait(TimeSpan.FromSeconds(15));
                    return s;
                });
                Assert.True(client.Connected, "TCP connect through the tunnel");
                Assert.True(accept.Wait(TimeSpan.FromSeconds(10)));
                using var server = accept.Result;

                // 48 MiB one way and 16 MiB the other, at the same time; each side hashes what it receives.
                var up = Transfer(client, server, 48 << 20, seed: 1);
                var down = Transfer(server, client, 16 << 20, seed: 2);
                Assert.True(Task.WaitAll([up, down], TimeSpan.FromSeconds(90)), "transfers finished in time");
                Assert.Equal(up.Result.Sent, up.Result.Received);
                Assert.Equal(down.Result.Sent, down.Result.Received);
            }

            Assert.True(a.Tun.OffloadsEnabled && b.Tun.OffloadsEnabled);
            foreach (var (t, tun, udp) in new[] { a, b })
            {
                var drops = t.GetDropCounts();
                Assert.False(drops.TryGetValue(DropReason.PoolExhausted, out long n) && n > 0, $"{t.Name}: {n} pool_exhausted drops");
                // Segments of super-packets (split on TUN reads, GRO extras on UDP receive) live in small buffers.
                Assert.True(t.BuffersCreated.Small > 0, $"{t.Name}: no small buffer was ever used");
                Assert.True(t.BuffersCreated.Large <= LargeBuffers);
                // Each side sends bulk data, so each splits TSO super-packets and receives GRO batches.
                Assert.True(tun.SplicedSegments > 0, $"{t.Name}: no TUN segment was spliced");
                Assert.True(udp.Bound!.SplicedDatagrams > 0, $"{t.Name}: no GRO datagram was spliced");
            }
        }
        finally
        {
            a.Tunnel.Dispose();
            b.Tunnel.Dispose();
        }
        Assert.Equal(0, a.Tunnel.OutstandingBuffers);
        Assert.Equal(0, b.Tunnel.OutstandingBuffers);
    }

    private sealed class SocketHolder
    {
        public LinuxUdpSocket? Bound;
    }

    private static (Tunnel Tunnel, LinuxTun Tun, SocketHolder Udp) Open(string name, SecretKey key, SecretKey peer, int port, string allowed, string? endpoint)
    {
        var tun = LinuxTun.Create(name, 1420, new TunOptions { Offloads = true });
        var udp = new SocketHolder();
        var tunnel = new Tunnel(new TunnelOptions
        {
            Tun = tun,
            MaxBuffers = LargeBuffers,
            BindUdp = p => udp.Bound = LinuxUdpSocket.Bind(p, enableGro: true),
        });
        tunnel.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(key.Bytes)}
            ListenPort = {port}

            [Peer]
            PublicKey = {peer.DerivePublicKey()}
            AllowedIPs = {allowed}
            {(endpoint is null ? "" : "Endpoint = " + endpoint)}
            """);
        tunnel.Start(); // binds the UDP socket on this (namespace) thread
        return (tunnel, tun, udp);
    }

    // Sends `length` seeded bytes on `from` and reads them on `to`; returns both SHA-256 hashes.
    private static Task<(string Sent, string Received)> Transfer(Socket from, Socket to, int length, int seed)
    {
        var send = Task.Run(() =>
        {
            var random = new Random(seed);
            var chunk = new byte[256 * 1024];
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (int left = length; left > 0;)
            {
                int n = Math.Min(left, chunk.Length);
                random.NextBytes(chunk.AsSpan(0, n));
                hash.AppendData(chunk, 0, n);
                for (int off = 0; off < n;) off += from.Send(chunk, off, n - off, SocketFlags.None);
                left -= n;
            }
            return Convert.ToHexString(hash.GetHashAndReset());
        });
        var receive = Task.Run(() =>
        {
            var buffer = new byte[256 * 1024];
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            to.ReceiveTimeout = 30000;
            for (int left = length; left > 0;)
            {
                int n = to.Receive(buffer, 0, Math.Min(left, buffer.Length), SocketFlags.None);
                if (n == 0) break;
                hash.AppendData(buffer, 0, n);
                left -= n;
            }
            return Convert.ToHexString(hash.GetHashAndReset());
        });
        return Task.WhenAll(send, receive).ContinueWith(_ => (send.Result, receive.Result));
    }
}
