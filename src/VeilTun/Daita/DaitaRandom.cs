namespace VeilTun.Daita;

/// <summary>
/// Uniform float conversions of an <see cref="IDaitaRandom"/>, as rand 0.9 defines them (each consumes exactly one
/// <see cref="IDaitaRandom.NextUInt64"/>): the top 53 (f64) or 24 (f32) bits scaled by 2^-53 / 2^-24. Stateless and
/// allocation-free; thread-safety is that of the source.
/// </summary>
internal static class DaitaRandom
{
    private const double Scale53 = 1.0 / (1UL << 53);
    private const double Scale52 = 1.0 / (1UL << 52);
    private const float Scale24 = 1.0f / (1 << 24);
    private const float Scale23 = 1.0f / (1 << 23);

    /// <summary>Uniform f64 in [0, 1) (rand <c>StandardUniform</c>): multiples of 2^-53.</summary>
    public static double NextDouble(this IDaitaRandom random) => (random.NextUInt64() >> 11) * Scale53;

    /// <summary>Uniform f32 in [0, 1): multiples of 2^-24 (exact in f32, never rounds up to 1).</summary>
    public static float NextSingle(this IDaitaRandom random) => (random.NextUInt64() >> 40) * Scale24;

    /// <summary>Uniform f64 in (0, 1] (rand <c>OpenClosed01</c>): multiples of 2^-53, never 0, so its log is finite.</summary>
    public static double NextDoubleOpenClosed(this IDaitaRandom random) => ((random.NextUInt64() >> 11) + 1) * Scale53;

    /// <summary>
    /// Uniform f32 in [0, 1) on rand 0.9's <c>random_range(0.0..1.0)</c> grid (23 random bits, multiples of 2^-23), which
    /// maybenot's state.rs uses to pick transitions.
    /// </summary>
    internal static float NextSingleRange(this IDaitaRandom random) => (random.NextUInt64() >> 41) * Scale23;

    /// <summary>Uniform f64 in [0, 1) on rand 0.9's <c>random_range(low..high)</c> grid (52 random bits).</summary>
    internal static double NextDoubleRange(this IDaitaRandom random) => (random.NextUInt64() >> 12) * Scale52;

    /// <summary>Uniform f64 in (0, 1) (rand <c>Open01</c>): odd multiples of 2^-53 (52 random bits), never 0 nor 1.</summary>
    public static double NextDoubleOpen(this IDaitaRandom random) => ((random.NextUInt64() >> 12) + 0.5) * Scale52;
}
