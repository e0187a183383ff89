using System.Net;
using VeilTun.Buffers;
using VeilTun.Crypto;
using VeilTun.Daita;
using VeilTun.Device;
using VeilTun.Multihop;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Uapi;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Multihop;

/// <summary>
/// Multihop without root: a multihop client (exit + entry devices on the in-process link), an entry relay and an
/// exit relay (plain VeilTun tunnels), all on in-memory TUNs and an in-memory UDP network. The entry relay's
/// "kernel" is a forwarder that routes the inner UDP between its TUN and the exit relay, with one NAT mapping.
/// </summary>
public sealed class InProcessMultihopTests
{
    [Fact]
    public void TrafficCrossesBothHopsAndEachRelaySeesOnlyItsNeighbour()
    {
        using var chain = new MultihopChain(ipv6: false);
        chain.AssertRoundTrip();
    }

    [Fact]
    public void IPv6OuterAndInnerHeadersWorkToo()
    {
        using var chain = new MultihopChain(ipv6: true);
        chain.AssertRoundTrip();
        chain.AssertManyInOrder(50);
    }

    [Fact]
    public void ManyPacketsArriveInOrderThroughBothHops()
    {
        using var chain = new MultihopChain(ipv6: false);
        chain.AssertRoundTrip(); // both sessions first: packets waiting for a handshake are bounded (oldest dropped)
        chain.AssertManyInOrder(200);
    }

