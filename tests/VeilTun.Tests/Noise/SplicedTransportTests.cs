using VeilTun.Buffers;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using Xunit;

namespace VeilTun.Tests.Noise;

/// <summary>
/// Sealing and opening transport messages whose payload is spliced (lies in another buffer: a TSO super-packet on
/// send, a UDP GRO receive on receive) gives the very bytes the in-place path gives, and lets go of the source.
/// </summary>
public class SplicedTransportTests
{
    private const int Headroom = PacketBuffer.DefaultHeadroom;

    private static (Keypair Sender, Keypair Receiver) Keypairs(int seed)
    {
        var rng = new Random(seed);
        var k1 = new byte[32];
        var k2 = new byte[32];
        rng.NextBytes(k1);
        rng.NextBytes(k2);
        return (new Keypair(k1, k2, true, TimeSpan.Zero, 1, 2), new Keypair(k2, k1, false, TimeSpan.Zero, 2, 1));
    }

    public static TheoryData<int> Seeds => new() { 1, 2, 3, 4 };

    [Theory]
    [MemberData(nameof(Seeds))]
    public void ASplicedSegmentSealsToTheSameMessageAsACopiedOne(int seed)
    {
        var rng = new Random(seed);
        var (sender, _) = Keypairs(seed);
        var large = new PacketPool(65536 + 256, 2);
        var small = new PacketPool(2048, 8);
        for (int i = 0; i < 300; i++)
        {
            int mtu = rng.Next(2) == 0 ? 1420 : rng.Next(1280, 1500);
            int headerLength = rng.Next(20, 61);
            int payloadLength = rng.Next(1, mtu - headerLength + 1);
            var packet = new byte[headerLength + payloadLength];
            rng.NextBytes(packet);
            ulong nonce = (ulong)rng.NextInt64();

            var copied = new PacketBuffer(2048);
            copied.SetData(Headroom, packet.Length);
            packet.CopyTo(copied.Data);
            copied.Raw[(Headroom + packet.Length)..].Fill(0xCC); // tailroom junk must not leak into padding
            ProtocolEngine.Encrypt(copied, sender, nonce, mtu);

            Assert.True(large.TryRent(out var source));
            int at = rng.Next(0, 60000);
            source.SetData(Headroom + at, payloadLength);
            packet.AsSpan(headerLength).CopyTo(source.Data);
            Assert.True(small.TryRent(out var spliced));
            spliced.SetData(Headroom, packet.Length);
            packet.AsSpan(0, headerLength).CopyTo(spliced.DataInPlace);
            spliced.Raw[(Headroom + headerLength)..].Fill(0xCC); // the gap and the tailroom: junk
            spliced.Splice(source, source.Offset, payloadLength);
            source.Return(); // the reader's reference
            var before = source.Data.ToArray();

            ProtocolEngine.Encrypt(spliced, sender, nonce, mtu);
            Assert.False(spliced.IsSpliced);
            Assert.Equal(copied.Data.ToArray(), spliced.Data.ToArray());
            Assert.Equal(0, large.Outstanding); // the super-packet went back with its last segment's seal
            Assert.Equal(before, source.DataInPlace.ToArray()); // and was only read
            spliced.Return();
        }
        Assert.Equal(0, small.Outstanding);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void ASplicedDatagramOpensIntoItsOwnBufferAsInPlace(int seed)
    {
        var rng = new Random(seed);
        var (sender, receiver) = Keypairs(seed);
        var large = new PacketPool(65536 + 256, 2);
        var small = new PacketPool(2048, 8);
        for (int i = 0; i < 300; i++)
        {
            int length = rng.Next(0, 1421);
            var inner = new byte[length];
            rng.NextBytes(inner);
            ulong nonce = (ulong)rng.Next(0, 1 << 20);
            var sealedMessage = new PacketBuffer(2048);
            sealedMessage.SetData(Headroom, length);
            inner.CopyTo(sealedMessage.Data);
            ProtocolEngine.Encrypt(sealedMessage, sender, nonce, 1420);
            byte[] message = sealedMessage.Data.ToArray();
            bool corrupt = rng.Next(8) == 0;
            if (corrupt) message[rng.Next(16, message.Length)] ^= (byte)(1 << rng.Next(8));

            var inPlace = new PacketBuffer(2048);
            inPlace.SetData(Headroom, message.Length);
            message.CopyTo(inPlace.Data);
            bool inPlaceOk = ProtocolEngine.TryOpenTransport(inPlace, receiver, nonce);
            Assert.Equal(!corrupt, inPlaceOk);

            // A GRO receive: datagrams back to back in a large buffer; this one at a random place.
            Assert.True(large.TryRent(out var receive));
            int at = rng.Next(0, 60000);
            receive.SetData(Headroom + at, message.Length);
            message.CopyTo(receive.Data);
            Assert.True(small.TryRent(out var datagram));
            datagram.SetData(Headroom, message.Length);
            message.AsSpan(0, 16).CopyTo(datagram.DataInPlace);
            datagram.Splice(receive, receive.Offset + 16, message.Length - 16);
            receive.Return();

            bool ok = ProtocolEngine.TryOpenTransport(datagram, receiver, nonce);
            Assert.Equal(inPlaceOk, ok);
            Assert.False(datagram.IsSpliced);
            Assert.Equal(0, large.Outstanding);
            if (ok)
            {
                Assert.Equal(inPlace.Data[..^16].ToArray(), datagram.Data[..^16].ToArray());
                Assert.Equal(inner, datagram.Data.Slice(16, length).ToArray());
            }
            else
            {
                Assert.True(datagram.Data[16..].IndexOfAnyExcept((byte)0) < 0); // nothing unauthenticated is left
            }
            datagram.Return();
        }
        Assert.Equal(0, small.Outstanding);
    }

    // A segment as the TUN reader makes it: headers (here the first 20 bytes) in a buffer of the node's pool, the
    // rest spliced from `source`'s buffer.
    private static PacketBuffer SplicedSegment(TestNode node, PacketPool sourcePool, byte[] packet)
    {
        Assert.True(sourcePool.TryRent(out var source));
        source.SetData(Headroom + 1000, packet.Length - 20);
        packet.AsSpan(20).CopyTo(source.Data);
        Assert.True(node.Pool.TryRent(out var segment));
        segment.SetData(Headroom, packet.Length);
        packet.AsSpan(0, 20).CopyTo(segment.DataInPlace);
        segment.Splice(source, source.Offset, packet.Length - 20);
        source.Return();
        return segment;
    }

    [Fact]
    public void SplicedPacketsWaitingForAHandshakeLetGoOfTheirSuperPacketAndArriveIntact()
    {
        var pair = new TestPair();
        var sources = new PacketPool(65536 + 256, 64);
        var sent = new List<byte[]>();
        // No session yet: the packets are staged, and must not keep super-packet buffers rented meanwhile.
        for (int i = 0; i < 10; i++)
        {
            byte[] packet = pair.PacketAtoB(100 + 37 * i);
            sent.Add(packet);
            pair.A.Engine.SendPacket(SplicedSegment(pair.A, sources, packet), pair.Clock.Now);
            Assert.Equal(0, sources.Outstanding);
        }
        Assert.Equal(10, pair.PeerOfA.StagedCount);
        pair.Pump();
        // With a session: sealed from where they lie, as the fast path does.
        for (int i = 0; i < 10; i++)
        {
            byte[] packet = pair.PacketAtoB(1400 - 53 * i);
            sent.Add(packet);
            pair.A.Engine.SendPacket(SplicedSegment(pair.A, sources, packet), pair.Clock.Now);
        }
        pair.Pump();
        Assert.Equal(0, sources.Outstanding);
        Assert.Equal(sent, pair.B.Delivered);
        Assert.Equal(0, pair.A.Pool.Outstanding);
    }
}
