using VeilTun.Daita;
using Xunit;

namespace VeilTun.Tests.Daita;

/// <summary>
/// Dist sampling (maybenot 2.2.2 dist.rs, counter.rs, action.rs; rand_distr 0.5.1 distributions). Statistical tests use
/// a fixed seed, so they are deterministic; tolerances are ≥ 6 standard errors.
/// </summary>
public class DistTests
{
    private static Dist D(DistType t, double p1, double p2 = 0, double p3 = 0, ulong trials = 0, double start = 0, double max = 0) =>
        new(t, p1, p2, p3, trials, start, max);

    private static Dist Binomial(ulong n, double p) => D(DistType.Binomial, p, trials: n);

    private static double[] Draw(Dist d, int n, ulong seed = 2024)
    {
        var rng = new SeededDaitaRandom(seed);
        var xs = new double[n];
        for (int i = 0; i < n; i++) xs[i] = DistSampler.SampleRaw(d, rng);
        return xs;
    }

    // Moments with their theoretical values: mean, variance.
    public static TheoryData<string, object, double, double> Moments()
    {
        double skewMean(double alpha) => alpha / Math.Sqrt(1 + alpha * alpha) * Math.Sqrt(2 / Math.PI);
        const double gamma53 = 0.9027452929509336;  // Γ(5/3)
        const double gamma73 = 1.1906393487589990;  // Γ(7/3)
        return new()
        {
            { "Uniform(2,5)", Dist.Uniform(2, 5), 3.5, 0.75 },
            { "Normal(10,2)", D(DistType.Normal, 10, 2), 10, 4 },
            { "Normal(0,-3)", D(DistType.Normal, 0, -3), 0, 9 }, // negative stdev is allowed
            { "SkewNormal(1,2,3)", D(DistType.SkewNormal, 1, 2, 3), 1 + 2 * skewMean(3), 4 * (1 - 2 / Math.PI * 0.9) },
            { "SkewNormal(0,1,-2)", D(DistType.SkewNormal, 0, 1, -2), skewMean(-2), 1 - 2 / Math.PI * 0.8 },
            { "SkewNormal(0,1,1)", D(DistType.SkewNormal, 0, 1, 1), skewMean(1), 1 - 2 / Math.PI * 0.5 },
            { "SkewNormal(0,1,-1)", D(DistType.SkewNormal, 0, 1, -1), skewMean(-1), 1 - 2 / Math.PI * 0.5 },
            { "SkewNormal(5,1,0)", D(DistType.SkewNormal, 5, 1, 0), 5, 1 },
            { "LogNormal(0,0.5)", D(DistType.LogNormal, 0, 0.5), Math.Exp(0.125), (Math.Exp(0.25) - 1) * Math.Exp(0.25) },
            { "Binomial(20,0.3) BINV", Binomial(20, 0.3), 6, 4.2 },
            { "Binomial(30,0.8) flipped BINV", Binomial(30, 0.8), 24, 4.8 },
            { "Binomial(1000,0.3) BTRS", Binomial(1000, 0.3), 300, 210 },
            { "Binomial(100,0.9) flipped BTRS", Binomial(100, 0.9), 90, 9 },
            { "Binomial(1e9,0.5)", Binomial(1_000_000_000, 0.5), 5e8, 2.5e8 },
            { "Binomial(1e9,1e-9)", Binomial(1_000_000_000, 1e-9), 1, 1 - 1e-9 },
            { "Geometric(0.25)", D(DistType.Geometric, 0.25), 3, 12 },
            { "Geometric(0.9)", D(DistType.Geometric, 0.9), 1 / 9.0, 0.1 / 0.81 },
            { "Geometric(1e-9)", D(DistType.Geometric, 1e-9), 1e9 - 1, (1 - 1e-9) / 1e-18 },
            { "Pareto(1,3)", D(DistType.Pareto, 1, 3), 1.5, 0.75 },
            { "Poisson(3) Knuth", D(DistType.Poisson, 3), 3, 3 },
            { "Poisson(11.9) Knuth", D(DistType.Poisson, 11.9), 11.9, 11.9 },
            { "Poisson(12) PTRS", D(DistType.Poisson, 12), 12, 12 },
            { "Poisson(50) PTRS", D(DistType.Poisson, 50), 50, 50 },
            { "Poisson(1e6)", D(DistType.Poisson, 1e6), 1e6, 1e6 },
            { "Poisson(1.8e19)", D(DistType.Poisson, 1.8e19), 1.8e19, 1.8e19 },
            { "Weibull(2,1.5)", D(DistType.Weibull, 2, 1.5), 2 * gamma53, 4 * (gamma73 - gamma53 * gamma53) },
            { "Gamma(scale 2, shape 3)", D(DistType.Gamma, 2, 3), 6, 12 },
            { "Gamma(scale 1, shape 1)", D(DistType.Gamma, 1, 1), 1, 1 },
            { "Gamma(scale 3, shape 0.3)", D(DistType.Gamma, 3, 0.3), 0.9, 2.7 },
            { "Gamma(scale 1, shape 1000)", D(DistType.Gamma, 1, 1000), 1000, 1000 },
            { "Beta(2,5)", D(DistType.Beta, 2, 5), 2 / 7.0, 10 / (49.0 * 8) },
            { "Beta(0.5,0.5)", D(DistType.Beta, 0.5, 0.5), 0.5, 0.125 },
            { "Beta(0.1,3)", D(DistType.Beta, 0.1, 3), 0.1 / 3.1, 0.3 / (3.1 * 3.1 * 4.1) },
        };
    }

