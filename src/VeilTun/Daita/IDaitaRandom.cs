namespace VeilTun.Daita;

/// <summary>
/// The randomness source of the DAITA framework (Maybenot's <c>R: RngCore</c>): transitions, limits, counters and
/// action timings are all drawn from it. Implementations decide on thread-safety; <see cref="Framework"/> calls it
/// only from inside its own (single-threaded) methods. Conversions to floats live in <see cref="DaitaRandom"/>.
/// </summary>
internal interface IDaitaRandom
{
    /// <summary>Returns 64 uniformly random bits.</summary>
    ulong NextUInt64();
}
