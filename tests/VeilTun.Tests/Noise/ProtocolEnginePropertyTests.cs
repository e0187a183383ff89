using CsCheck;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using Xunit;

namespace VeilTun.Tests.Noise;

/// <summary>Garbage in never throws and never changes a session; random event orders keep the invariants.</summary>
public class ProtocolEnginePropertyTests
{
    private static TestPair Established(int seed)
    {
        var pair = new TestPair(seed);
        pair.A.Send(pair.PacketAtoB());
        pair.Pump();
        pair.B.Send(pair.PacketBtoA());
        pair.Pump();
        return pair;
    }

    private static void AssertSessionsIntact(TestPair pair, Keypair? a, Keypair? b)
    {
        Assert.Same(a, pair.PeerOfA.Keypairs.Current);
        Assert.Same(b, pair.PeerOfB.Keypairs.Current);
        Assert.Equal(TestPair.AddressA, pair.PeerOfB.Endpoint);
        Assert.Null(pair.B.Engine.LastInternalError); // first: a failure then shows the exception
        Assert.Equal(0, pair.B.Engine.GetDropCount(DropReason.Internal));
    }

    private static void AssertTrafficStillFlows(TestPair pair)
    {
        int before = pair.B.Delivered.Count;
        pair.A.Send(pair.PacketAtoB(300));
        pair.Pump();
        Assert.Equal(before + 1, pair.B.Delivered.Count);
    }

    [Fact]
    public void RandomDatagramsNeverThrowNorChangeASession()
    {
        var pair = Established(11);
        var (ka, kb) = (pair.PeerOfA.Keypairs.Current, pair.PeerOfB.Keypairs.Current);
        // Random bytes, with a valid-looking header half of the time so every parser path is reached.
        var gen = Gen.Select(Gen.Byte.Array[0, 200], Gen.Int[0, 4], Gen.Bool)
            .Select((bytes, type, withHeader) =>
            {
                if (withHeader && bytes.Length >= 4) { bytes[0] = (byte)type; bytes[1] = bytes[2] = bytes[3] = 0; }
                return bytes;
            });
        gen.Sample(bytes =>
        {
            pair.B.Receive(bytes, TestPair.AddressA);
            pair.B.Outbox.Clear();
        }, iter: 3000, seed: "0N0XIzNsQ0O2");
        Assert.Empty(pair.B.Delivered.Skip(1));
        AssertSessionsIntact(pair, ka, kb);
        AssertTrafficStillFlows(pair);
        Assert.Equal(pair.B.Engine.Peers.Sum(p => p.StagedCount), pair.B.Pool.Outstanding);
    }

    [Fact]
    public void MutatedRealMessagesNeverThrowNorChangeASession()
    {
        var pair = Established(12);
        var (ka, kb) = (pair.PeerOfA.Keypairs.Current, pair.PeerOfB.Keypairs.Current);
        var captured = pair.A.AllSent.Select(d => d.Bytes).ToArray(); // initiation, data
        var gen = Gen.Select(Gen.Int[0, captured.Length - 1], Gen.Int[0, 2], Gen.Int[0, 10_000], Gen.Byte[1, 255]);
        gen.Sample((which, kind, position, mask) =>
        {
            var m = (byte[])captured[which].Clone();
            switch (kind)
            {
                case 0: m[position % m.Length] ^= mask; break;                 // bit flips
                case 1: m = m[..(position % m.Length)]; break;                 // truncation
                default: m = [.. m, .. new byte[1 + position % 64]]; break;    // trailing garbage
            }
            pair.B.Receive(m, TestPair.AddressA);
            pair.B.Outbox.Clear();
        }, iter: 2000, seed: "0N0XIzNsQ0O3");
        AssertSessionsIntact(pair, ka, kb);
        AssertTrafficStillFlows(pair);
    }

