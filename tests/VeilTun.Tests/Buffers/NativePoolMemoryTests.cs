using VeilTun.Buffers;
using Xunit;

namespace VeilTun.Tests.Buffers;

/// <summary>Measures memory residency: runs alone, after the parallel tests.</summary>
[CollectionDefinition(nameof(RssMeasuring), DisableParallelization = true)]
public sealed class RssMeasuring;

/// <summary>
/// Pool buffers live in native memory, so what <see cref="PacketPool.Trim"/> releases goes back to the OS (with
/// pinned-heap arrays it stayed in the process as holes: issue #14, churn part (a)).
/// </summary>
[Collection(nameof(RssMeasuring))]
public class NativePoolMemoryTests
{
    [Theory]
    [InlineData(BufferPools.LargeBufferSize, 512)] // a mapping each: 32 MiB
    [InlineData(BufferPools.SmallBufferSize, 8192)] // slab chunks: 16 MiB
    public void ATrimmedPoolGivesItsMemoryBackToTheOs(int size, int count)
    {
        // Residency is asked of the kernel for exactly the pool's pages (mincore): the process's RSS also moves with
        // the GC and other threads, which made an RSS-based version of this test fail now and then under load.
        var pool = new PacketPool(size, count);
        long grown = (long)size * count;
        var rented = new List<PacketBuffer>(count);
        while (pool.TryRent(out var b))
        {
            b.Raw.Fill(0xAB); // touch every page
            rented.Add(b);
        }
        Assert.Equal(count, rented.Count);
        var ranges = rented.Select(b => (Address: b.NativeMemory.AddressForTests, Length: (long)b.Capacity)).ToList();
        long Resident() => ranges.Sum(r => Math.Max(0, global::VeilTun.Interop.Mman.ResidentBytes(r.Address, r.Length)));
        foreach (var b in rented) b.Return();
        PacketPool.ReleaseThreadMagazines(); // this thread's magazine goes back to the shared stack: Trim sees all
        long full = Resident();
        Assert.True(full >= grown, $"the buffers should be resident: {full} B of {grown} B");
        Assert.True(pool.RetainedBytes >= grown);

        Assert.Equal(0, pool.Trim()); // the first trim only learns what lies idle
        Assert.Equal(count, pool.Trim());
        long trimmed = Resident();

        Assert.Equal(0, pool.Created);
        Assert.Equal(0, pool.RetainedBytes);
        Assert.True(trimmed <= grown / 100, $"trim should give the memory back: {full} B resident before, {trimmed} B after");
        // Released buffers are dead: no access reaches the unmapped memory.
        Assert.Equal(0, rented[0].Capacity);
        Assert.Throws<ArgumentOutOfRangeException>(() => rented[0].ReadArea());

        // The pool grows again on demand.
        Assert.True(pool.TryRent(out var again));
        Assert.Equal(size, again.Capacity);
        again.Raw.Fill(1);
        again.Return();
        GC.KeepAlive(pool);
    }

    [Fact]
    public void SmallBuffersGiveBackEveryPageNoLongerShared()
    {
        // 2 KiB chunks, two to a 4 KiB page: while one of each pair is rented no page can go; once all are back
        // and trimmed, the slabs are unmapped.
        var pool = new PacketPool(BufferPools.SmallBufferSize, 128); // under 256: no magazines
        var rented = new List<PacketBuffer>();
        while (pool.TryRent(out var b))
        {
            b.Raw.Fill(0xCD);
            rented.Add(b);
        }
        long full = pool.RetainedBytes;
        Assert.Equal(128L * 2048, full);
        // Return the buffers whose page-mate stays rented (the odd ones of each page).
        var kept = new List<PacketBuffer>();
        for (int i = 0; i < rented.Count; i++)
        {
            if (i % 2 == 1) rented[i].Return();
            else kept.Add(rented[i]);
        }
        pool.Trim();
        Assert.Equal(64, pool.Trim());
        Assert.Equal(full, pool.RetainedBytes); // every page still holds a rented buffer
        foreach (var b in kept)
        {
            Assert.Equal(0xCD, b.Raw[0]); // untouched by the release of its neighbour
            b.Return();
        }
        pool.Trim();
        Assert.Equal(64, pool.Trim());
        Assert.Equal(0, pool.RetainedBytes);
    }

    [Fact]
    public void ADisposedPoolReleasesFreeBuffersAtOnceAndRentedOnesWhenReturned()
    {
        var pool = new PacketPool(BufferPools.LargeBufferSize, 4);
        Assert.True(pool.TryRent(out var a));
        Assert.True(pool.TryRent(out var b));
        a.Raw.Fill(1);
        a.Return();
        pool.Dispose();
        Assert.Equal(0, a.Capacity); // free: released
        Assert.True(b.Capacity >= BufferPools.LargeBufferSize); // rented: still usable
        b.Raw.Fill(2);
        Assert.False(pool.TryRent(out _));
        b.Return();
        Assert.Equal(0, b.Capacity);
        Assert.Equal(0, pool.RetainedBytes);
        pool.Dispose();
    }

    [Fact]
    public void UnpooledBuffersAndMemoryViewsWork()
    {
        var b = new PacketBuffer(4096);
        b.ReadArea()[..4].Fill(7);
        b.SetData(PacketBuffer.DefaultHeadroom, 4);
        var memory = b.DataMemory;
        Assert.Equal(new byte[] { 7, 7, 7, 7 }, memory.ToArray());
        using var pin = memory.Pin();
        Assert.Equal(4096, b.Capacity);
        Assert.Equal(b.RawMemory.Length, b.Raw.Length);
    }
}
