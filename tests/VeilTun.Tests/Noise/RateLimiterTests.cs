using System.Buffers.Binary;
using System.Net;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using Xunit;

namespace VeilTun.Tests.Noise;

public sealed class RateLimiterTests
{
    private const long Ms = 1_000_000;
    private const long Second = 1_000_000_000;

    private static byte[] Address(string text) => IPAddress.Parse(text).GetAddressBytes();

    // The kernel selftest varies the IPv4 source address, and the first 32-bit word of the IPv6 one (a different /64).
    private static byte[] Source(bool ipv6, uint n)
    {
        byte[] bytes = ipv6 ? Address("2001:db8::1") : Address("192.0.2.1");
        BinaryPrimitives.WriteUInt32BigEndian(bytes, BinaryPrimitives.ReadUInt32BigEndian(bytes) + n);
        return bytes;
    }

    [Fact]
    public void ConstantsMatchTheKernel()
    {
        // Linux drivers/net/wireguard/ratelimiter.c.
        Assert.Equal(20, RateLimiter.PacketsPerSecond);
        Assert.Equal(5, RateLimiter.PacketsBurstable);
        Assert.Equal(50_000_000, RateLimiter.PacketCostNanoseconds);
        Assert.Equal(250_000_000, RateLimiter.TokenMaxNanoseconds);
        Assert.Equal(65_536, RateLimiter.DefaultMaxEntries);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KernelSelftestSequenceGivesTheExpectedVerdicts(bool ipv6)
    {
        // Linux drivers/net/wireguard/selftest/ratelimiter.c expected_results[], with the sleeps on a fake clock.
        (bool Allowed, long SleepBefore)[] steps =
        [
            (true, 0), (true, 0), (true, 0), (true, 0), (true, 0),
            (false, 0),
            (true, 50 * Ms),
            (false, 0),
            (true, 100 * Ms),
            (true, 0),
            (false, 0),
        ];
        var limiter = new RateLimiter();
        byte[] source = Source(ipv6, 0);
        long now = 123 * Second;
        for (int i = 0; i < steps.Length; i++)
        {
            now += steps[i].SleepBefore;
            Assert.True(steps[i].Allowed == limiter.Allow(source, now), $"step {i}");
            // Meanwhile any other source is unaffected.
            Assert.True(limiter.Allow(Source(ipv6, (uint)i + 1), now), $"other source at step {i}");
        }
    }

    [Fact]
    public void Ipv6SourcesInTheSameSlash64ShareABucket()
    {
        var limiter = new RateLimiter();
        string[] sameNet = ["2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8:0:1:1234::", "2001:db8:0:1::5"];
        foreach (string s in sameNet)
        {
            Assert.True(limiter.Allow(Address(s), 0), s);
        }

        Assert.False(limiter.Allow(Address("2001:db8:0:1::99"), 0));
        Assert.True(limiter.Allow(Address("2001:db8:0:2::1"), 0)); // neighbouring /64
        Assert.Equal(2, limiter.Count);
    }

    [Fact]
    public void Ipv4SourcesAreNotGroupedAndIpv4MappedCountsAsIpv4()
    {
        var limiter = new RateLimiter();
        for (int i = 0; i < 5; i++)
        {
            Assert.True(limiter.Allow(Address(i % 2 == 0 ? "192.0.2.1" : "::ffff:192.0.2.1"), 0));
        }

        Assert.False(limiter.Allow(Address("::ffff:192.0.2.1"), 0));
        Assert.False(limiter.Allow(Address("192.0.2.1"), 0));
        Assert.True(limiter.Allow(Address("::ffff:192.0.2.2"), 0));
        Assert.True(limiter.Allow(Address("192.0.2.3"), 0));
        Assert.Equal(3, limiter.Count);
    }

    [Fact]
    public void RefillIsCappedAtTheBurst()
    {
        var limiter = new RateLimiter();
        byte[] source = Address("198.51.100.1");
        for (int i = 0; i < 5; i++)
        {
            Assert.True(limiter.Allow(source, 0));
        }

        Assert.False(limiter.Allow(source, 0));
        // 900 ms would be 18 packets' worth, but the bucket holds 5 (and the entry is not idle long enough to be reset).
        for (int i = 0; i < 5; i++)
        {
            Assert.True(limiter.Allow(source, 900 * Ms), $"packet {i}");
        }

        Assert.False(limiter.Allow(source, 900 * Ms));
    }

    [Fact]
    public void DeniedPacketsDoNotEarnCreditAndBackwardsTimeMintsNone()
    {
        var limiter = new RateLimiter();
        byte[] source = Address("198.51.100.1");
        long now = Second;
        for (int i = 0; i < 5; i++)
        {
            Assert.True(limiter.Allow(source, now));
        }

        Assert.False(limiter.Allow(source, now + (49 * Ms)));
        Assert.False(limiter.Allow(source, 0)); // clock went backwards: treated as no time passing
        Assert.True(limiter.Allow(source, now + (50 * Ms)));
        Assert.False(limiter.Allow(source, now + (50 * Ms)));
    }

    [Fact]
    public void IdleEntriesAreForgottenAfterMoreThanOneSecond()
    {
        var limiter = new RateLimiter();
        for (uint i = 0; i < 3; i++)
        {
            Assert.True(limiter.Allow(Source(false, i), 0));
        }

        Assert.True(limiter.Allow(Source(false, 10), Second)); // idle exactly 1 s: kept
        Assert.Equal(4, limiter.Count);

        Assert.True(limiter.Allow(Source(false, 11), Second + 1)); // the first three are now idle > 1 s
        Assert.Equal(2, limiter.Count);
    }

    [Fact]
    public void GarbageCollectionWorkPerCallIsBounded()
    {
        var limiter = new RateLimiter();
        const int Sources = 100;
        for (uint i = 0; i < Sources; i++)
        {
            Assert.True(limiter.Allow(Source(false, i), 0));
        }

        byte[] active = Address("203.0.113.1");
        int expected = Sources;
        for (long t = 2 * Second; expected > 0; t += Ms)
        {
            limiter.Allow(active, t);
            expected = Math.Max(0, expected - RateLimiter.MaxCollectedPerCall);
            Assert.Equal(expected + 1, limiter.Count);
        }
    }

    [Fact]
    public void KernelSelftestCapacityAllowsMaxEntriesSourcesThenRefusesTheNext()
    {
        var limiter = new RateLimiter();
        for (uint i = 0; i < RateLimiter.DefaultMaxEntries; i++)
        {
            Assert.True(limiter.Allow(Source(false, i), 0));
        }

        Assert.False(limiter.Allow(Source(false, RateLimiter.DefaultMaxEntries), 0));
        Assert.Equal(RateLimiter.DefaultMaxEntries, limiter.Count);
    }

    [Fact]
    public void AFullTableStillServesKnownSourcesAndAdmitsNewOnesOnceOthersGoIdle()
    {
        var limiter = new RateLimiter(maxEntries: 16);
        for (uint i = 0; i < 16; i++)
        {
            Assert.True(limiter.Allow(Source(true, i), 0));
        }

        Assert.False(limiter.Allow(Source(true, 16), 0));
        Assert.True(limiter.Allow(Source(true, 3), 500 * Ms)); // known source, has tokens
        Assert.False(limiter.Allow(Source(true, 16), Second)); // nobody idle > 1 s yet
        // Now the sources idle since 0 are reclaimed, at most MaxCollectedPerCall of them per call.
        Assert.True(limiter.Allow(Source(true, 16), Second + 1));
        Assert.Equal(16 - RateLimiter.MaxCollectedPerCall + 1, limiter.Count);
    }

    [Fact]
    public void ClearForgetsAllSources()
    {
        var limiter = new RateLimiter(maxEntries: 1);
        byte[] source = Address("192.0.2.1");
        for (int i = 0; i < 5; i++)
        {
            Assert.True(limiter.Allow(source, 0));
        }

        Assert.False(limiter.Allow(source, 0));
        Assert.False(limiter.Allow(Address("192.0.2.2"), 0));
        limiter.Clear();
        Assert.Equal(0, limiter.Count);
        Assert.True(limiter.Allow(Address("192.0.2.2"), 0));
        Assert.False(limiter.Allow(source, 0)); // table (size 1) full again
    }

    [Fact]
    public void AllowForAKnownSourceDoesNotAllocate()
    {
        var limiter = new RateLimiter();
        byte[] v4 = Address("192.0.2.1");
        byte[] v6 = Address("2001:db8::1");
        limiter.Allow(v4, 0);
        limiter.Allow(v6, 0);
        int allowed = 0;
        long start = 0;
        long allocated = Allocations.InSteadyState(() =>
        {
            for (long t = start; t < start + 10_000; t++)
            {
                allowed += limiter.Allow(v4, t * Ms) ? 1 : 0;
                allowed += limiter.Allow(v6, t * Ms) ? 1 : 0;
            }
            start += 10_000;
        });

        Assert.Equal(0, allocated);
        Assert.True(allowed > 0);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(17)]
    public void BadAddressLengthsAreRejected(int length)
    {
        var limiter = new RateLimiter();
        Assert.Throws<ArgumentException>(() => limiter.Allow(new byte[length], 0));
    }

    [Fact]
    public void ZeroCapacityIsRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RateLimiter(0));
    }
}
