using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Interop;

/// <summary>
/// Byte compatibility, proven: the sans-IO core with a plain UDP socket talks to a real wireguard-go (Debian's
/// package) in network namespaces the test creates, and ICMP echoes cross the tunnel both ways.
/// <code>
///  netns vtc-N (this test's socket)          netns vtw-N (wireguard-go)
///  veth 198.51.100.1/24  ─────────────────── veth 198.51.100.2/24
///  core: tunnel address 192.0.2.1            wg tunnel 192.0.2.2/24
/// </code>
/// </summary>
public sealed class WireguardGoInteropTests : IDisposable
{
    private readonly string _id = Random.Shared.Next(100000, 999999).ToString();
    private string Core => "vtc-" + _id;
    private string Wg => "vtw-" + _id;
    private string WgIf => "vtwg" + _id;
    private readonly string _log = Path.Combine(Path.GetTempPath(), "vt-wggo-" + Guid.NewGuid().ToString("N") + ".log");
    private Process? _wireguardGo;

    private void SetUp(bool coreHasEndpoint, bool wgHasEndpoint, byte[] corePrivate, PublicKey corePublic, out PublicKey wgPublic, out int wgPort)
    {
        Shell.Run($"ip netns add {Core} && ip netns add {Wg}");
        Shell.Run($"ip link add vtc{_id} netns {Core} type veth peer name vtw{_id} netns {Wg}");
        Shell.Run($"ip -n {Core} addr add 198.51.100.1/24 dev vtc{_id} && ip -n {Core} link set vtc{_id} up && ip -n {Core} link set lo up");
        Shell.Run($"ip -n {Wg} addr add 198.51.100.2/24 dev vtw{_id} && ip -n {Wg} link set vtw{_id} up && ip -n {Wg} link set lo up");

        _wireguardGo = Shell.Start($"env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=debug ip netns exec {Wg} wireguard-go -f {WgIf}", _log);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!File.Exists($"/var/run/wireguard/{WgIf}.sock"))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("wireguard-go did not create its socket: " + File.ReadAllText(_log));
            Thread.Sleep(50);
        }
        var wgKey = Shell.Run("wg genkey").Trim();
        wgPublic = PublicKey.TryParse(Shell.Run($"echo {wgKey} | wg pubkey").Trim(), out var pk) ? pk : throw new InvalidOperationException();
        wgPort = 51821;
        File.WriteAllText(_log + ".key", wgKey);
        string endpoint = wgHasEndpoint ? "endpoint 198.51.100.1:51820" : "";
        Shell.Run($"ip netns exec {Wg} wg set {WgIf} listen-port {wgPort} private-key {_log}.key " +
                  $"peer {corePublic.ToBase64()} allowed-ips 192.0.2.1/32 {endpoint}");
        Shell.Run($"ip -n {Wg} addr add 192.0.2.2/24 dev {WgIf} && ip -n {Wg} link set {WgIf} up");
        _ = coreHasEndpoint;
    }

    public void Dispose()
    {
        try { _wireguardGo?.Kill(true); } catch (InvalidOperationException) { }
        _wireguardGo?.WaitForExit(5000);
        Shell.Run($"ip netns del {Core}; ip netns del {Wg}; rm -f {_log}.key /var/run/wireguard/{WgIf}.sock", check: false);
    }

    /// <summary>The core plus a UDP socket, driven by one loop on the test thread.</summary>
    private sealed class CoreSide : IProtocolOutput
    {
        public readonly PacketPool Pool = new(2048, 512);
        public readonly Socket Socket;
        public readonly ProtocolEngine Engine;
        public readonly List<byte[]> Delivered = new();
        public readonly List<byte[]> Sent = new();
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public CoreSide(Socket socket, ReadOnlySpan<byte> privateKey)
        {
            Socket = socket;
            Engine = new ProtocolEngine(this, Pool);
            Engine.SetPrivateKey(privateKey);
        }

        public TimeSpan Now => _clock.Elapsed;

        public bool SendDatagram(PacketBuffer datagram, NetEndpoint destination, in PacketInfo source, Peer? peer)
        {
            Sent.Add(datagram.Data.ToArray());
            Socket.SendTo(datagram.Data, SocketFlags.None, destination.ToIPEndPoint());
            datagram.Return();
            return true;
        }

        public void DeliverPacket(PacketBuffer packet, Peer peer)
        {
            Delivered.Add(packet.Data.ToArray());
            packet.Return();
        }

        public void OnEvent(in ProtocolEvent e) { }

        /// <summary>Receives and ticks until <paramref name="done"/> or the (bounded) timeout.</summary>
        public bool RunUntil(Func<bool> done, TimeSpan timeout)
        {
            var end = Now + timeout;
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            while (Now < end)
            {
                if (done()) return true;
                if (Socket.Poll(TimeSpan.FromMilliseconds(20), SelectMode.SelectRead))
                {
                    if (!Pool.TryRent(out var buffer)) throw new InvalidOperationException("pool exhausted");
                    int n = Socket.ReceiveFrom(buffer.ReadArea(), SocketFlags.None, ref from);
                    buffer.SetData(PacketBuffer.DefaultHeadroom, n);
                    Engine.ReceiveDatagram(buffer, NetEndpoint.FromIPEndPoint((IPEndPoint)from), default, Now);
                }
                Engine.Tick(Now);
            }
            return done();
        }
    }

    private CoreSide StartCore(byte[] privateKey, PublicKey wgPublic, bool withEndpoint)
    {
        var socket = NetworkNamespace.Run(Core, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Parse("198.51.100.1"), 51820));
            return s;
        });
        var core = new CoreSide(socket, privateKey);
        var peer = core.Engine.AddPeer(wgPublic)!;
        if (withEndpoint) core.Engine.SetEndpoint(peer, NetEndpoint.FromIPEndPoint(IPEndPoint.Parse("198.51.100.2:51821")));
        core.Engine.AllowedIps.Insert(new byte[] { 192, 0, 2, 2 }, 32, peer);
        core.Engine.Up(core.Now);
        return core;
    }

    private static bool IsEchoReply(byte[] p, ushort id, ushort seq) =>
        p.Length >= 28 && p[9] == 1 && p[20] == 0 && p[24] == id >> 8 && p[25] == (id & 0xff) && p[27] == (seq & 0xff);

    [RequiresRootFact]
    public void CoreInitiatesHandshakeWithWireguardGoAndGetsEchoReply()
    {
        using var key = SecretKey.Generate();
        SetUp(coreHasEndpoint: true, wgHasEndpoint: false, key.Bytes.ToArray(), key.DerivePublicKey(), out var wgPublic, out int _);
        var core = StartCore(key.Bytes.ToArray(), wgPublic, withEndpoint: true);
        using var socket = core.Socket;

        for (ushort seq = 1; seq <= 3; seq++)
        {
            var request = Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 0x5654, seq);
            core.Engine.SendPacket(TestPackets.Rent(core.Pool, request), core.Now);
            ushort s = seq;
            Assert.True(core.RunUntil(() => core.Delivered.Any(p => IsEchoReply(p, 0x5654, s)), TimeSpan.FromSeconds(10)),
                "no echo reply through wireguard-go; its log:\n" + File.ReadAllText(_log));
        }

        // wireguard-go saw a handshake and learned our endpoint.
        var show = Shell.Run($"ip netns exec {Wg} wg show {WgIf} dump");
        Assert.Contains("198.51.100.1:51820", show);
        var peerLine = show.Split('\n')[1].Split('\t');
        Assert.NotEqual("0", peerLine[4]); // latest handshake
        Assert.Equal(0, core.Engine.GetDropCount(DropReason.Internal));
        // Every message we sent had the right size for its type.
        Assert.All(core.Sent, m => Assert.True(
            (m[0] == 1 && m.Length == 148) || (m[0] == 4 && (m.Length - 32) % 16 == 0)));
    }

    [RequiresRootFact]
    public void WireguardGoInitiatesAndCorePeerAnswersPing()
    {
        using var key = SecretKey.Generate();
        SetUp(coreHasEndpoint: false, wgHasEndpoint: true, key.Bytes.ToArray(), key.DerivePublicKey(), out var wgPublic, out int _);
        var core = StartCore(key.Bytes.ToArray(), wgPublic, withEndpoint: false);
        using var socket = core.Socket;

        // A real ping from wireguard-go's side; the core answers each echo request it receives.
        var ping = Shell.Start($"ip netns exec {Wg} ping -c 3 -i 0.3 -W 5 192.0.2.1", _log + ".ping");
        int answered = 0;
        core.RunUntil(() =>
        {
            while (answered < core.Delivered.Count)
            {
                var p = core.Delivered[answered++];
                if (p.Length >= 28 && p[9] == 1 && p[20] == 8)
                    core.Engine.SendPacket(TestPackets.Rent(core.Pool, Icmp.ReplyTo(p)), core.Now);
            }
            return ping.HasExited;
        }, TimeSpan.FromSeconds(15));
        ping.WaitForExit(5000);
        var pingLog = File.ReadAllText(_log + ".ping");
        File.Delete(_log + ".ping");
        Assert.True(ping.ExitCode == 0, "ping through wireguard-go → core failed:\n" + pingLog + "\n" + File.ReadAllText(_log));
        Assert.Contains("3 received", pingLog);
        var peer = core.Engine.Peers.Single();
        Assert.Equal("198.51.100.2:51821", peer.Endpoint.ToString());
        Assert.NotNull(peer.LastHandshake);
    }
}
