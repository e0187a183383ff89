namespace VeilTun.Daita;

/// <summary>
/// A Maybenot distribution (dist.rs): <c>sample = clamp(raw + Start, 0, Max > 0 ? Max : +inf)</c>.
/// Parameters by <see cref="Type"/>, in wire order (P1, P2, P3):
/// Uniform(low, high), Normal(mean, stdev), SkewNormal(location, scale, shape), LogNormal(mu, sigma),
/// Binomial(<see cref="Trials"/>, probability = P1), Geometric(probability), Pareto(scale, shape), Poisson(lambda),
/// Weibull(scale, shape), Gamma(scale, shape), Beta(alpha, beta). Unused parameters are 0.
/// Immutable value; thread-safe.
/// </summary>
internal sealed record Dist(DistType Type, double P1, double P2, double P3, ulong Trials, double Start, double Max)
{
    /// <summary>Number of f64 parameters (excluding Binomial's u64 trials) on the wire for a kind.</summary>
    public static int ParamCount(DistType type) => type switch
    {
        DistType.SkewNormal => 3,
        DistType.Uniform or DistType.Normal or DistType.LogNormal or DistType.Pareto
            or DistType.Weibull or DistType.Gamma or DistType.Beta => 2,
        _ => 1, // Binomial (probability; trials separate), Geometric, Poisson
    };

    /// <summary>Uniform [low, high).</summary>
    public static Dist Uniform(double low, double high, double start = 0, double max = 0) =>
        new(DistType.Uniform, low, high, 0, 0, start, max);

    /// <summary>
    /// dist.rs <c>sample()</c>: a draw from the distribution plus <see cref="Start"/>, non-finite results mapped to 0,
    /// clamped to [0, <see cref="Max"/>] (or [0, +inf) when Max ≤ 0). Always finite and ≥ 0, never throws, allocation-free;
    /// meaningful for validated dists (see <see cref="Validate"/>). Uniform with low == high draws nothing.
    /// Algorithms per type: see DistSampler (distributions of rand_distr 0.5.1, not its bit streams).
    /// </summary>
    public double Sample(IDaitaRandom random) => DistSampler.Sample(this, random);

    /// <summary>
    /// dist.rs validate(): returns null if valid, else the reason. Mirrors the Rust comparisons exactly,
    /// including NaN behaviour (a comparison with NaN is false).
    /// </summary>
    public string? Validate()
    {
        switch (Type)
        {
            case DistType.Uniform:
                if (!double.IsFinite(P1) || !double.IsFinite(P2)) return "Uniform: low and high must be finite";
                if (P1 > P2) return "Uniform: low must be <= high";
                if (!double.IsFinite(P2 - P1)) return "Uniform: high - low must be finite";
                return null;
            case DistType.Normal:
                return double.IsFinite(P2) ? null : "Normal: stdev must be finite";
            case DistType.LogNormal:
                return double.IsFinite(P2) ? null : "LogNormal: sigma must be finite";
            case DistType.SkewNormal:
                if (!double.IsFinite(P2) || !(P2 > 0)) return "SkewNormal: scale must be finite and > 0";
                if (!double.IsFinite(P3)) return "SkewNormal: shape must be finite";
                return null;
            case DistType.Binomial:
                if (P1 != 0 && P1 < Constants.DistMinProbability) return "Binomial: probability too small";
                if (Trials > 1_000_000_000UL) return "Binomial: trials must be <= 1e9";
                if (!(P1 >= 0 && P1 <= 1)) return "Binomial: probability must be in [0, 1]";
                return null;
            case DistType.Geometric:
                if (P1 != 0 && P1 < Constants.DistMinProbability) return "Geometric: probability too small";
                if (!double.IsFinite(P1) || !(P1 >= 0 && P1 <= 1)) return "Geometric: probability must be in [0, 1]";
                return null;
            case DistType.Pareto:
            case DistType.Weibull:
            case DistType.Gamma:
                if (!(P1 > 0)) return $"{Type}: scale must be > 0";
                if (!(P2 > 0)) return $"{Type}: shape must be > 0";
                return null;
            case DistType.Beta:
                if (!(P1 > 0) || !(P2 > 0)) return "Beta: alpha and beta must be > 0";
                return null;
            case DistType.Poisson:
                if (P1 > 1e42) return "Poisson: lambda too large";
                if (!double.IsFinite(P1) || !(P1 > 0)) return "Poisson: lambda must be finite and > 0";
                if (P1 >= 12 && P1 > 1.844e19) return "Poisson: lambda too large";
                return null;
            default:
                return "unknown distribution type";
        }
    }
}