    [Theory]
    [MemberData(nameof(Moments))]
    public void SampleMeanMatchesTheTheoreticalMean(string name, object distArg, double mean, double variance)
    {
        var dist = (Dist)distArg;
        const int n = 200_000;
        double[] xs = Draw(dist, n);
        Assert.All(xs, x => Assert.True(double.IsFinite(x), $"{name}: {x}"));
        double m = xs.Average();
        double se = Math.Sqrt(variance / n);
        Assert.True(Math.Abs(m - mean) <= 6 * se + 1e-12 * Math.Abs(mean), $"{name}: mean {m}, expected {mean} ± {6 * se}");
    }

    [Theory]
    [MemberData(nameof(Moments))]
    public void SampleVarianceMatchesTheTheoreticalVariance(string name, object distArg, double mean, double variance)
    {
        var dist = (Dist)distArg;
        if (name.StartsWith("Pareto", StringComparison.Ordinal)) return; // shape 3: infinite fourth moment, no stable estimate
        const int n = 200_000;
        double[] xs = Draw(dist, n, seed: 77);
        double m = xs.Average();
        double v = xs.Sum(x => (x - m) * (x - m)) / (n - 1);
        Assert.True(Math.Abs(v - variance) <= 0.08 * variance, $"{name}: variance {v}, expected {variance} (mean {mean})");
    }

    // ---- exact pmf checks (chi-square goodness of fit against pmfs computed by recurrence here) ----

    private static void AssertFitsPmf(string name, Dist dist, Func<int, double> pmf, int maxK)
    {
        const int n = 400_000;
        var counts = new long[maxK + 2];
        foreach (double x in Draw(dist, n, seed: 5))
        {
            Assert.True(x >= 0 && x == Math.Floor(x), $"{name}: non-integer {x}");
            counts[(int)Math.Min(x, maxK + 1)]++;
        }
        // Bins with expected count ≥ 20; the rest are pooled.
        double chi2 = 0, pooledExpected = 0, pooledObserved = 0;
        int bins = 0;
        double mass = 0;
        for (int k = 0; k <= maxK; k++)
        {
            double p = pmf(k);
            mass += p;
            double e = p * n;
            if (e >= 20) { chi2 += (counts[k] - e) * (counts[k] - e) / e; bins++; }
            else { pooledExpected += e; pooledObserved += counts[k]; }
        }
        pooledExpected += (1 - mass) * n;
        pooledObserved += counts[maxK + 1];
        if (pooledExpected >= 20) { chi2 += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected; bins++; }
        int df = bins - 1;
        double limit = df + 6 * Math.Sqrt(2.0 * df); // far in the tail of χ²(df)
        Assert.True(chi2 < limit, $"{name}: χ² = {chi2:F1} with {df} df (limit {limit:F1})");
    }

