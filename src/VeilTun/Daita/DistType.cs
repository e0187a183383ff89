namespace VeilTun.Daita;

/// <summary>
/// Maybenot 2.2.2 distribution kinds (crates/maybenot/src/dist.rs). The numeric value is the bincode variant index.
/// Parameter meaning per kind is documented on <see cref="Dist"/>.
/// </summary>
internal enum DistType
{
    Uniform = 0,
    Normal = 1,
    SkewNormal = 2,
    LogNormal = 3,
    Binomial = 4,
    Geometric = 5,
    Pareto = 6,
    Poisson = 7,
    Weibull = 8,
    Gamma = 9,
    Beta = 10,
}
