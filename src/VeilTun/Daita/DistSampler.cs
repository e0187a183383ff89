namespace VeilTun.Daita;

/// <summary>
/// Samplers for every <see cref="DistType"/>, matching the <em>distributions</em> of rand_distr 0.5.1 as used by
/// maybenot 2.2.2 dist.rs (not its bit streams: the algorithms differ where noted). Stateless, allocation-free;
/// every rejection loop is capped at <see cref="MaxRejections"/> rounds (a uniform source hits the cap with
/// probability below 1e-150), after which a deterministic central value is returned, so a broken or adversarial
/// random source can never hang the packet path.
/// </summary>
internal static class DistSampler
{
    /// <summary>Cap on rejection rounds per sample; see the class remarks.</summary>
    internal const int MaxRejections = 1000;

    /// <summary>u64::MAX as f64 (= 2^64): what rand's u64-valued samplers saturate to after <c>as f64</c>.</summary>
    private const double U64MaxAsDouble = 18446744073709551615.0;

    /// <summary>
    /// dist.rs <c>Dist::sample</c>: raw sample + start; non-finite → 0; then clamped to [0, max], or [0, +inf)
    /// when max ≤ 0. The result is always finite and ≥ 0.
    /// </summary>
    internal static double Sample(Dist dist, IDaitaRandom rng)
    {
        double adjusted = SampleRaw(dist, rng) + dist.Start;
        if (!double.IsFinite(adjusted)) return 0.0;
        double r = Math.Max(0.0, adjusted);
        if (dist.Max > 0.0)
        {
            double clamped = Math.Min(r, dist.Max);
            return double.IsFinite(clamped) ? clamped : 0.0;
        }
        return r;
    }

    /// <summary>dist.rs <c>dist_sample</c>: the unclamped sample. May be NaN/±inf for unvalidated parameters.</summary>
    internal static double SampleRaw(Dist d, IDaitaRandom rng) => d.Type switch
    {
        DistType.Uniform => Uniform(rng, d.P1, d.P2),
        DistType.Normal => d.P1 + d.P2 * StandardNormal(rng),
        DistType.SkewNormal => SkewNormal(rng, d.P1, d.P2, d.P3),
        DistType.LogNormal => Math.Exp(d.P1 + d.P2 * StandardNormal(rng)),
        DistType.Binomial => Binomial(rng, d.Trials, d.P1),
        DistType.Geometric => Geometric(rng, d.P1),
        // rand_distr Pareto: scale · u^(-1/shape), u ∈ (0, 1].
        DistType.Pareto => d.P1 * Math.Pow(rng.NextDoubleOpenClosed(), -1.0 / d.P2),
        DistType.Poisson => Poisson(rng, d.P1),
        // rand_distr Weibull: scale · (-ln u)^(1/shape), u ∈ (0, 1].
        DistType.Weibull => d.P1 * Math.Pow(-Math.Log(rng.NextDoubleOpenClosed()), 1.0 / d.P2),
        // dist.rs: Gamma { scale, shape } → rand_distr Gamma::new(shape, scale).
        DistType.Gamma => StandardGamma(rng, d.P2) * d.P1,
        DistType.Beta => Beta(rng, d.P1, d.P2),
        _ => double.NaN,
    };

    /// <summary>
    /// dist.rs: <c>low == high</c> returns low without drawing; else rand 0.9.2's <c>random_range(low..high)</c>:
    /// u·(high − low) + low with u a 52-bit uniform in [0, 1) — [low, high) up to the final rounding, which (as in rand)
    /// can land on high. For an (unvalidated) infinite range the convex combination keeps the result finite.
    /// </summary>
    internal static double Uniform(IDaitaRandom rng, double low, double high)
    {
        if (low == high) return low;
        double u = rng.NextDoubleRange();
        double scale = high - low;
        if (!double.IsFinite(scale)) return low * (1.0 - u) + high * u;
        return u * scale + low;
    }

    /// <summary>N(0, 1) by the Marsaglia polar method (one output per call; the spare is dropped, no state).</summary>
    internal static double StandardNormal(IDaitaRandom rng)
    {
        for (int i = 0; i < MaxRejections; i++)
        {
            double u = 2.0 * rng.NextDouble() - 1.0;
            double v = 2.0 * rng.NextDouble() - 1.0;
            double s = u * u + v * v;
            if (s < 1.0 && s > 0.0) return u * Math.Sqrt(-2.0 * Math.Log(s) / s);
        }
        return 0.0;
    }

