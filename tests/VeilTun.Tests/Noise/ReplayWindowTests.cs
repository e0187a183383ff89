using CsCheck;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using Xunit;

namespace VeilTun.Tests.Noise;

public sealed class ReplayWindowTests
{
    private const ulong W = ReplayWindow.WindowSize;

    // wireguard-go device/constants.go RejectAfterMessages = (1 << 64) - (1 << 13) - 1.
    private const ulong R = ulong.MaxValue - (1UL << 13);

    [Fact]
    public void WindowSizeIs8128()
    {
        // Kernel COUNTER_WINDOW_SIZE on 64-bit, wireguard-go replay.go windowSize = (128 - 1) * 64.
        Assert.Equal(8128, ReplayWindow.WindowSize);
        Assert.Equal(18446744073709543423UL, R);
    }

    [Fact]
    public void KernelCounterSelftestSequenceGivesTheExpectedVerdicts()
    {
        // Linux drivers/net/wireguard/selftest/counter.c, ported 1:1 in wireguard-go replay/replay_test.go.
        const ulong TLim = W + 1;
        (ulong Counter, bool Accepted)[] steps =
        [
            (0, true),
            (1, true),
            (1, false),
            (9, true),
            (8, true),
            (7, true),
            (7, false),
            (TLim, true),
            (TLim - 1, true),
            (TLim - 1, false),
            (TLim - 2, true),
            (2, true),
            (2, false),
            (TLim + 16, true),
            (3, false),
            (TLim + 16, false),
            (TLim * 4, true),
            ((TLim * 4) - (TLim - 1), true),
            (10, false),
            ((TLim * 4) - TLim, false),
            ((TLim * 4) - (TLim + 1), false),
            ((TLim * 4) - (TLim - 2), true),
            ((TLim * 4) + 1 - TLim, false),
            (0, false),
            (R, false),
            (R - 1, true),
            (R, false),
            (R - 1, false),
            (R - 2, true),
            (R + 1, false),
            (R + 2, false),
            (R - 2, false),
            (R - 3, true),
            (0, false),
        ];
        Assert.Equal(34, steps.Length);

        var window = new ReplayWindow();
        for (int i = 0; i < steps.Length; i++)
        {
            bool actual = window.TryAccept(steps[i].Counter, R);
            Assert.True(steps[i].Accepted == actual, $"step {i + 1}: counter {steps[i].Counter} expected {steps[i].Accepted}");
        }
    }

    [Fact]
    public void BulkAscendingFromOneThenZeroOnce()
    {
        // (a) 1..W all accepted, then 0 accepted once.
        var window = new ReplayWindow();
        for (ulong i = 1; i <= W; i++)
        {
            Assert.True(window.TryAccept(i, R), $"counter {i}");
        }

        Assert.True(window.TryAccept(0, R));
        Assert.False(window.TryAccept(0, R));
    }

    [Fact]
    public void BulkAscendingFromTwoThenOneInsideZeroOutside()
    {
        // (b) 2..W+1 all accepted, then 1 accepted and 0 (now W+1 behind) rejected.
        var window = new ReplayWindow();
        for (ulong i = 2; i <= W + 1; i++)
        {
            Assert.True(window.TryAccept(i, R), $"counter {i}");
        }

        Assert.True(window.TryAccept(1, R));
        Assert.False(window.TryAccept(0, R));
    }

    [Fact]
    public void BulkDescendingFromWToZeroAllAccepted()
    {
        // (c) kernel: W down to 0; wireguard-go: W+1 down to 1. Both must pass.
        var kernel = new ReplayWindow();
        for (ulong i = W + 1; i-- > 0;)
        {
            Assert.True(kernel.TryAccept(i, R), $"counter {i}");
        }

        var go = new ReplayWindow();
        for (ulong i = W + 1; i >= 1; i--)
        {
            Assert.True(go.TryAccept(i, R), $"counter {i}");
        }
    }

    [Fact]
    public void BulkDescendingFromWPlusOneThenZeroTooOld()
    {
        // (d)
        var window = new ReplayWindow();
        for (ulong i = W + 1; i >= 1; i--)
        {
            Assert.True(window.TryAccept(i, R), $"counter {i}");
        }

        Assert.False(window.TryAccept(0, R));
    }

    [Fact]
    public void BulkDescendingThenAdvanceMakesZeroTooOld()
    {
        // (e)
        var window = new ReplayWindow();
        for (ulong i = W; i >= 1; i--)
        {
            Assert.True(window.TryAccept(i, R), $"counter {i}");
        }

        Assert.True(window.TryAccept(W + 1, R));
        Assert.False(window.TryAccept(0, R));
    }

