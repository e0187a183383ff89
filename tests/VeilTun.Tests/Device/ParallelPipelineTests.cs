using System.Buffers.Binary;
using System.Net;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>The parallel crypto pipeline's machinery: order, buffer accounting, and back-pressure by dropping.</summary>
public sealed class ParallelPipelineTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private sealed class Pair : IDisposable
    {
        public readonly InMemoryNetwork Network = new();
        public readonly InMemoryTun TunA, TunB;
        public readonly Tunnel A, B;

        public Pair(int workers, int maxBuffers = 1024, int tunCapacity = 8192)
        {
            TunA = new InMemoryTun("pA", capacity: tunCapacity);
            TunB = new InMemoryTun("pB", capacity: tunCapacity);
            using var ka = SecretKey.Generate();
            using var kb = SecretKey.Generate();
            A = Make(TunA, "198.51.100.1", workers, maxBuffers);
            B = Make(TunB, "198.51.100.2", workers, maxBuffers);
            A.Configure($"[Interface]\nPrivateKey = {Convert.ToBase64String(ka.Bytes)}\nListenPort = 1\n[Peer]\nPublicKey = {kb.DerivePublicKey()}\nAllowedIPs = 192.0.2.2/32\nEndpoint = 198.51.100.2:2\n");
            B.Configure($"[Interface]\nPrivateKey = {Convert.ToBase64String(kb.Bytes)}\nListenPort = 2\n[Peer]\nPublicKey = {ka.DerivePublicKey()}\nAllowedIPs = 192.0.2.1/32\n");
            A.Start();
            B.Start();
        }

        private Tunnel Make(InMemoryTun tun, string address, int workers, int maxBuffers) => new(new TunnelOptions
        {
            Tun = tun,
            CryptoWorkers = workers,
            MaxBuffers = maxBuffers,
            MaxSmallBuffers = maxBuffers,
            BindUdp = port => Network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(address), port))),
        });

        public void Dispose()
        {
            A.Dispose();
            B.Dispose();
        }
    }

    private static byte[] Numbered(int seq, int length)
    {
        var p = TestPackets.Ipv4("192.0.2.1", "192.0.2.2", length);
        BinaryPrimitives.WriteInt32BigEndian(p.AsSpan(20), seq);
        return p;
    }

    private static int SeqOf(byte[] p) => BinaryPrimitives.ReadInt32BigEndian(p.AsSpan(20));

    [Fact]
    public void TrimMemoryDropsTheBatchesABacklogMade()
    {
        using var pair = new Pair(workers: 1);
        Assert.True(pair.TunA.Inject(Numbered(-1, 100)));
        Assert.True(pair.TunB.TryTake(out _, Wait)); // handshake done
        using var gate = new ManualResetEventSlim(false);
        pair.A.BeforeCryptoWork = _ => gate.Wait(Wait);
        const int count = 2000;
        for (int i = 0; i < count; i++) Assert.True(pair.TunA.Inject(Numbered(i, 100)));
        Thread.Sleep(500); // the reader batches them behind the stalled worker
        gate.Set();
        int got = 0;
        while (got < count && pair.TunB.TryTake(out _, TimeSpan.FromSeconds(5))) got++;
        int spares = pair.A.CryptoSpareBatches;
        Assert.True(spares >= 8, $"the backlog should have left spare batches: {spares}");
        pair.A.TrimMemory(); // learns what lies idle
        pair.A.TrimMemory(); // drops it
        Assert.True(pair.A.CryptoSpareBatches <= 2, $"spares after trimming: {pair.A.CryptoSpareBatches} (were {spares})");
    }

    [Fact]
    public void OnePeersPacketsArriveInOrderWhateverTheWorkersDo()
    {
        using var pair = new Pair(workers: 4);
        var rnd = new ThreadLocal<Random>(() => new Random(Environment.CurrentManagedThreadId));
        // Random delays per batch make workers finish out of order; the lanes must restore it.
        pair.A.BeforeCryptoWork = _ => { if (rnd.Value!.Next(3) == 0) Thread.Sleep(rnd.Value.Next(0, 3)); };
        pair.B.BeforeCryptoWork = _ => { if (rnd.Value!.Next(3) == 0) Thread.Sleep(rnd.Value.Next(0, 3)); };

        Assert.True(pair.TunA.Inject(Numbered(-1, 100)));
        Assert.True(pair.TunB.TryTake(out _, Wait)); // handshake done

        const int count = 3000;
        var received = new List<int>(count);
        var reader = new Thread(() =>
        {
            while (received.Count < count && pair.TunB.TryTake(out var p, Wait)) received.Add(SeqOf(p));
        });
        reader.Start();
        // Paced so nothing is dropped at ingress for lack of buffers (that is counted, and tested below).
        for (int i = 0; i < count; i++)
        {
            var deadline = DateTime.UtcNow + Wait;
            while (i - Volatile.Read(ref received).Count > 256 && DateTime.UtcNow < deadline) Thread.Sleep(1);
            while (!pair.TunA.Inject(Numbered(i, 60 + i % 1300))) Thread.Yield();
        }
        Assert.True(reader.Join(Wait * 2));
        Assert.True(count == received.Count, $"received {received.Count}; drops A: {string.Join(",", pair.A.GetDropCounts())} B: {string.Join(",", pair.B.GetDropCounts())}");
        Assert.Equal(Enumerable.Range(0, count), received); // in order, none lost, none duplicated
    }

    [Fact]
    public void EveryBufferReturnsToThePool()
    {
        var pair = new Pair(workers: 3);
        Assert.True(pair.TunA.Inject(Numbered(0, 200)));
        Assert.True(pair.TunB.TryTake(out _, Wait));
        for (int i = 1; i <= 500; i++) pair.TunA.Inject(Numbered(i, 1000));
        pair.Dispose(); // mid-flight: queued batches must be returned too
        Assert.Equal(0, pair.A.OutstandingBuffers);
        Assert.Equal(0, pair.B.OutstandingBuffers);
    }

    [Fact]
    public void SlowWorkersMakeReadersDropAndCountNotBlock()
    {
        using var pair = new Pair(workers: 1, maxBuffers: 16);
        Assert.True(pair.TunA.Inject(Numbered(0, 200)));
        Assert.True(pair.TunB.TryTake(out _, Wait));
        var slow = new ManualResetEventSlim(false);
        pair.A.BeforeCryptoWork = _ => slow.Wait(TimeSpan.FromSeconds(5));
        for (int i = 1; i <= 2000; i++) pair.TunA.Inject(Numbered(i, 500));
        // The TUN reader keeps draining (it never blocks on the workers): the injected queue empties...
        Assert.True(SpinWait.SpinUntil(() => pair.A.GetDropCounts().GetValueOrDefault(DropReason.PoolExhausted) > 0, Wait));
        slow.Set();
        pair.A.BeforeCryptoWork = null;
        // ...and once the workers catch up, traffic flows again.
        Assert.True(SpinWait.SpinUntil(() => { pair.TunA.Inject(Numbered(99999, 100)); return pair.TunB.TryTake(out var p, TimeSpan.FromMilliseconds(50)) && SeqOf(p) >= 0; }, Wait));
        Assert.True(pair.A.GetDropCounts()[DropReason.PoolExhausted] > 0);
    }

    [Fact]
    public void RemovedPeersLeaveNoCryptoLaneBehind()
    {
        using var pair = new Pair(workers: 2);
        for (int i = 0; i < 50; i++) Assert.True(pair.TunA.Inject(Numbered(i, 300)));
        for (int i = 0; i < 50; i++) Assert.True(pair.TunB.TryTake(out _, Wait));
        Assert.Equal(1, pair.A.CryptoLanes); // the peer's lane, created by its traffic
        Assert.Equal(1, pair.B.CryptoLanes);

        Assert.Null(pair.A.Configure(new VeilTun.Uapi.SetRequest { ReplacePeers = true }));
        Assert.Null(pair.B.Configure(new VeilTun.Uapi.SetRequest { ReplacePeers = true }));

        Assert.True(SpinWait.SpinUntil(() => pair.A.CryptoLanes == 0 && pair.B.CryptoLanes == 0, Wait),
            $"lanes kept: A {pair.A.CryptoLanes}, B {pair.B.CryptoLanes}");
    }
}
