using System.Net;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Multihop;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Multihop;

/// <summary>
/// Issue 7 without root: a multihop client (exit + entry devices on the in-process link), an entry relay and an
/// exit relay (plain VeilTun tunnels), all on in-memory TUNs and an in-memory UDP network. The entry relay's
/// "kernel" is a forwarder that routes the inner UDP between its TUN and the exit relay, with one NAT mapping.
/// </summary>
public sealed class InProcessMultihopTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly IPAddress ClientPublic = IPAddress.Parse("198.51.100.1");
    private static readonly IPAddress EntryRelay = IPAddress.Parse("198.51.100.10");
    private static readonly IPAddress EntryRelayNat = IPAddress.Parse("198.51.100.11");
    private static readonly IPAddress ExitRelay = IPAddress.Parse("198.51.100.20");
    private const string ClientEntryAddress = "10.64.0.2"; // the client inside the entry tunnel
    private const string ClientExitAddress = "10.65.0.2"; // the client inside the exit tunnel

    private readonly InMemoryNetwork _net = new();
    private readonly InMemoryTun _clientTun = new("mh0", mtu: 1340), _entryTun = new("relayE"), _exitTun = new("relayX");
    private readonly SecretKey _clientExitKey = SecretKey.Generate(), _clientEntryKey = SecretKey.Generate();
    private readonly SecretKey _entryKey = SecretKey.Generate(), _exitKey = SecretKey.Generate();
    private readonly MultihopTunnel _client;
    private readonly Tunnel _entry, _exit;
    private readonly IUdpTransport _nat;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _forwardOut, _forwardBack;
    private readonly PacketPool _forwarderPool = new(65535 + 256, 256);
    private NetEndpoint _natClient; // the client's inner (address, port) behind the NAT mapping

    private static IUdpTransport Bind(InMemoryNetwork net, IPAddress address, int port) =>
        net.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(address, port)));

    public InProcessMultihopTests()
    {
        _entry = new Tunnel(new TunnelOptions { Tun = _entryTun, BindUdp = p => Bind(_net, EntryRelay, p) });
        _entry.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_entryKey.Bytes)}
            ListenPort = 51820

            [Peer]
            PublicKey = {_clientEntryKey.DerivePublicKey()}
            AllowedIPs = {ClientEntryAddress}/32
            """);
        _exit = new Tunnel(new TunnelOptions { Tun = _exitTun, BindUdp = p => Bind(_net, ExitRelay, p) });
        _exit.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_exitKey.Bytes)}
            ListenPort = 51820

            [Peer]
            PublicKey = {_clientExitKey.DerivePublicKey()}
            AllowedIPs = {ClientExitAddress}/32
            """);
        _client = MultihopTunnel.Create(new TunnelOptions { Tun = _clientTun },
            new MultihopOptions { EntryName = "mh-entry", EntryAddresses = [IPAddress.Parse(ClientEntryAddress)] },
            new TunnelOptions { Tun = _clientTun, BindUdp = p => Bind(_net, ClientPublic, p) });
        _client.Exit.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_clientExitKey.Bytes)}

            [Peer]
            PublicKey = {_exitKey.DerivePublicKey()}
            AllowedIPs = 0.0.0.0/0
            Endpoint = {ExitRelay}:51820
            """);
        _client.Entry.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_clientEntryKey.Bytes)}

            [Peer]
            PublicKey = {_entryKey.DerivePublicKey()}
            AllowedIPs = {ExitRelay}/32
            Endpoint = {EntryRelay}:51820
            """);

        _nat = Bind(_net, EntryRelayNat, 40001);
        _forwardOut = new Thread(ForwardOut) { IsBackground = true };
        _forwardBack = new Thread(ForwardBack) { IsBackground = true };
        _forwardOut.Start();
        _forwardBack.Start();
        _entry.Start();
        _exit.Start();
        _client.Start();
    }

    // Entry relay, tunnel → world: UDP from the client's entry address goes out from the NAT address.
    private void ForwardOut()
    {
        while (!_stop.IsCancellationRequested)
        {
            if (!_entryTun.TryTake(out var packet, TimeSpan.FromMilliseconds(100))) continue;
            if (!_forwarderPool.TryRent(out var b)) continue;
            b.SetLength(packet.Length);
            packet.CopyTo(b.Data);
            if (UdpEncapsulation.TryUnwrap(b, out var from, out var to) == UnwrapResult.Ok)
            {
                _natClient = from;
                _nat.Send(b.Data, to, default);
            }
            b.Return();
        }
    }

    // Entry relay, world → tunnel: replies to the NAT address go back to the client's entry address.
    private void ForwardBack()
    {
        var buffer = new byte[65535];
        while (!_stop.IsCancellationRequested)
        {
            int n = _nat.Receive(buffer, out var from, out _);
            if (n <= 0) break;
            if (_natClient.IsNone || !_forwarderPool.TryRent(out var b)) continue;
            b.SetLength(n);
            buffer.AsSpan(0, n).CopyTo(b.Data);
            if (UdpEncapsulation.TryWrap(b, from, _natClient, 1, 0)) _entryTun.Inject(b.Data);
            b.Return();
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _nat.Close();
        _client.Dispose();
        _entry.Dispose();
        _exit.Dispose();
        _forwardOut.Join(Wait);
        _forwardBack.Join(Wait);
        Assert.Equal(0, _client.Exit.OutstandingBuffers);
        Assert.Equal(0, _client.Entry.OutstandingBuffers);
        Assert.Equal(0, _entry.OutstandingBuffers);
        Assert.Equal(0, _exit.OutstandingBuffers);
    }

    [Fact]
    public void TrafficCrossesBothHopsAndEachRelaySeesOnlyItsNeighbour()
    {
        var ping = Icmp.EchoRequest(ClientExitAddress, "192.0.2.99", 7, 1);
        Assert.True(_clientTun.Inject(ping));
        Assert.True(_exitTun.TryTake(out var atExit, Wait), "the packet did not reach the exit relay's TUN");
        Assert.Equal(ping, atExit);

        var reply = Icmp.ReplyTo(atExit);
        Assert.True(_exitTun.Inject(reply));
        Assert.True(_clientTun.TryTake(out var back, Wait), "the reply did not come back through both hops");
        Assert.Equal(reply, back);

        // The exit relay knows the client only by the entry relay's NAT address; the entry relay by its real one.
        Assert.Equal($"{EntryRelayNat}:40001", Assert.Single(_exit.GetPeerStats()).Endpoint);
        Assert.StartsWith($"{ClientPublic}:", Assert.Single(_entry.GetPeerStats()).Endpoint);
        // Each hop did its own handshake.
        Assert.NotNull(Assert.Single(_client.Exit.GetPeerStats()).LastHandshake);
        Assert.NotNull(Assert.Single(_client.Entry.GetPeerStats()).LastHandshake);
        Assert.Equal(0, _client.Link.Dropped);
        Assert.Equal(0, _client.Link.Invalid);
    }

    [Fact]
    public void ManyPacketsArriveInOrderThroughBothHops()
    {
        var sent = new List<byte[]>();
        for (int i = 0; i < 200; i++)
        {
            var p = Packets.Ipv4(ClientExitAddress, "192.0.2.99", 100 + i % 1200);
            p[^1] = (byte)i;
            sent.Add(p);
            Assert.True(_clientTun.Inject(p));
            if (i == 0) Assert.True(_exitTun.TryTake(out _, Wait)); // first one after the two handshakes
        }
        var received = new List<byte[]>();
        while (received.Count < sent.Count - 1 && _exitTun.TryTake(out var p, Wait)) received.Add(p);
        Assert.Equal(sent.Skip(1), received);
    }

    [Fact]
    public void AnEntryMtuThatCannotCarryTheExitHopIsAClearError()
    {
        var ex = Assert.Throws<ArgumentException>(() => MultihopTunnel.Create(new TunnelOptions { Tun = new InMemoryTun("x") },
            new MultihopOptions { EntryName = "e", EntryAddresses = [IPAddress.Parse("10.0.0.1")], EntryMtu = 600 }));
        Assert.Contains("MTU", ex.Message);
    }
}