    [Fact]
    public void BulkDescendingThenZeroThenAdvance()
    {
        // (f)
        var window = new ReplayWindow();
        for (ulong i = W; i >= 1; i--)
        {
            Assert.True(window.TryAccept(i, R), $"counter {i}");
        }

        Assert.True(window.TryAccept(0, R));
        Assert.True(window.TryAccept(W + 1, R));
    }

    [Fact]
    public void CountersAtOrAboveTheLimitAreRejectedAndNotRecorded()
    {
        var window = new ReplayWindow();
        Assert.False(window.TryAccept(100, 100));
        Assert.False(window.TryAccept(ulong.MaxValue, ulong.MaxValue));
        Assert.True(window.TryAccept(99, 100));
        Assert.True(window.TryAccept(0, 100)); // 99 is the highest seen, 0 is inside the window
    }

    [Fact]
    public void ResetForgetsEverything()
    {
        var window = new ReplayWindow();
        for (ulong i = 0; i < 200; i++)
        {
            Assert.True(window.TryAccept(i * 3, R));
        }

        Assert.True(window.TryAccept(1_000_000, R));
        window.Reset();

        for (ulong i = 0; i < 200; i++)
        {
            Assert.True(window.TryAccept(i * 3, R), $"counter {i * 3}");
        }
    }

    [Fact]
    public void AFarJumpForgetsTheOldWindowButNotTheNewCounter()
    {
        var window = new ReplayWindow();
        Assert.True(window.TryAccept(5, R));
        Assert.True(window.TryAccept(5 + (W * 1000), R));
        Assert.False(window.TryAccept(5, R));
        Assert.False(window.TryAccept(5 + (W * 1000), R));
        Assert.True(window.TryAccept(5 + (W * 1000) - W, R)); // exactly W behind: still inside
        Assert.False(window.TryAccept(5 + (W * 1000) - W - 1, R)); // W + 1 behind: too old
    }

    [Fact]
    public void ReusedRingSlotsStartEmpty()
    {
        // 128 blocks of 64 bits: counter c and c + 8192 share a ring slot. Advancing must clear the stale bits.
        var window = new ReplayWindow();
        for (ulong i = 0; i < 64; i++)
        {
            Assert.True(window.TryAccept(i, R));
        }

        for (ulong i = 0; i < 64; i++)
        {
            Assert.True(window.TryAccept(8192 + i, R), $"counter {8192 + i}");
            Assert.False(window.TryAccept(8192 + i, R), $"replayed counter {8192 + i}");
        }
    }

    [Fact]
    public void TryAcceptDoesNotAllocate()
    {
        var window = new ReplayWindow();
        window.TryAccept(0, R);
        int accepted = 0;
        ulong start = 1;
        long allocated = Allocations.InSteadyState(() =>
        {
            accepted = 0;
            for (ulong i = start; i < start + 100_000; i += 3)
            {
                accepted += window.TryAccept(i, R) ? 1 : 0;
                accepted += window.TryAccept(i, R) ? 1 : 0;
            }
            start += 100_002; // a fresh range each round: every first try is new, every second a replay
        });

        Assert.Equal(0, allocated);
        Assert.Equal(33_334, accepted);
    }

    [Fact]
    public void AgreesWithAHashSetOracle()
    {
        // Oracle: accepted iff below the limit, not seen, and not more than W behind the highest accepted counter
        // (starting from 0, as both implementations do).
        Gen<ulong[]> steps = Gen.Frequency(
            (4, Gen.ULong[0, 80]),          // small forward steps
            (2, Gen.ULong[0, 10_000]),      // around the window edge
            (1, Gen.ULong[0, 600_000]),     // jumps that wrap the ring
            (1, Gen.Const(0UL))).Array[1, 300];
        Gen<(ulong[] Steps, bool[] Backwards, ulong Limit)> gen = Gen.Select(
            steps, Gen.Bool.Array[300], Gen.ULong[100_000, 2_000_000]);

        for (uint stream = 0; stream < 200; stream++)
        {
            gen.Sample(Check, seed: new PCG(stream, 8128).ToString(), iter: 1, threads: 1);
        }

        static void Check(ulong[] deltas, bool[] backwards, ulong limit)
        {
            var window = new ReplayWindow();
            var seen = new HashSet<ulong>();
            ulong last = 0;
            ulong position = 0;
            for (int i = 0; i < deltas.Length; i++)
            {
                // Walk around the highest counter, sometimes behind it (replays and old packets).
                ulong counter = backwards[i] ? (position >= deltas[i] ? position - deltas[i] : 0) : position + deltas[i];
                bool expected = counter < limit && !seen.Contains(counter) && (counter > last || last - counter <= W);
                Assert.Equal(expected, window.TryAccept(counter, limit));
                if (expected)
                {
                    seen.Add(counter);
                    last = Math.Max(last, counter);
                    position = counter;
                }
            }
        }
    }
}