    private static string Describe(TestPair pair)
    {
        string D(TestNode n) => $"{n.Name}: hs={n.Engine.Peers.Single().Handshake.State} cur={n.Engine.Peers.Single().Keypairs.Current?.LocalIndex} " +
            $"next={n.Engine.Peers.Single().Keypairs.Next?.LocalIndex} staged={n.Engine.Peers.Single().StagedCount} ep={n.Engine.Peers.Single().Endpoint} " +
            $"drops=[{string.Join(",", Enum.GetValues<DropReason>().Where(r => n.Engine.GetDropCount(r) > 0).Select(r => r + ":" + n.Engine.GetDropCount(r)))}] " +
            $"sent=[{string.Join(",", n.AllSent.TakeLast(12).Select(d => d.Type + "/" + d.Bytes.Length))}] attempts={n.Engine.Peers.Single().Timers.HandshakeAttempts} " +
            $"retx={n.Engine.Peers.Single().Timers.IsRetransmitPending}";
        return D(pair.A) + " | " + D(pair.B);
    }

    [Fact]
    public void RandomEventOrdersKeepInvariantsAndTheTunnelHeals()
    {
        // Each sample is a whole random scenario: sends either way, time jumps up to 200 s, lossy periods,
        // duplicated deliveries, restarts. Afterwards the wire is healed and traffic must flow again.
        var op = Gen.Int[0, 6];
        Gen.Select(op.Array[5, 60], Gen.Int[0, 1000]).Sample((ops, seed) =>
        {
            var pair = new TestPair(seed);
            var rnd = new Random(seed);
            foreach (var o in ops)
            {
                switch (o)
                {
                    case 0: pair.A.Send(pair.PacketAtoB(rnd.Next(20, 1420))); break;
                    case 1: pair.B.Send(pair.PacketBtoA(rnd.Next(20, 1420))); break;
                    case 2: pair.Run(TimeSpan.FromSeconds(rnd.Next(1, 200)), TimeSpan.FromSeconds(1)); break;
                    case 3: pair.Filter = _ => rnd.Next(3) != 0; break;   // lossy wire
                    case 4: pair.Filter = _ => true; break;
                    case 5: // duplicate everything in flight
                        foreach (var n in new[] { pair.A, pair.B }) n.Outbox.AddRange(n.Outbox.ToArray());
                        break;
                    default:
                        pair.B.Restart(rnd.Next());
                        TestPair.Configure(pair.B, pair.A, TestPair.AddressA, "192.0.2.1", "2001:db8:2::1", null);
                        pair.B.Engine.Up(pair.Clock.Now);
                        break;
                }
                pair.Pump();
                foreach (var n in new[] { pair.A, pair.B })
                {
                    Assert.Null(n.Engine.LastInternalError);
                    foreach (var peer in n.Engine.Peers)
                    {
                        Assert.InRange(peer.StagedCount, 0, Protocol.MaxStagedPackets);
                        // A keypair in a slot is registered under its index, and the slots never share one.
                        var slots = new[] { peer.Keypairs.Previous, peer.Keypairs.Current, peer.Keypairs.Next }.OfType<Keypair>().ToArray();
                        Assert.Equal(slots.Length, slots.Select(k => k.LocalIndex).Distinct().Count());
                        foreach (var k in slots)
                            Assert.True(n.Engine.Indices.TryLookup(k.LocalIndex, out var e) && ReferenceEquals(e.Keypair, k));
                    }
                    Assert.Equal(n.Engine.Peers.Sum(p => p.StagedCount), n.Pool.Outstanding);
                }
            }
            // Heal: both directions must work again within a few rekey timeouts.
            pair.Filter = _ => true;
            int before = pair.B.Delivered.Count;
            for (int i = 0; i < 40 && pair.B.Delivered.Count == before; i++)
            {
                pair.A.Send(pair.PacketAtoB());
                pair.Run(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(500));
            }
            Assert.True(pair.B.Delivered.Count > before, "A→B did not heal: " + Describe(pair));
        }, iter: 60, seed: "0N0XIzNsQ0O4");
    }
}
