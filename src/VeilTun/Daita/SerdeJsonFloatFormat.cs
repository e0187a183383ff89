namespace VeilTun.Daita;

/// <summary>
/// Which serde_json float printer <see cref="MachineJson"/> imitates. Both print the shortest round-trip digits in
/// the same fixed/exponential layout; they differ only in the sign of a non-negative exponent.
/// </summary>
internal enum SerdeJsonFloatFormat
{
    /// <summary>
    /// serde_json 1.0.147 and later (commit e757a3d "Switch from ryu -> zmij for float formatting", 2025-12-21):
    /// zmij writes <c>1e+16</c>, <c>1.5e+20</c>, <c>1e-7</c>. This is what a fresh <c>cargo build</c> resolves today.
    /// </summary>
    Zmij = 0,

    /// <summary>serde_json up to 1.0.146 (ryu): <c>1e16</c>, <c>1.5e20</c>, <c>1e-7</c>.</summary>
    Ryu = 1,
}