    private static Func<int, double> BinomialPmf(int n, double p) => k =>
    {
        double logC = 0;
        for (int i = 1; i <= k; i++) logC += Math.Log(n - k + i) - Math.Log(i);
        return k > n ? 0 : Math.Exp(logC + k * Math.Log(p) + (n - k) * Math.Log(1 - p));
    };

    private static Func<int, double> PoissonPmf(double lambda) => k =>
    {
        double logP = -lambda + k * Math.Log(lambda);
        for (int i = 2; i <= k; i++) logP -= Math.Log(i);
        return Math.Exp(logP);
    };

    [Fact] public void BinomialByInversionHasTheExactPmf() => AssertFitsPmf("Bin(20,0.3)", Binomial(20, 0.3), BinomialPmf(20, 0.3), 20);
    [Fact] public void FlippedBinomialHasTheExactPmf() => AssertFitsPmf("Bin(12,0.75)", Binomial(12, 0.75), BinomialPmf(12, 0.75), 12);
    [Fact] public void BinomialByBtrsHasTheExactPmf() => AssertFitsPmf("Bin(60,0.4)", Binomial(60, 0.4), BinomialPmf(60, 0.4), 60);
    [Fact] public void LargeBinomialByBtrsHasTheExactPmf() => AssertFitsPmf("Bin(5000,0.02)", Binomial(5000, 0.02), BinomialPmf(5000, 0.02), 200);
    [Fact] public void PoissonByKnuthHasTheExactPmf() => AssertFitsPmf("Poi(4)", D(DistType.Poisson, 4), PoissonPmf(4), 30);
    [Fact] public void PoissonByPtrsHasTheExactPmf() => AssertFitsPmf("Poi(30)", D(DistType.Poisson, 30), PoissonPmf(30), 80);
    [Fact] public void PoissonJustAboveTheSwitchHasTheExactPmf() => AssertFitsPmf("Poi(12.5)", D(DistType.Poisson, 12.5), PoissonPmf(12.5), 50);
    [Fact] public void GeometricCountsFailuresWithTheExactPmf() => AssertFitsPmf("Geo(0.3)", D(DistType.Geometric, 0.3), k => Math.Pow(0.7, k) * 0.3, 60);
    [Fact] public void GeometricWithLargeP() => AssertFitsPmf("Geo(0.8)", D(DistType.Geometric, 0.8), k => Math.Pow(0.2, k) * 0.8, 20);

    [Theory]
    [InlineData(1e6, 200.0)]
    [InlineData(3e4, 1.0)]
    [InlineData(12.0, 1.0)]
    public void LoaderPoissonLogPmfSumsToOne(double lambda, double step)
    {
        // Σ_k P(k) over ±12σ; with step > 1 a Riemann sum (pmf is smooth at this scale).
        double sd = Math.Sqrt(lambda), sum = 0;
        for (double k = Math.Max(0, Math.Floor(lambda - 12 * sd)); k <= lambda + 12 * sd; k += step)
            sum += Math.Exp(DistSampler.LogPoissonPmf(k, lambda)) * step;
        Assert.Equal(1.0, sum, 1e-6);
    }

    [Fact]
    public void LoaderLogPmfsMatchDirectComputationForSmallArguments()
    {
        for (int k = 0; k <= 40; k++)
        {
            Assert.Equal(Math.Log(PoissonPmf(7.5)(k)), DistSampler.LogPoissonPmf(k, 7.5), 1e-10);
            Assert.Equal(Math.Log(BinomialPmf(40, 0.35)(k)), DistSampler.LogBinomialPmf(k, 40, 0.35, 0.65), 1e-10);
        }
        // Stirling error: ln n! − ((n + ½) ln n − n + ½ ln 2π), across the table/series switch at 15.
        double lnFact = 0;
        for (int n = 1; n <= 60; n++)
        {
            lnFact += Math.Log(n);
            double direct = lnFact - ((n + 0.5) * Math.Log(n) - n + 0.5 * Math.Log(2 * Math.PI));
            Assert.Equal(direct, DistSampler.Stirlerr(n), 1e-12);
        }
    }