    [Fact]
    public void DaitaOnTheExitHopRidesInsideTheEntryHop()
    {
        using var chain = new MultihopChain(ipv6: false);
        var request = new SetRequest();
        request.Peers.Add(new PeerChange
        {
            PublicKey = chain.ExitRelayKey.Bytes.ToArray(),
            UpdateOnly = true,
            Daita = new DaitaSettings { Machines = [Daita.DaitaEngineTests.PadLoop(20_000)] },
        });
        Assert.Null(chain.Client.Exit.Configure(request));
        chain.AssertRoundTrip();
        chain.AssertManyInOrder(20);
        long DecoyBytes() => long.Parse(chain.Client.Exit.GetSnapshot().Peers.Single().ExtraKeys
            .Single(k => k.Key == "daita_tx_decoy_packet_bytes").Value);
        Assert.True(SpinWait.SpinUntil(() => DecoyBytes() > 0, TimeSpan.FromSeconds(10)), "no decoys sent");
        // The exit relay has no DAITA and drops the decoys as invalid inner packets: they crossed both hops.
        Assert.True(SpinWait.SpinUntil(() => chain.ExitRelay.GetDropCounts().ContainsKey(DropReason.InvalidInnerPacket),
            TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void AnEntryMtuThatCannotCarryTheExitHopIsAClearError()
    {
        var ex = Assert.Throws<ArgumentException>(() => MultihopTunnel.Create(new TunnelOptions { Tun = new InMemoryTun("x") },
            new MultihopOptions { EntryName = "e", EntryAddresses = [IPAddress.Parse("10.0.0.1")], EntryMtu = 600 }));
        Assert.Contains("MTU", ex.Message);
    }
}

/// <summary>A multihop client, an entry relay with its forwarder and an exit relay; IPv4 or IPv6 everywhere.</summary>
internal sealed class MultihopChain : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly bool _ipv6;
    private readonly IPAddress _clientPublic, _entryRelay, _entryRelayNat, _exitRelay;
    private readonly string _clientEntryAddress; // the client inside the entry tunnel
    private readonly string _clientExitAddress; // the client inside the exit tunnel
    private readonly string _server;

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

    private static string Endpoint(IPAddress a) => new IPEndPoint(a, 51820).ToString();

    public MultihopChain(bool ipv6)
    {
        _ipv6 = ipv6;
        _clientPublic = IPAddress.Parse(ipv6 ? "2001:db8:100::1" : "198.51.100.1");
        _entryRelay = IPAddress.Parse(ipv6 ? "2001:db8:100::10" : "198.51.100.10");
        _entryRelayNat = IPAddress.Parse(ipv6 ? "2001:db8:100::11" : "198.51.100.11");
        _exitRelay = IPAddress.Parse(ipv6 ? "2001:db8:100::20" : "198.51.100.20");
        _clientEntryAddress = ipv6 ? "2001:db8:64::2" : "10.64.0.2";
        _clientExitAddress = ipv6 ? "2001:db8:65::2" : "10.65.0.2";
        _server = ipv6 ? "2001:db8:99::99" : "192.0.2.99";
        string host = ipv6 ? "/128" : "/32";

        _entry = new Tunnel(new TunnelOptions { Tun = _entryTun, BindUdp = p => Bind(_net, _entryRelay, p) });
        _entry.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_entryKey.Bytes)}
            ListenPort = 51820

            [Peer]
            PublicKey = {_clientEntryKey.DerivePublicKey()}
            AllowedIPs = {_clientEntryAddress}{host}
            """);
        _exit = new Tunnel(new TunnelOptions { Tun = _exitTun, BindUdp = p => Bind(_net, _exitRelay, p) });
        _exit.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_exitKey.Bytes)}
            ListenPort = 51820

            [Peer]
            PublicKey = {_clientExitKey.DerivePublicKey()}
            AllowedIPs = {_clientExitAddress}{host}
            """);
        _client = MultihopTunnel.Create(new TunnelOptions { Tun = _clientTun },
            new MultihopOptions { EntryName = "mh-entry", EntryAddresses = [IPAddress.Parse(_clientEntryAddress)] },
            new TunnelOptions { Tun = _clientTun, BindUdp = p => Bind(_net, _clientPublic, p) });
        _client.Exit.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_clientExitKey.Bytes)}

            [Peer]
            PublicKey = {_exitKey.DerivePublicKey()}
            AllowedIPs = 0.0.0.0/0, ::/0
            Endpoint = {Endpoint(_exitRelay)}
            """);
        _client.Entry.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(_clientEntryKey.Bytes)}

            [Peer]
            PublicKey = {_entryKey.DerivePublicKey()}
            AllowedIPs = {_exitRelay}{host}
            Endpoint = {Endpoint(_entryRelay)}
            """);

        _nat = Bind(_net, _entryRelayNat, 40001);
        _forwardOut = new Thread(ForwardOut) { IsBackground = true };
        _forwardBack = new Thread(ForwardBack) { IsBackground = true };
        _forwardOut.Start();
        _forwardBack.Start();
        _entry.Start();
        _exit.Start();
        _client.Start();
    }

    public MultihopTunnel Client => _client;

    public Tunnel ExitRelay => _exit;

    public PublicKey ExitRelayKey => _exitKey.DerivePublicKey();

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
                _nat.SendBytes(b.Data, to);
            }
            b.Return();
        }
    }

    // Entry relay, world → tunnel: replies to the NAT address go back to the client's entry address.
    private void ForwardBack()
    {
        while (!_stop.IsCancellationRequested)
        {
            var buffer = _nat.ReceiveBytes(out var from);
            if (buffer is null) break;
            int n = buffer.Length;
            if (_natClient.IsNone || !_forwarderPool.TryRent(out var b)) continue;
            b.SetLength(n);
            buffer.AsSpan(0, n).CopyTo(b.Data);
            if (UdpEncapsulation.TryWrap(b, from, _natClient, 1, 0)) _entryTun.Inject(b.Data);
            b.Return();
        }
    }

    private byte[] ClientPacket(int length) =>
        _ipv6 ? TestPackets.Ipv6(_clientExitAddress, _server, length) : TestPackets.Ipv4(_clientExitAddress, _server, length);

    public void AssertRoundTrip()
    {
        var ping = ClientPacket(84);
        Assert.True(_clientTun.Inject(ping));
        Assert.True(_exitTun.TryTake(out var atExit, Wait), "the packet did not reach the exit relay's TUN");
        Assert.Equal(ping, atExit);

        var reply = _ipv6 ? TestPackets.Ipv6(_server, _clientExitAddress, 100) : TestPackets.Ipv4(_server, _clientExitAddress, 100);
        Assert.True(_exitTun.Inject(reply));
        Assert.True(_clientTun.TryTake(out var back, Wait), "the reply did not come back through both hops");
        Assert.Equal(reply, back);

        // The exit relay knows the client only by the entry relay's NAT address; the entry relay by its real one.
        Assert.Equal(new IPEndPoint(_entryRelayNat, 40001).ToString(), Assert.Single(_exit.GetPeerStats()).Endpoint);
        var clientEndpoint = IPEndPoint.Parse(Assert.Single(_entry.GetPeerStats()).Endpoint);
        Assert.Equal(_clientPublic, clientEndpoint.Address);
        // Each hop did its own handshake.
        Assert.NotNull(Assert.Single(_client.Exit.GetPeerStats()).LastHandshake);
        Assert.NotNull(Assert.Single(_client.Entry.GetPeerStats()).LastHandshake);
        Assert.Equal(0, _client.Link.Dropped);
        Assert.Equal(0, _client.Link.Invalid);
    }

    public void AssertManyInOrder(int count)
    {
        var sent = new List<byte[]>();
        for (int i = 0; i < count; i++)
        {
            var p = ClientPacket(100 + i % 1200);
            p[^1] = (byte)i;
            sent.Add(p);
            Assert.True(_clientTun.Inject(p));
        }
        var received = new List<byte[]>();
        while (received.Count < sent.Count && _exitTun.TryTake(out var p, Wait)) received.Add(p);
        Assert.Equal(sent, received);
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
}
