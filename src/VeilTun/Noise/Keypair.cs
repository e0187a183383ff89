using System.Security.Cryptography;
using VeilTun.Crypto;

namespace VeilTun.Noise;

/// <summary>
/// A transport session's keys (whitepaper §5.4.5): a send key with an atomic nonce counter and a receive key
/// with its replay window. Sealing is thread-safe (nonces are taken atomically and each thread uses its own
/// cipher context); the replay window is not, so <see cref="TryAcceptCounter"/> belongs to one sequential
/// receive stage per peer.
/// </summary>
/// <remarks>
/// Wiping and use never overlap: every seal and open holds a lease (<see cref="TryAcquire"/>) for its duration,
/// and <see cref="Zero"/> first marks the keypair wiped (no new lease is granted from then on), then waits for the
/// leases held to end, then overwrites the keys. So nothing is ever sealed under a wiped or half-wiped key, and a
/// packet whose keypair was wiped before its turn is dropped instead. The crypto workers hold one lease per run of
/// a batch's packets under one keypair, not one per packet.
/// </remarks>
internal sealed class Keypair
{
    [ThreadStatic] private static ChaCha20Poly1305Context? s_sealContext;
    [ThreadStatic] private static Keypair? s_sealOwner;
    [ThreadStatic] private static ChaCha20Poly1305Context? s_openContext;
    [ThreadStatic] private static Keypair? s_openOwner;

    private Key32 _sendKey;
    private Key32 _receiveKey;
    private long _sendNonce;
    private volatile bool _zeroed;
    private int _leases; // seals and opens in progress with these keys
    private readonly ReplayWindow _replay = new();

    internal Keypair(ReadOnlySpan<byte> sendKey, ReadOnlySpan<byte> receiveKey, bool isInitiator, TimeSpan created,
        uint localIndex, uint remoteIndex)
    {
        sendKey.CopyTo(_sendKey);
        receiveKey.CopyTo(_receiveKey);
        IsInitiator = isInitiator;
        Created = created;
        LocalIndex = localIndex;
        RemoteIndex = remoteIndex;
    }

    /// <summary>True when we sent the initiation that made this keypair (only initiators rekey on time).</summary>
    public bool IsInitiator { get; }

    /// <summary>Monotonic time the keypair was derived.</summary>
    public TimeSpan Created { get; }

    public uint LocalIndex { get; }

    public uint RemoteIndex { get; }

    /// <summary>The next nonce that <see cref="TryTakeNonce"/> would hand out.</summary>
    public ulong SendNonce => (ulong)Interlocked.Read(ref _sendNonce);

    /// <summary>False once the keys were wiped; a wiped keypair neither seals nor opens.</summary>
    public bool IsValid => !_zeroed;

    /// <summary>Takes the next send nonce, or fails once REJECT_AFTER_MESSAGES is reached (the counter is capped there).</summary>
    public bool TryTakeNonce(out ulong nonce)
    {
        nonce = (ulong)Interlocked.Increment(ref _sendNonce) - 1;
        if (nonce < Protocol.RejectAfterMessages) return true;
        Interlocked.Exchange(ref _sendNonce, unchecked((long)Protocol.RejectAfterMessages));
        return false;
    }

    /// <summary>Marks the keypair unusable for sending (private-key change; wireguard-go ExpireCurrentKeypairs).</summary>
    internal void ExhaustNonces() => Interlocked.Exchange(ref _sendNonce, unchecked((long)Protocol.RejectAfterMessages));

    /// <summary>Test hook: runs after a lease was granted (to force a wipe into the middle of a seal or open).</summary>
    internal static Action<Keypair>? AfterAcquireForTest;

    /// <summary>
    /// Takes a lease on the keys: until <see cref="Release"/> they cannot be wiped. False (and no lease) once the
    /// keypair is wiped or being wiped.
    /// </summary>
    internal bool TryAcquire()
    {
        Interlocked.Increment(ref _leases); // a full fence: Zero either sees this lease or we see its mark
        if (_zeroed)
        {
            Interlocked.Decrement(ref _leases);
            return false;
        }
        AfterAcquireForTest?.Invoke(this);
        return true;
    }

    /// <summary>Ends a lease taken with <see cref="TryAcquire"/>.</summary>
    internal void Release() => Interlocked.Decrement(ref _leases);

    /// <summary>
    /// Seals <paramref name="plaintext"/> into <paramref name="ciphertextAndTag"/> (16 bytes longer; may overlap
    /// exactly). False, with nothing written, once the keys are wiped.
    /// </summary>
    public bool TrySeal(ulong nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertextAndTag)
    {
        if (!TryAcquire()) return false;
        try
        {
            SealLeased(nonce, plaintext, ciphertextAndTag);
            return true;
        }
        finally
        {
            Release();
        }
    }

    /// <summary>As <see cref="TrySeal"/>, for a caller that holds a lease.</summary>
    internal void SealLeased(ulong nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertextAndTag) =>
        SealContext().Seal(nonce, plaintext, default, ciphertextAndTag);