    [Fact]
    public void LargeBinomialLogPmfSumsToOne()
    {
        const double n = 1e9, p = 0.5;
        double sd = Math.Sqrt(n * p * (1 - p)), sum = 0;
        const double step = 50;
        for (double k = Math.Floor(n * p - 12 * sd); k <= n * p + 12 * sd; k += step)
            sum += Math.Exp(DistSampler.LogBinomialPmf(k, n, p, 1 - p)) * step;
        Assert.Equal(1.0, sum, 1e-6);
    }

    // ---- dist.rs sample_clamp, sample_nan_inf_robustness ----

    [Fact]
    public void StartAndMaxAreApplied()
    {
        var rng = new SeededDaitaRandom(1);
        Assert.Equal(5.0, Dist.Uniform(0, 0, start: 5).Sample(rng));
        Assert.Equal(5.0, Dist.Uniform(10, 10, max: 5).Sample(rng));
        Assert.Equal(0.0, Dist.Uniform(-20, -10).Sample(rng));
        Assert.Equal(3.0, Dist.Uniform(-20, -20, start: 23, max: -1).Sample(rng)); // max ≤ 0: no upper clamp
    }

    [Fact]
    public void NonFiniteSamplesBecomeZeroAndBoundsHold()
    {
        var rng = new SeededDaitaRandom(3);
        Dist wide = D(DistType.Normal, 0, 1e300);
        Dist pareto = D(DistType.Pareto, 1, 0.1, max: 1000);
        Dist bounded = Dist.Uniform(100, 200, max: 50);
        for (int i = 0; i < 100; i++)
        {
            double a = wide.Sample(rng), b = pareto.Sample(rng), c = bounded.Sample(rng);
            Assert.True(double.IsFinite(a) && a >= 0);
            Assert.True(double.IsFinite(b) && b >= 0 && b <= 1000);
            Assert.Equal(50.0, c);
        }
        double big = Dist.Uniform(1e300, 1e300, start: 1e300).Sample(rng);
        Assert.True(double.IsFinite(big) && big >= 0);
        Assert.Equal(0.0, Dist.Uniform(double.MaxValue, double.MaxValue, start: double.MaxValue).Sample(rng)); // overflow → inf → 0
        Assert.Equal(0.0, D(DistType.Normal, double.NaN, 1).Sample(rng));
    }

    [Fact]
    public void UniformWithEqualBoundsConsumesNoRandomness()
    {
        var rng = new CountingRandom(new SeededDaitaRandom(1));
        Assert.Equal(7.0, Dist.Uniform(7, 7).Sample(rng));
        Assert.Equal(0, rng.Draws);
        Dist.Uniform(7, 8).Sample(rng);
        Assert.Equal(1, rng.Draws);
    }

    [Fact]
    public void UniformUsesFiftyTwoBitsAndStaysWithinItsBounds()
    {
        // rand 0.9.2 random_range(low..high): (x >> 12) · 2^-52 · (high − low) + low.
        Assert.Equal(2.5, DistSampler.Uniform(new ConstantRandom(1UL << 63), 2, 3));
        Assert.Equal(2.0, DistSampler.Uniform(new ConstantRandom(0xFFF), 2, 3)); // the low 12 bits are discarded
        Assert.Equal(4.0 - 1.0 / (1UL << 51), DistSampler.Uniform(new ConstantRandom(ulong.MaxValue), 2, 4));
        // Like rand, the final rounding may land on high: (1 − 2^-52) + 2 rounds to 3.
        Assert.Equal(3.0, DistSampler.Uniform(new ConstantRandom(ulong.MaxValue), 2, 3));
        Assert.InRange(DistSampler.Uniform(new ConstantRandom(ulong.MaxValue), -1e300, 1e300), -1e300, 1e300);
    }

    // ---- fuzz regressions (maybenot fuzz/tests/*; artifacts decoded from fuzz/artifacts) ----

