namespace VeilTun.Noise;

/// <summary>
/// A peer's three keypair slots (whitepaper §5.4.5 and §6.3; kernel noise.c add_new_keypair): <c>Current</c>
/// sends; <c>Previous</c> still receives packets in flight; <c>Next</c> is a responder's new session, unusable for
/// sending until the initiator's first data confirms it. Not thread-safe; owned by the engine.
/// </summary>
internal sealed class Keypairs
{
    public Keypair? Previous { get; internal set; }

    public Keypair? Current { get; internal set; }

    public Keypair? Next { get; internal set; }
}