    /// <summary>rand_distr 0.5.1 SkewNormal: max/min of two standard normals (Henze 1986 representation).</summary>
    internal static double SkewNormal(IDaitaRandom rng, double location, double scale, double shape)
    {
        double u1 = StandardNormal(rng);
        if (shape == 0.0) return u1 * scale + location;
        double u2 = StandardNormal(rng);
        double u = Math.Max(u1, u2), v = Math.Min(u1, u2);
        if (shape == -1.0) return v * scale + location;
        if (shape == 1.0) return u * scale + location;
        double z = ((1.0 + shape) * u + (1.0 - shape) * v) / (Math.Sqrt(1.0 + shape * shape) * Math.Sqrt(2.0));
        return z * scale + location;
    }

    /// <summary>
    /// Gamma(shape, 1). Marsaglia–Tsang (2000) for shape ≥ 1; shape &lt; 1 via Gamma(shape + 1) · U^(1/shape), as
    /// rand_distr's GammaSmallShape; shape == 1 is Exp(1) by inversion.
    /// </summary>
    internal static double StandardGamma(IDaitaRandom rng, double shape)
    {
        if (shape == 1.0) return -Math.Log(rng.NextDoubleOpenClosed());
        if (shape < 1.0) return MarsagliaTsang(rng, shape + 1.0) * Math.Pow(rng.NextDoubleOpen(), 1.0 / shape);
        return MarsagliaTsang(rng, shape);
    }

    /// <summary>ln of a Gamma(shape, 1) sample, computed in log space so tiny shapes do not underflow to 0.</summary>
    internal static double LogStandardGamma(IDaitaRandom rng, double shape)
    {
        if (shape < 1.0) return Math.Log(MarsagliaTsang(rng, shape + 1.0)) + Math.Log(rng.NextDoubleOpen()) / shape;
        return Math.Log(StandardGamma(rng, shape));
    }

    private static double MarsagliaTsang(IDaitaRandom rng, double shape)
    {
        double d = shape - 1.0 / 3.0;
        double c = 1.0 / Math.Sqrt(9.0 * d);
        for (int i = 0; i < MaxRejections; i++)
        {
            double x = StandardNormal(rng);
            double vCbrt = 1.0 + c * x;
            if (vCbrt <= 0.0) continue;
            double v = vCbrt * vCbrt * vCbrt;
            double u = rng.NextDoubleOpen();
            double x2 = x * x;
            if (u < 1.0 - 0.0331 * x2 * x2 || Math.Log(u) < 0.5 * x2 + d * (1.0 - v + Math.Log(v)))
                return d * v;
        }
        return d; // ≈ the mode
    }

    /// <summary>
    /// Beta(α, β) as G_α / (G_α + G_β) with the gammas drawn in log space: X = 1 / (1 + e^(ln G_β − ln G_α)). This
    /// stays in [0, 1] without NaN even when both shapes are tiny (where the gammas themselves underflow to 0).
    /// rand_distr uses Cheng's BB/BC algorithms; same distribution.
    /// </summary>
    internal static double Beta(IDaitaRandom rng, double alpha, double beta)
    {
        // Validation admits +inf shapes: the limits are point masses.
        if (double.IsPositiveInfinity(alpha) || double.IsPositiveInfinity(beta))
            return alpha == beta ? 0.5 : double.IsPositiveInfinity(alpha) ? 1.0 : 0.0;
        double la = LogStandardGamma(rng, alpha);
        double lb = LogStandardGamma(rng, beta);
        return 1.0 / (1.0 + Math.Exp(lb - la));
    }

    /// <summary>
    /// Number of failures before the first success, support {0, 1, …} (rand_distr Geometric), by inversion:
    /// ⌊ln U / ln(1 − p)⌋ with U ∈ (0, 1], O(1) for any p. p == 0 → u64::MAX as f64; p == 1 → 0.
    /// </summary>
    internal static double Geometric(IDaitaRandom rng, double p)
    {
        if (!(p >= 0.0 && p <= 1.0)) return double.NaN;
        if (p == 0.0) return U64MaxAsDouble;
        if (p == 1.0) return 0.0;
        // P(X ≥ k) = P(U ≤ (1 − p)^k) = (1 − p)^k. With p ≥ 1e-9 the result stays below ~4e10.
        double x = Math.Floor(Math.Log(rng.NextDoubleOpenClosed()) / Log1p(-p));
        return Math.Min(x, U64MaxAsDouble);
    }

