using VeilTun.Buffers;
using Xunit;

namespace VeilTun.Tests.Buffers;

/// <summary>Spliced payloads: packets that keep their payload in a shared source buffer (offload segments).</summary>
public class PacketBufferSpliceTests
{
    private const int Headroom = PacketBuffer.DefaultHeadroom;

    // A source buffer holding `payload` at its default offset, and `count` packets spliced onto consecutive
    // slices of it, each with a `headerLength`-byte header of its own (filled with the packet's index).
    private static (PacketBuffer Source, List<PacketBuffer> Packets) Cut(PacketPool large, PacketPool small, byte[] payload, int count, int headerLength)
    {
        Assert.True(large.TryRent(out var source));
        source.SetData(Headroom, payload.Length);
        payload.CopyTo(source.Data);
        int slice = payload.Length / count;
        var packets = new List<PacketBuffer>();
        for (int i = 0; i < count; i++)
        {
            Assert.True(small.TryRent(out var p));
            p.SetData(Headroom, headerLength + slice);
            p.DataInPlace[..headerLength].Fill((byte)i);
            p.DataInPlace[headerLength..].Fill(0xEE); // the gap: whatever was there
            p.Splice(source, source.Offset + i * slice, slice);
            packets.Add(p);
        }
        return (source, packets);
    }

    [Fact]
    public void DataReadsTheSplicedPayloadAndLetsGoOfTheSource()
    {
        var large = new PacketPool(8192, 4);
        var small = new PacketPool(2048, 16);
        var payload = new byte[4000];
        new Random(1).NextBytes(payload);
        var (source, packets) = Cut(large, small, payload, 4, 20);
        source.Return(); // the reader's reference; the packets keep it rented
        Assert.Equal(1, large.Outstanding);

        for (int i = 0; i < 4; i++)
        {
            var p = packets[i];
            Assert.True(p.IsSpliced);
            Assert.True(p.TryGetSplice(out var spliced, out int at));
            Assert.Equal(20, at);
            Assert.Equal(payload.AsSpan(i * 1000, 1000).ToArray(), spliced.ToArray());
            Assert.Equal(1020, p.Length);
            byte[] expected = [.. Enumerable.Repeat((byte)i, 20), .. payload.AsSpan(i * 1000, 1000).ToArray()];
            Assert.Equal(expected, p.Data.ToArray()); // materializes
            Assert.False(p.IsSpliced);
            Assert.Equal(i < 3 ? 1 : 0, large.Outstanding);
        }
        foreach (var p in packets) p.Return();
        Assert.Equal(0, small.Outstanding);
        Assert.Equal(0, large.Outstanding);
    }

    [Fact]
    public void PaddingAndHeadersLeaveTheSpliceWherePrependAndGrowthGo()
    {
        var large = new PacketPool(8192, 4);
        var small = new PacketPool(2048, 4);
        var payload = new byte[100];
        new Random(2).NextBytes(payload);
        var (source, packets) = Cut(large, small, payload, 1, 28);
        source.Return();
        var p = packets[0];
        p.ZeroExtend(140); // padding behind the payload's place
        p.Prepend(16).Fill(0x44); // a header in front
        Assert.True(p.IsSpliced);
        Assert.True(p.TryGetSplice(out _, out int at));
        Assert.Equal(16 + 28, at);
        byte[] expected = [.. Enumerable.Repeat((byte)0x44, 16), .. Enumerable.Repeat((byte)0, 28), .. payload, .. new byte[12]];
        Assert.Equal(expected, p.Data.ToArray());
        p.Return();
        Assert.Equal(0, large.Outstanding);
    }

    [Fact]
    public void CuttingIntoTheGapCopiesThePayloadInFirst()
    {
        var large = new PacketPool(8192, 4);
        var small = new PacketPool(2048, 4);
        var payload = Enumerable.Range(0, 200).Select(i => (byte)i).ToArray();
        var (source, packets) = Cut(large, small, payload, 1, 10);
        source.Return();
        var p = packets[0];
        p.SetLength(110); // shorter than header + payload: the payload must be in place to be cut
        Assert.False(p.IsSpliced);
        Assert.Equal(0, large.Outstanding);
        Assert.Equal(payload.AsSpan(0, 100).ToArray(), p.Data[10..].ToArray());
        p.Return();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ASourceReturnsOnceAfterTheLastOfItsHoldersInAnyOrder(int seed)
    {
        var rng = new Random(seed);
        var large = new PacketPool(65536, 8);
        var small = new PacketPool(2048, 256);
        for (int round = 0; round < 200; round++)
        {
            int count = rng.Next(1, 46);
            var (source, packets) = Cut(large, small, new byte[count * 100], count, 40);
            var holders = new List<PacketBuffer>(packets) { source };
            // Returned in a random order; the source must stay rented until all are back.
            foreach (var h in holders.OrderBy(_ => rng.Next()))
            {
                Assert.Equal(1, large.Outstanding);
                if (rng.Next(4) == 0 && h != source) _ = h.Data; // some are read (materialized) first
                h.Return();
            }
            Assert.Equal(0, large.Outstanding);
            Assert.Equal(0, small.Outstanding);
        }
        Assert.Equal(1, large.Created); // reused, never leaked
        Assert.True(large.TryRent(out var b));
        b.Return();
        Assert.Throws<InvalidOperationException>(() => b.Return()); // a double return is still caught
    }

    [Fact]
    public void HoldersReturningOnManyThreadsReturnTheSourceExactlyOnce()
    {
        var large = new PacketPool(65536, 64);
        var small = new PacketPool(2048, 255); // no per-thread magazines: these threads are new every round
        for (int round = 0; round < 300; round++)
        {
            var (source, packets) = Cut(large, small, new byte[44 * 100], 44, 40);
            var holders = new List<PacketBuffer>(packets) { source };
            var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
            {
                for (int i = t; i < holders.Count; i += 4) holders[i].Return();
            })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Assert.Equal(0, large.Outstanding);
            Assert.Equal(0, small.Outstanding);
        }
    }
}
