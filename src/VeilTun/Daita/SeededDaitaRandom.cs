namespace VeilTun.Daita;

/// <summary>
/// Deterministic, seedable <see cref="IDaitaRandom"/>: xoshiro256** (Blackman and Vigna, 2018), state expanded from a
/// 64-bit seed with SplitMix64, as rand_xoshiro's <c>Xoshiro256StarStar::seed_from_u64</c> does (the maybenot
/// simulator's <c>insecure_rng_seed</c> generator). NOT cryptographically secure: for tests and simulation only —
/// padding timings drawn from it are predictable. Not thread-safe.
/// </summary>
internal sealed class SeededDaitaRandom : IDaitaRandom
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Creates a generator whose output depends only on <paramref name="seed"/>.</summary>
    public SeededDaitaRandom(ulong seed)
    {
        _s0 = SplitMix64(ref seed);
        _s1 = SplitMix64(ref seed);
        _s2 = SplitMix64(ref seed);
        _s3 = SplitMix64(ref seed);
    }

    /// <summary>Creates a generator from a raw xoshiro256** state (tests against the reference vectors).</summary>
    internal SeededDaitaRandom(ulong s0, ulong s1, ulong s2, ulong s3) => (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);

    /// <inheritdoc/>
    public ulong NextUInt64()
    {
        // xoshiro256** 1.0 (https://prng.di.unimi.it/xoshiro256starstar.c)
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    internal static ulong SplitMix64(ref ulong state)
    {
        // SplitMix64 (https://prng.di.unimi.it/splitmix64.c)
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