    public static TheoryData<string, object> FuzzRegressions() => new()
    {
        { "Binomial(1e9, 0.5)", Binomial(1_000_000_000, 0.5) },
        { "Binomial(1e9, 1e-9)", Binomial(1_000_000_000, 1e-9) },
        { "Binomial(1e9, 1-1e-9)", Binomial(1_000_000_000, 1 - 1e-9) },
        { "Binomial artifact (2^31, 2.79e-9)", Binomial(2147483648, 2.7939668356747106e-09) },
        { "Binomial artifact (2.9e18, 1.7e-18)", Binomial(2975258940884780008, 1.6805126322492552e-18) },
        { "Binomial(u64::MAX, 0.5)", Binomial(ulong.MaxValue, 0.5) },
        { "Geometric(1e-9)", D(DistType.Geometric, 1e-9) },
        { "Geometric artifact 2.5e-260", D(DistType.Geometric, 2.5405868366936035e-260) },
        { "Geometric artifact subnormal", D(DistType.Geometric, 2.24087748135943e-310) },
        { "Geometric(0)", D(DistType.Geometric, 0) },
        { "Poisson(1e42)", D(DistType.Poisson, 1e42) },
        { "Poisson(1.844e19)", D(DistType.Poisson, 1.844e19) },
        { "Poisson artifact 1.37e308", D(DistType.Poisson, 1.3746584427678792e+308) },
        { "Poisson(+inf)", D(DistType.Poisson, double.PositiveInfinity) },
        { "Poisson(1e-300)", D(DistType.Poisson, 1e-300) },
        { "Uniform(-1e308, 1e308)", Dist.Uniform(-1e308, 1e308) },
        { "Uniform artifact (-1.63e308, 3.6e307)", Dist.Uniform(-1.6293323777352637e+308, 3.621822933472507e+307) },
        { "Uniform(-inf, 32.5)", Dist.Uniform(double.NegativeInfinity, 32.50196078466251) },
        { "Uniform(5.7e-270, NaN)", Dist.Uniform(5.6860735661412166e-270, double.NaN) },
        { "Gamma(shape 1e-300)", D(DistType.Gamma, 1, 1e-300) },
        { "Gamma(shape inf)", D(DistType.Gamma, 1, double.PositiveInfinity) },
        { "Gamma(scale inf)", D(DistType.Gamma, double.PositiveInfinity, 2) },
        { "Beta(1e-300, 1e-300)", D(DistType.Beta, 1e-300, 1e-300) },
        { "Beta(inf, 1)", D(DistType.Beta, double.PositiveInfinity, 1) },
        { "Beta(1e300, 1e-300)", D(DistType.Beta, 1e300, 1e-300) },
        { "Pareto(1, 1e-300)", D(DistType.Pareto, 1, 1e-300) },
        { "Weibull(1, 1e-300)", D(DistType.Weibull, 1, 1e-300) },
        { "LogNormal(700, 10)", D(DistType.LogNormal, 700, 10) },
        { "SkewNormal(0, 1e308, 1e308)", D(DistType.SkewNormal, 0, 1e308, 1e308) },
    };

    [Theory]
    [MemberData(nameof(FuzzRegressions))]
    public void ExtremeParametersReturnFiniteValuesPromptly(string name, object distArg)
    {
        var dist = (Dist)distArg;
        // Validated or not, a sample is finite and ≥ 0 and every rejection loop is bounded (no hang).
        var rng = new CountingRandom(new SeededDaitaRandom(11));
        for (int i = 0; i < 200; i++)
        {
            double x = dist.Sample(rng);
            Assert.True(double.IsFinite(x) && x >= 0, $"{name}: {x}");
        }
        Assert.True(rng.Draws <= 200 * 4 * DistSampler.MaxRejections, $"{name}: {rng.Draws} draws");
    }

    [Theory]
    [MemberData(nameof(FuzzRegressions))]
    public void DegenerateRandomSourcesCannotHangAnySampler(string name, object distArg)
    {
        var dist = (Dist)distArg;
        foreach (ulong bits in new[] { 0UL, ulong.MaxValue, 1UL << 63 })
        {
            double x = dist.Sample(new ConstantRandom(bits));
            Assert.True(double.IsFinite(x) && x >= 0, $"{name}/{bits:X}: {x}");
        }
    }