    /// <summary>
    /// Binomial(n, p) successes (rand_distr 0.5.1 Binomial). p &gt; ½ is mirrored; for n·p &lt; 10 inversion (BINV,
    /// Kachitvichyanukul–Schmeiser 1988) as rand_distr, exact and O(n·p); otherwise Hörmann's BTRS transformed
    /// rejection (1993) instead of rand_distr's BTPE — exact, O(1) expected for any n ≤ 1e9 — with the acceptance
    /// test on log-pmf ratios computed by Loader's saddle-point method (accurate for huge n).
    /// </summary>
    internal static double Binomial(IDaitaRandom rng, ulong trials, double p)
    {
        if (!(p >= 0.0 && p <= 1.0)) return double.NaN;
        if (p == 0.0 || trials == 0) return 0.0;
        double n = trials;
        if (p == 1.0) return n;
        bool flipped = p > 0.5;
        if (flipped) p = 1.0 - p;
        double q = 1.0 - p;
        double np = n * p;
        double x;
        if (np < 10.0)
            x = q == 1.0 ? KnuthPoisson(rng, np) : Binv(rng, n, p, q);
        else
            x = Btrs(rng, n, p, q);
        return flipped ? n - x : x;
    }

    private static double Binv(IDaitaRandom rng, double n, double p, double q)
    {
        // Inversion by sequential search; like rand_distr, restart when x passes 110 (≥ 30σ for n·p < 10).
        const int maxX = 110;
        double r0 = Math.Pow(q, n), s = p / q, a = (n + 1.0) * s;
        for (int round = 0; round < MaxRejections; round++)
        {
            double r = r0;
            double u = rng.NextDouble();
            int x = 0;
            while (u > r)
            {
                u -= r;
                if (++x > maxX) break;
                r *= a / x - s;
            }
            if (x <= maxX) return x;
        }
        return Math.Floor(n * p);
    }

    private static double Btrs(IDaitaRandom rng, double n, double p, double q)
    {
        // Hörmann, "The generation of binomial random variates", J. Stat. Comput. Simul. 46 (1993), algorithm BTRS.
        double spq = Math.Sqrt(n * p * q);
        double b = 1.15 + 2.53 * spq;
        double a = -0.0873 + 0.0248 * b + 0.01 * p;
        double c = n * p + 0.5;
        double vr = 0.92 - 4.2 / b;
        double alpha = (2.83 + 5.1 / b) * spq;
        double m = Math.Floor((n + 1.0) * p);
        double logPm = LogBinomialPmf(m, n, p, q);
        for (int i = 0; i < MaxRejections; i++)
        {
            double u = rng.NextDouble() - 0.5;
            double v = rng.NextDouble();
            double us = 0.5 - Math.Abs(u);
            double k = Math.Floor((2.0 * a / us + b) * u + c);
            if (us >= 0.07 && v <= vr) return k;
            if (!(k >= 0.0 && k <= n)) continue;
            double lhs = Math.Log(v * alpha / (a / (us * us) + b));
            if (lhs <= LogBinomialPmf(k, n, p, q) - logPm) return k;
        }
        return m;
    }

    /// <summary>
    /// Poisson(λ) (rand_distr 0.5.1: Knuth's product method below 12, as here). From 12 on, Hörmann's PTRS
    /// transformed rejection (1993) instead of rand_distr's Ahrens–Dieter PD — exact, O(1) expected for any λ (even
    /// the 1e42 the validator's first check lets through), its acceptance test on Loader's log-pmf.
    /// </summary>
    internal static double Poisson(IDaitaRandom rng, double lambda)
    {
        if (double.IsNaN(lambda)) return double.NaN;
        if (!(lambda > 0.0)) return 0.0;
        if (double.IsPositiveInfinity(lambda)) return lambda;
        return lambda < 12.0 ? KnuthPoisson(rng, lambda) : Ptrs(rng, lambda);
    }

    private static double KnuthPoisson(IDaitaRandom rng, double lambda)
    {
        double limit = Math.Exp(-lambda);
        double product = rng.NextDouble();
        int k = 0;
        // λ < 12: P(k > 1000) is far below 1e-300, so the cap only matters for a stuck source.
        while (product > limit && k < MaxRejections)
        {
            product *= rng.NextDouble();
            k++;
        }
        return k;
    }

    private static double Ptrs(IDaitaRandom rng, double lambda)
    {
        // Hörmann, "The transformed rejection method for generating Poisson random variables",
        // Insurance: Mathematics and Economics 12 (1993), algorithm PTRS (valid for λ ≥ 10).
        double slam = Math.Sqrt(lambda);
        double b = 0.931 + 2.53 * slam;
        double a = -0.059 + 0.02483 * b;
        double logInvAlpha = Math.Log(1.1239 + 1.1328 / (b - 3.4));
        double vr = 0.9277 - 3.6224 / (b - 2.0);
        for (int i = 0; i < MaxRejections; i++)
        {
            double u = rng.NextDouble() - 0.5;
            double v = rng.NextDouble();
            double us = 0.5 - Math.Abs(u);
            double k = Math.Floor((2.0 * a / us + b) * u + lambda + 0.43);
            if (us >= 0.07 && v <= vr) return k;
            if (!(k >= 0.0) || (us < 0.013 && v > us)) continue;
            if (Math.Log(v) + logInvAlpha - Math.Log(a / (us * us) + b) <= LogPoissonPmf(k, lambda)) return k;
        }
        return Math.Floor(lambda);
    }