    /// <summary>
    /// Seals the plaintext <c>ciphertextAndTag[..^16]</c> with bytes [<paramref name="at"/>, <paramref name="at"/> +
    /// <paramref name="middle"/>.Length) taken from <paramref name="middle"/> instead, in place, tag behind it
    /// (<see cref="ChaCha20Poly1305Context.SealSpliced"/>: a split segment's headers here, its payload still in the
    /// super-packet). For a caller that holds a lease.
    /// </summary>
    internal void SealSplicedLeased(ulong nonce, Span<byte> ciphertextAndTag, int at, ReadOnlySpan<byte> middle) =>
        SealContext().SealSpliced(nonce, ciphertextAndTag, at, middle);

    // This thread's seal context, keyed with this keypair's send key (re-keyed only when the thread last sealed for
    // another keypair).
    private ChaCha20Poly1305Context SealContext()
    {
        var ctx = s_sealContext ??= new ChaCha20Poly1305Context();
        if (!ReferenceEquals(s_sealOwner, this))
        {
            ctx.SetKey(_sendKey);
            s_sealOwner = this;
        }
        return ctx;
    }

    /// <summary>Opens in place or into <paramref name="plaintext"/>; false when authentication fails or keys are wiped.</summary>
    public bool TryOpen(ulong nonce, ReadOnlySpan<byte> ciphertextAndTag, Span<byte> plaintext)
    {
        if (!TryAcquire()) return false;
        try
        {
            return OpenLeased(nonce, ciphertextAndTag, plaintext);
        }
        finally
        {
            Release();
        }
    }

    /// <summary>As <see cref="TryOpen"/>, for a caller that holds a lease.</summary>
    internal bool OpenLeased(ulong nonce, ReadOnlySpan<byte> ciphertextAndTag, Span<byte> plaintext)
    {
        var ctx = s_openContext ??= new ChaCha20Poly1305Context();
        if (!ReferenceEquals(s_openOwner, this))
        {
            ctx.SetKey(_receiveKey);
            s_openOwner = this;
        }
        return ctx.TryOpen(nonce, ciphertextAndTag, default, plaintext);
    }

    /// <summary>Replay check (RFC 6479 window of 8128). Call after a successful open. Not thread-safe.</summary>
    public bool TryAcceptCounter(ulong counter) => _replay.TryAccept(counter, Protocol.RejectAfterMessages);

    /// <summary>
    /// Overwrites this thread's cached copies of keys whose keypair was wiped. The copies otherwise live on in the
    /// thread's cipher contexts until it seals or opens for another keypair. Two field reads when there is nothing
    /// to do. (The crypto workers, the only threads that seal and open in a tunnel, do more when they run out of
    /// work: <see cref="ForgetKeysOnThisThread"/>.)
    /// </summary>
    internal static void ForgetWipedKeysOnThisThread()
    {
        if (s_sealOwner is { _zeroed: true })
        {
            s_sealContext?.ClearKey();
            s_sealOwner = null;
        }
        if (s_openOwner is { _zeroed: true })
        {
            s_openContext?.ClearKey();
            s_openOwner = null;
        }
    }

    /// <summary>
    /// Overwrites every key cached in this thread's cipher contexts, wiped or not: a thread about to block for an
    /// unknown time (a crypto worker out of work) holds no key while it sleeps, so a keypair wiped meanwhile leaves no
    /// copy behind and nothing has to wake the thread to erase one. The next seal or open keys the context again.
    /// </summary>
    internal static void ForgetKeysOnThisThread()
    {
        if (s_sealOwner is not null)
        {
            s_sealContext?.ClearKey();
            s_sealOwner = null;
        }
        if (s_openOwner is not null)
        {
            s_openContext?.ClearKey();
            s_openOwner = null;
        }
    }

    /// <summary>Test hook: whether this thread's seal and open contexts hold a key, and for which keypairs.</summary>
    internal static (bool Seal, Keypair? SealOwner, bool Open, Keypair? OpenOwner) ThreadKeysForTest =>
        (s_sealContext?.HasKey ?? false, s_sealOwner, s_openContext?.HasKey ?? false, s_openOwner);

    /// <summary>
    /// Wipes both keys, after every seal and open in progress has ended (none starts once this begins). Copies cached
    /// in threads' cipher contexts are overwritten on their next use for another keypair or by
    /// <see cref="ForgetWipedKeysOnThisThread"/>, whichever comes first.
    /// </summary>
    internal void Zero()
    {
        _zeroed = true;
        Interlocked.MemoryBarrier(); // the mark is visible before the leases are read
        var spin = new SpinWait();
        while (Volatile.Read(ref _leases) != 0) spin.SpinOnce(); // at most one batch of packets (tens of µs)
        ExhaustNonces();
        CryptographicOperations.ZeroMemory(_sendKey);
        CryptographicOperations.ZeroMemory(_receiveKey);
    }
}