    [Fact]
    public void TinyBetaShapesGiveZeroOrOneWithoutNaN()
    {
        double[] xs = Draw(D(DistType.Beta, 1e-300, 1e-300), 10_000);
        Assert.All(xs, x => Assert.True(x is >= 0 and <= 1, $"{x}"));
        int ones = xs.Count(x => x > 0.5);
        Assert.InRange(ones, 5000 - 300, 5000 + 300); // Bernoulli(α / (α + β)) = Bernoulli(½) in the limit
        Assert.All(Draw(D(DistType.Beta, 1e-5, 1), 10_000), x => Assert.False(double.IsNaN(x)));
    }

    [Fact]
    public void ValidatedFuzzArtifactsAreRejectedByValidation()
    {
        // The decoded artifacts that caused hangs/crashes before 2.2.x are now rejected by dist.rs validate().
        Assert.NotNull(Binomial(2147483648, 2.7939668356747106e-09).Validate());
        Assert.NotNull(D(DistType.Geometric, 2.5405868366936035e-260).Validate());
        Assert.NotNull(D(DistType.Poisson, 1.3824172084878715e+306).Validate());
        Assert.NotNull(Dist.Uniform(-1.6293323777352637e+308, 3.621822933472507e+307).Validate());
        Assert.NotNull(Dist.Uniform(5.6860735661412166e-270, double.NaN).Validate());
        Assert.Null(Binomial(1_000_000_000, 1e-9).Validate());
        Assert.Null(D(DistType.Geometric, 1e-9).Validate());
        Assert.Null(D(DistType.Poisson, 1.844e19).Validate());
        Assert.NotNull(D(DistType.Poisson, 1.845e19).Validate());
    }

    [Fact]
    public void MachineStringFuzzArtifactsAreRejectedWithoutThrowing()
    {
        // fuzz/artifacts/machine-str,* read with String::from_utf8_lossy.
        byte[][] artifacts =
        [
            [0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0xc0, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0xd0, 0x10, 0xd0, 0xd0, 0xd0, 0xd0, 0xd7, 0xd0, 0xd0],
            [0xff, 0x80, 0x00, 0x01, 0x3a, 0x3a, 0x40, 0x3f, 0x00, 0x00, 0x05, 0x80, 0x00, 0x00, 0x00, 0x00, 0x3b, 0x3f, 0x00, 0x3a, 0x3f, 0x40, 0x3d, 0x3e],
        ];
        foreach (byte[] a in artifacts)
            Assert.False(MachineCodec.TryParse(System.Text.Encoding.UTF8.GetString(a), out _, out _));
    }

    // ---- dist.rs validate_* ----

    public static TheoryData<object, bool> ValidationCases() => new()
    {
        { Dist.Uniform(10, 10), true }, { Dist.Uniform(15, 5), false },
        { D(DistType.Normal, 100, 15), true }, { D(DistType.Normal, 100, double.PositiveInfinity), false },
        { D(DistType.SkewNormal, 100, 15, -3), true }, { D(DistType.SkewNormal, 100, 15, double.PositiveInfinity), false },
        { D(DistType.LogNormal, 100, 15), true }, { D(DistType.LogNormal, 100, double.PositiveInfinity), false },
        { Binomial(10, 0.5), true }, { Binomial(10, 1.1), false },
        { D(DistType.Geometric, 0.5), true }, { D(DistType.Geometric, 1.1), false },
        { D(DistType.Pareto, 1, 0.5), true }, { D(DistType.Pareto, -1, 0.5), false },
        { D(DistType.Poisson, 1), true }, { D(DistType.Poisson, -1), false },
        { D(DistType.Weibull, 1, 0.5), true }, { D(DistType.Weibull, 1, -0.5), false },
        { D(DistType.Gamma, 1, 0.5), true }, { D(DistType.Gamma, 1, -0.5), false },
        { D(DistType.Beta, 1, 0.5), true }, { D(DistType.Beta, 1, -0.5), false },
    };