    /// <summary>
    /// Rust's saturating <c>f64 as u64</c>: NaN and negatives → 0, ≥ 2^64 → <see cref="ulong.MaxValue"/>, else truncation.
    /// </summary>
    internal static ulong SaturatingToUInt64(double v)
    {
        if (!(v > 0.0)) return 0;
        if (v >= 18446744073709551616.0) return ulong.MaxValue;
        return (ulong)v;
    }

    /// <summary>Rust's <c>f64::round(v) as u64</c>: round half away from zero, then <see cref="SaturatingToUInt64"/>.</summary>
    internal static ulong RoundToUInt64(double v) => SaturatingToUInt64(Math.Round(v, MidpointRounding.AwayFromZero));

    // ---- Loader (2000), "Fast and accurate computation of binomial probabilities": saddle-point log-pmfs. ----

    private static readonly double s_halfLog2Pi = 0.5 * Math.Log(2.0 * Math.PI);
    private static readonly double[] s_stirlerrSmall = BuildStirlerrTable();

    private static double[] BuildStirlerrTable()
    {
        // stirlerr(n) = ln n! − ((n + ½) ln n − n + ½ ln 2π) for n = 0..15; n! is exact in f64 here.
        var t = new double[16];
        double factorial = 1.0;
        for (int n = 1; n < t.Length; n++)
        {
            factorial *= n;
            t[n] = Math.Log(factorial) - ((n + 0.5) * Math.Log(n) - n + s_halfLog2Pi);
        }
        return t;
    }

    /// <summary>Stirling-formula error ln n! − ln(√(2πn) (n/e)^n) for integral n ≥ 0.</summary>
    internal static double Stirlerr(double n)
    {
        const double s0 = 1.0 / 12, s1 = 1.0 / 360, s2 = 1.0 / 1260, s3 = 1.0 / 1680, s4 = 1.0 / 1188;
        if (n <= 15.0) return s_stirlerrSmall[(int)n];
        double nn = n * n;
        if (n > 500) return (s0 - s1 / nn) / n;
        if (n > 80) return (s0 - (s1 - s2 / nn) / nn) / n;
        if (n > 35) return (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / n;
        return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n;
    }

    /// <summary>Deviance term x ln(x/np) + np − x, computed without cancellation when x ≈ np.</summary>
    internal static double Bd0(double x, double np)
    {
        if (Math.Abs(x - np) < 0.1 * (x + np))
        {
            double v = (x - np) / (x + np);
            double s = (x - np) * v;
            double ej = 2.0 * x * v;
            double v2 = v * v;
            for (int j = 1; j < 1000; j++) // |v| < 0.1: converges in a handful of terms
            {
                ej *= v2;
                double s1 = s + ej / (2 * j + 1);
                if (s1 == s) return s1;
                s = s1;
            }
            return s;
        }
        return x * Math.Log(x / np) + np - x;
    }

    /// <summary>ln P(X = k) for X ~ Poisson(λ), k a non-negative integer.</summary>
    internal static double LogPoissonPmf(double k, double lambda)
    {
        if (k == 0.0) return -lambda;
        return -Stirlerr(k) - Bd0(k, lambda) - 0.5 * Math.Log(2.0 * Math.PI * k);
    }

    /// <summary>ln P(X = k) for X ~ Binomial(n, p), q = 1 − p, k an integer in [0, n].</summary>
    internal static double LogBinomialPmf(double k, double n, double p, double q)
    {
        if (k == 0.0) return n * Log1p(-p);
        if (k == n) return n * Math.Log(p);
        double lc = Stirlerr(n) - Stirlerr(k) - Stirlerr(n - k) - Bd0(k, n * p) - Bd0(n - k, n * q);
        double lf = Math.Log(2.0 * Math.PI) + Math.Log(k) + Log1p(-k / n);
        return lc - 0.5 * lf;
    }

    /// <summary>ln(1 + x), accurate for small |x|.</summary>
    internal static double Log1p(double x)
    {
        double u = 1.0 + x;
        // Kahan's trick: ln(u) · x / (u − 1) corrects the rounding of 1 + x.
        return u == 1.0 ? x : Math.Log(u) * x / (u - 1.0);
    }
}
