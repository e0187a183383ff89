using VeilTun.Buffers;
using Xunit;

namespace VeilTun.Tests.Buffers;

/// <summary>The bounded pool, with and without per-thread magazines.</summary>
public class PacketPoolTests
{
    [Theory]
    [InlineData(4)] // shared stack only
    [InlineData(1024)] // with magazines
    public void ThePoolNeverCreatesMoreThanItsBoundAndCountsFailures(int max)
    {
        var pool = new PacketPool(256, max);
        var rented = new List<PacketBuffer>();
        while (pool.TryRent(out var b)) rented.Add(b);
        Assert.Equal(max, rented.Count);
        Assert.Equal(max, pool.Outstanding);
        Assert.Equal(1, pool.RentFailures);
        foreach (var b in rented) b.Return();
        Assert.Equal(0, pool.Outstanding);
        Assert.Throws<InvalidOperationException>(() => rented[0].Return());
    }

    [Fact]
    public void BuffersCrossingThreadsAreNeitherLostNorHandedOutTwice()
    {
        // The TUN/UDP readers rent, the crypto workers return: four renters, four returners, 200k buffers.
        var pool = new PacketPool(256, 1024);
        var queue = new System.Collections.Concurrent.BlockingCollection<PacketBuffer>(4096);
        var inUse = new System.Collections.Concurrent.ConcurrentDictionary<PacketBuffer, byte>();
        int duplicates = 0, failures = 0;
        const int PerRenter = 50_000;
        var renters = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            for (int i = 0; i < PerRenter; i++)
            {
                PacketBuffer b;
                while (!pool.TryRent(out b)) { Interlocked.Increment(ref failures); Thread.Yield(); }
                if (!inUse.TryAdd(b, 0)) Interlocked.Increment(ref duplicates);
                queue.Add(b);
            }
        })).ToArray();
        var returners = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            foreach (var b in queue.GetConsumingEnumerable())
            {
                inUse.TryRemove(b, out byte _);
                b.Return();
            }
        })).ToArray();
        foreach (var t in renters.Concat(returners)) t.Start();
        foreach (var t in renters) Assert.True(t.Join(TimeSpan.FromSeconds(60)));
        queue.CompleteAdding();
        foreach (var t in returners) Assert.True(t.Join(TimeSpan.FromSeconds(60)));

        Assert.Equal(0, duplicates);
        Assert.Equal(0, pool.Outstanding);
        // Every rented buffer came back: renting the whole bound again from one thread succeeds up to the bound
        // minus what sits in the other (finished) threads' magazines, and never beyond the bound.
        var again = new List<PacketBuffer>();
        while (pool.TryRent(out var b)) again.Add(b);
        Assert.InRange(again.Count, 1024 - 8 * PacketPool.MagazineSize, 1024);
        foreach (var b in again) b.Return();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AThreadThatEndsHandsItsMagazineBackOnlyWhenItReleasesIt(bool release)
    {
        var pool = new PacketPool(256, 256); // the smallest pool with magazines
        for (int round = 0; round < 20; round++)
        {
            // A short-lived thread (a UDP reader replaced by a rebind) rents and returns a few buffers.
            var t = new Thread(() =>
            {
                var held = new List<PacketBuffer>();
                for (int i = 0; i < 12 && pool.TryRent(out var b); i++) held.Add(b); // no asserts off the test thread
                foreach (var b in held) b.Return();
                if (release) PacketPool.ReleaseThreadMagazines();
            });
            t.Start();
            t.Join();
        }
        Assert.Equal(0, pool.Outstanding);
        // Can this thread still get every buffer the pool may create?
        var rented = new List<PacketBuffer>();
        while (pool.TryRent(out var b)) rented.Add(b);
        if (release) Assert.Equal(256, rented.Count);
        else Assert.True(rented.Count < 256, "dead threads' magazines were expected to strand buffers");
        foreach (var b in rented) b.Return();
    }

    [Fact]
    public void TrimReleasesOnlyWhatLayIdleSinceThePreviousTrim()
    {
        var pool = new PacketPool(256, 100); // under 256 buffers: no magazines, every buffer on the shared stack
        var rented = new List<PacketBuffer>();
        for (int i = 0; i < 50; i++)
        {
            Assert.True(pool.TryRent(out var b));
            rented.Add(b);
        }
        foreach (var b in rented) b.Return();
        rented.Clear();
        Assert.Equal(0, pool.Trim()); // all 50 were in use during this period
        Assert.Equal(50, pool.Created);

        for (int i = 0; i < 10; i++)
        {
            Assert.True(pool.TryRent(out var b));
            rented.Add(b);
        }
        Assert.Equal(40, pool.Trim()); // 40 never left the stack; 10 are out
        Assert.Equal(10, pool.Created);
        Assert.Equal(10, pool.Outstanding);
        foreach (var b in rented) b.Return();
        Assert.Equal(0, pool.Outstanding);
        Assert.Equal(0, pool.Trim()); // the 10 came back during this period: the low-water mark was 0
        Assert.Equal(10, pool.Trim()); // a whole period idle
        Assert.Equal(0, pool.Created);

        for (int i = 0; i < 100; i++) Assert.True(pool.TryRent(out _)); // the bound still holds after trimming
        Assert.False(pool.TryRent(out _));
    }
}