    [Theory]
    [MemberData(nameof(ValidationCases))]
    public void DistValidationMatchesDistRs(object dist, bool valid) => Assert.Equal(valid, ((Dist)dist).Validate() is null);

    // ---- counter.rs tests ----

    [Fact]
    public void CounterValueDefaultsToOneAndTruncatesSamples()
    {
        var rng = new SeededDaitaRandom(1);
        Assert.Equal(1UL, new Counter(CounterOperation.Increment, null, false).SampleValue(rng));
        Assert.Equal(2UL, new Counter(CounterOperation.Set, Dist.Uniform(2.9, 2.9), false).SampleValue(rng));
        Assert.Null(new Counter(CounterOperation.Increment, Dist.Uniform(10, 10), false).Dist!.Validate());
        Assert.NotNull(new Counter(CounterOperation.Increment, Dist.Uniform(15, 5), false).Dist!.Validate());
    }

    [Fact]
    public void CounterValueSaturatesAtTheEdges()
    {
        // counter.rs sample_value_overflow_protection.
        var rng = new SeededDaitaRandom(1);
        Assert.Equal(ulong.MaxValue, new Counter(CounterOperation.Increment, Dist.Uniform(double.MaxValue, double.MaxValue), false).SampleValue(rng));
        Assert.Equal(0UL, new Counter(CounterOperation.Increment, Dist.Uniform(-1000, -500), false).SampleValue(rng));
        Assert.Equal(0UL, new Counter(CounterOperation.Increment, D(DistType.Normal, double.NaN, 1), false).SampleValue(rng));
        Assert.Equal(ulong.MaxValue, new Counter(CounterOperation.Set, Dist.Uniform(18446744073709551615.0, 18446744073709551615.0), false).SampleValue(rng));
    }

    // ---- action.rs sampling ----

    [Fact]
    public void ActionSamplingRoundsHalfAwayFromZeroCapsAndSaturates()
    {
        var rng = new SeededDaitaRandom(1);
        var pad = new MachineAction.SendPadding(false, false, Dist.Uniform(0.5, 0.5), Dist.Uniform(2.5, 2.5));
        Assert.Equal(1UL, pad.SampleTimeout(rng));
        Assert.Equal(3UL, pad.SampleLimit(rng));
        Assert.True(pad.HasLimit);
        var block = new MachineAction.BlockOutgoing(false, false, Dist.Uniform(1e20, 1e20), Dist.Uniform(1.49, 1.49), Dist.Uniform(1e30, 1e30));
        Assert.Equal(86_400_000_000UL, block.SampleTimeout(rng));
        Assert.Equal(1UL, block.SampleDuration(rng));
        Assert.Equal(ulong.MaxValue, block.SampleLimit(rng)); // limits are not capped; the cast saturates
        var timer = new MachineAction.UpdateTimer(true, Dist.Uniform(1e300, 1e300), null);
        Assert.Equal(86_400_000_000UL, timer.SampleDuration(rng));
        Assert.Equal(ulong.MaxValue, timer.SampleLimit(rng));
        Assert.False(timer.HasLimit);
        var cancel = new MachineAction.Cancel(MachineTimer.All);
        Assert.Equal(ulong.MaxValue, cancel.SampleLimit(rng));
        Assert.False(cancel.HasLimit);
        Assert.Equal(0UL, cancel.SampleTimeout(rng));
    }

    [Theory]
    [InlineData(double.NaN, 0UL)]
    [InlineData(-1.0, 0UL)]
    [InlineData(-0.4, 0UL)]
    [InlineData(0.5, 1UL)]
    [InlineData(1.5, 2UL)]
    [InlineData(2.5, 3UL)]
    [InlineData(18446744073709551616.0, ulong.MaxValue)]
    [InlineData(1e300, ulong.MaxValue)]
    [InlineData(9007199254740993.0, 9007199254740992UL)] // 2^53 + 1 is not representable; the literal is 2^53
    public void RoundingToU64MatchesRustRoundAsU64(double value, ulong expected) =>
        Assert.Equal(expected, DistSampler.RoundToUInt64(value));
}
