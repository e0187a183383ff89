using System.Net;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>
/// Idle means asleep (issue #16): with no timer due the control thread does not run, a timer armed earlier than its
/// sleep (here from the TUN reader) wakes it, and a crypto worker parks with no key in its cipher contexts.
/// </summary>
public sealed class IdleTunnelTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public void TheControlThreadSleepsUntilATimerIsArmedEarlierThenWakes()
    {
        var network = new InMemoryNetwork();
        var tun = new InMemoryTun("memIdle");
        long clockTicks = TimeSpan.FromSeconds(1000).Ticks;
        using var tunnel = new Tunnel(new TunnelOptions
        {
            Tun = tun,
            BindUdp = port => network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("198.51.100.1"), port))),
            MonotonicClock = () => TimeSpan.FromTicks(Volatile.Read(ref clockTicks)),
        });
        // The peer's endpoint has nobody behind it: nothing comes back, so only our own arming can wake the thread.
        tunnel.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(SecretKey.Generate().Bytes)}
            ListenPort = 51820

            [Peer]
            PublicKey = {SecretKey.Generate().DerivePublicKey()}
            AllowedIPs = 192.0.2.2/32
            Endpoint = 198.51.100.2:51821
            """);
        tunnel.HostClockPollInterval = TimeSpan.MaxValue; // sleep on the fake clock as on the real one
        tunnel.Start();
        Assert.True(SpinWait.SpinUntil(() => tunnel.IsUp && tunnel.TimerRuns >= 1, Wait));
        Thread.Sleep(200);
        long runs = tunnel.TimerRuns;
        Assert.Equal(TimeSpan.MaxValue, tunnel.TimerSleepUntil); // no deadline at all
        Thread.Sleep(600);
        Assert.Equal(runs, tunnel.TimerRuns); // asleep: no tick in 600 ms (the old loop ran every 100 ms)

        // A packet for the peer: no session, so the TUN reader's engine call sends an initiation and arms the
        // retransmit timer (REKEY_TIMEOUT + jitter): earlier than the sleep, so the control thread must wake for it.
        var now = TimeSpan.FromTicks(Volatile.Read(ref clockTicks));
        Assert.True(tun.Inject(Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 16, 1)));
        Assert.True(SpinWait.SpinUntil(() => tunnel.TimerSleepUntil <= now + Protocol.RekeyTimeout + TimeSpan.FromSeconds(1), Wait),
            $"still asleep until {tunnel.TimerSleepUntil} (now {now})");
        Assert.True(tunnel.TimerRuns > runs);
        Assert.True(tunnel.TimerSleepUntil >= now + Protocol.RekeyTimeout);
        Assert.Equal(1, tunnel.TimerQueueStats.Queued);
    }

    [Fact]
    public void ACryptoWorkerParksWithNoKeyInItsContexts()
    {
        var network = new InMemoryNetwork();
        var tunA = new InMemoryTun("memIa");
        var tunB = new InMemoryTun("memIb");
        var parks = new List<(bool Seal, Keypair? SealOwner, bool Open, Keypair? OpenOwner)>();
        int worked = 0;
        Tunnel Make(InMemoryTun tun, string address) => new(new TunnelOptions
        {
            Tun = tun,
            CryptoWorkers = 1,
            BindUdp = port => network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(address), port))),
        });
        using var a = Make(tunA, "198.51.100.1");
        using var b = Make(tunB, "198.51.100.2");
        var keyA = SecretKey.Generate();
        var keyB = SecretKey.Generate();
        b.BeforeCryptoWork = _ => Interlocked.Increment(ref worked);
        b.BeforeCryptoPark = () =>
        {
            if (Volatile.Read(ref worked) == 0) return;
            lock (parks) parks.Add(Keypair.ThreadKeysForTest);
        };
        TunnelPeers.ConfigureAndStart(a, b, keyA, keyB);

        // B's one worker opens the ping and seals the reply with the session's keys, then runs out of work.
        var ping = Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 16, 2);
        Assert.True(tunA.Inject(ping));
        Assert.True(tunB.TryTake(out var received, Wait));
        Assert.True(tunB.Inject(Icmp.ReplyTo(received)));
        Assert.True(tunA.TryTake(out _, Wait));
        Assert.True(SpinWait.SpinUntil(() => { lock (parks) return parks.Count >= 2; }, Wait), "B's worker never parked after working");

        // Every park after work left no key behind (so a keypair wiped while it sleeps has no copy there either).
        lock (parks) Assert.All(parks, p => Assert.Equal((false, (Keypair?)null, false, (Keypair?)null), p));
    }
}
