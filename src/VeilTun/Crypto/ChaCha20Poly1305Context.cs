using System.Buffers.Binary;
using System.Security.Cryptography;
using LibCrypto = VeilTun.Interop.LibCrypto;
using SystemChaCha20Poly1305 = System.Security.Cryptography.ChaCha20Poly1305;

namespace VeilTun.Crypto;

/// <summary>
/// Reusable ChaCha20-Poly1305 AEAD (RFC 8439) with WireGuard's nonce, <c>00000000 || LE64(counter)</c>
/// (whitepaper §5.4.6). Five backends, the default chosen once per process (<see cref="ImplementationName"/>):
/// <see cref="ChaCha20Poly1305Avx512"/> on CPUs with AVX-512 (1.35x the OpenSSL path per 1420-byte packet in
/// bench/aead.sh: OpenSSL 3.0 spends ~40% of a packet in per-call EVP work), else
/// <see cref="ChaCha20Poly1305Avx2"/> on CPUs with AVX2 (the same algorithm in 256-bit vectors), else
/// <see cref="ChaCha20Poly1305AdvSimd"/> on ARM64 (the same ChaCha20 in 128-bit NEON vectors), else one OpenSSL EVP
/// context per direction (<see cref="SetKey"/> installs the key once, each seal/open only re-initialises the nonce,
/// where System.Security.Cryptography re-keys on every call), else System.Security.Cryptography. <see cref="SelectBackend"/>
/// forces one (<see cref="AeadBackend"/>), for comparisons.
/// </summary>
/// <remarks>
/// <para><b>Not thread-safe.</b> Use one instance per worker thread (per key), or
/// <see cref="ForCurrentThread"/>. Seal and TryOpen never allocate on the managed heap (nor does
/// <see cref="SetKey"/>, except in the System fallback).</para>
/// <para>Fallback: when libcrypto.so.3 cannot be loaded (non-Linux, or a distribution without OpenSSL 3) and the
/// CPU has none of AVX-512, AVX2 or ARM64 AdvSimd, the instance uses <see cref="System.Security.Cryptography.ChaCha20Poly1305"/>, which is
/// correct but re-keys on every call and throws internally on a bad tag (<see cref="TryOpen(ulong, ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/>
/// still returns false).</para>
/// <para>Key hygiene: the AVX-512, AVX2 and AdvSimd backends keep the key in a pinned array that <see cref="Dispose"/> and the
/// one-shot helpers zero; OpenSSL keeps its own copy inside the EVP context and cleanses it when the context is
/// freed.</para>
/// </remarks>
internal sealed class ChaCha20Poly1305Context : IDisposable
{
    /// <summary>Key length in bytes.</summary>
    public const int KeySize = 32;

    /// <summary>Poly1305 tag length in bytes, appended after the ciphertext.</summary>
    public const int TagSize = 16;

    /// <summary>RFC 8439 nonce length in bytes.</summary>
    internal const int NonceSize = 12;

    [ThreadStatic]
    private static ChaCha20Poly1305Context? t_current;

    private readonly AeadBackend _backend;
    private readonly uint[]? _managedKey; // AVX-512, AVX2 and AdvSimd paths: the key as eight little-endian words (zeroed on clear)
    private readonly SafeEvpCipherCtxHandle? _encrypt;
    private readonly SafeEvpCipherCtxHandle? _decrypt;
    private SystemChaCha20Poly1305? _fallback;
    private bool _hasKey;
    private bool _disposed;

    // The process's backend once chosen (by SelectBackend or by the first use of the default), else -1.
    private static int s_selected = -1;

    /// <summary>
    /// Forces the backend of every context this process creates with <see cref="ChaCha20Poly1305Context()"/> (and so
    /// of the tunnels' data path and <see cref="ForCurrentThread"/>), for comparisons or to avoid an implementation.
    /// The backend is chosen once per process: call this before the first context is created and before
    /// <see cref="ImplementationName"/> is read. Without a call the process uses <see cref="AeadBackend.Auto"/>.
    /// Calling it again, or after the choice was made, is allowed only with a backend that resolves to the same one.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="backend"/> is not a defined value.</exception>
    /// <exception cref="PlatformNotSupportedException">This machine cannot run <paramref name="backend"/> (see
    /// <see cref="IsBackendSupported"/>).</exception>
    /// <exception cref="InvalidOperationException">The process already uses another backend.</exception>
    public static void SelectBackend(AeadBackend backend)
    {
        if (!Enum.IsDefined(backend)) throw new ArgumentOutOfRangeException(nameof(backend), backend, "not an AEAD backend");
        if (!IsBackendSupported(backend)) throw new PlatformNotSupportedException($"The {backend} AEAD backend is not available on this machine.");
        var resolved = backend == AeadBackend.Auto ? ResolveAuto() : backend;
        int previous = Interlocked.CompareExchange(ref s_selected, (int)resolved, -1);
        if (previous != -1 && previous != (int)resolved)
            throw new InvalidOperationException($"The process already uses the {(AeadBackend)previous} AEAD backend; select one before the first ChaCha20Poly1305Context is created.");
    }

    /// <summary>
    /// True when this machine can run <paramref name="backend"/>: AVX-512F, AVX2 or ARM64 AdvSimd in the CPU (and enabled in .NET),
    /// libcrypto.so.3 loadable for <see cref="AeadBackend.OpenSsl"/>. <see cref="AeadBackend.Auto"/> and
    /// <see cref="AeadBackend.System"/> are always available.
    /// </summary>
    public static bool IsBackendSupported(AeadBackend backend) => backend switch
    {
        AeadBackend.Auto or AeadBackend.System => true,
        AeadBackend.Avx512 => ChaCha20Poly1305Avx512.IsSupported,
        AeadBackend.Avx2 => ChaCha20Poly1305Avx2.IsSupported,
        AeadBackend.AdvSimd => ChaCha20Poly1305AdvSimd.IsSupported,
        AeadBackend.OpenSsl => LibCrypto.IsAvailable,
        _ => false,
    };

    /// <summary>
    /// The process's backend: the one given to <see cref="SelectBackend"/>, else (fixed on first use) AVX-512 when
    /// the CPU has it, else AVX2, else AdvSimd (ARM64), else libcrypto, else System.
    /// </summary>
    internal static AeadBackend DefaultBackend
    {
        get
        {
            int selected = Volatile.Read(ref s_selected);
            if (selected == -1)
            {
                int previous = Interlocked.CompareExchange(ref s_selected, (int)ResolveAuto(), -1);
                selected = previous == -1 ? Volatile.Read(ref s_selected) : previous;
            }
            return (AeadBackend)selected;
        }
    }

    private static AeadBackend ResolveAuto()
    {
        if (ChaCha20Poly1305Avx512.IsSupported) return AeadBackend.Avx512;
        if (ChaCha20Poly1305Avx2.IsSupported) return AeadBackend.Avx2;
        if (ChaCha20Poly1305AdvSimd.IsSupported) return AeadBackend.AdvSimd;
        return LibCrypto.IsAvailable ? AeadBackend.OpenSsl : AeadBackend.System;
    }

    /// <summary>The transport-data implementation this process uses: "avx512", "avx2", "advsimd", "libcrypto" or "system".
    /// Reading it fixes the process's backend (see <see cref="SelectBackend"/>).</summary>
    public static string ImplementationName => DefaultBackend switch
    {
        AeadBackend.Avx512 => "avx512",
        AeadBackend.Avx2 => "avx2",
        AeadBackend.AdvSimd => "advsimd",
        AeadBackend.OpenSsl => "libcrypto",
        _ => "system",
    };

    /// <summary>Creates a context with no key on the process's backend (<see cref="SelectBackend"/>). Call
    /// <see cref="SetKey"/> before sealing or opening.</summary>
    public ChaCha20Poly1305Context()
        : this(DefaultBackend)
    {
    }

    /// <summary>Test hook: a context on the given backend (not <see cref="AeadBackend.Auto"/>; it must be supported here).</summary>
    internal ChaCha20Poly1305Context(AeadBackend backend)
    {
        if (backend is AeadBackend.Auto || !Enum.IsDefined(backend)) throw new ArgumentOutOfRangeException(nameof(backend), backend, "a concrete backend is needed");
        _backend = backend;
        if (backend is AeadBackend.Avx512 or AeadBackend.Avx2 or AeadBackend.AdvSimd)
        {
            if (backend == AeadBackend.Avx512 && !ChaCha20Poly1305Avx512.IsSupported) throw new PlatformNotSupportedException("AVX-512 is not available.");
            if (backend == AeadBackend.Avx2 && !ChaCha20Poly1305Avx2.IsSupported) throw new PlatformNotSupportedException("AVX2 is not available.");
            if (backend == AeadBackend.AdvSimd && !ChaCha20Poly1305AdvSimd.IsSupported) throw new PlatformNotSupportedException("ARM64 AdvSimd is not available.");
            _managedKey = GC.AllocateArray<uint>(8, pinned: true); // pinned: never copied around by the GC
        }
        else if (backend == AeadBackend.OpenSsl)
        {
            _encrypt = LibCrypto.CreateChaCha20Poly1305Context(encrypt: true);
            try
            {
                _decrypt = LibCrypto.CreateChaCha20Poly1305Context(encrypt: false);
            }
            catch
            {
                _encrypt.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// This thread's context, created on first use and never disposed (it lives as long as the thread).
    /// Used by the one-shot helpers; callers may use it directly but must not dispose it or hand it to another thread.
    /// </summary>
    public static ChaCha20Poly1305Context ForCurrentThread
    {
        get
        {
            ChaCha20Poly1305Context? context = t_current;
            if (context is null || context._disposed)
            {
                t_current = context = new ChaCha20Poly1305Context();
            }

            return context;
        }
    }

    /// <summary>True when this instance runs on the direct libcrypto EVP path rather than the fallback.</summary>
    internal bool UsesLibCrypto => _encrypt is not null;

    /// <summary>The backend this instance runs on.</summary>
    internal AeadBackend Implementation => _backend;

    /// <summary>
    /// Installs <paramref name="key"/> (exactly <see cref="KeySize"/> bytes) for both directions. The key is copied;
    /// the caller may wipe its buffer afterwards. Cheap on the libcrypto path (no allocation, no cipher fetch).
    /// </summary>
    public void SetKey(ReadOnlySpan<byte> key)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (key.Length != KeySize)
        {
            throw new ArgumentException($"Key must be {KeySize} bytes.", nameof(key));
        }

        _hasKey = false;
        if (_managedKey is not null)
        {
            for (int i = 0; i < 8; i++) _managedKey[i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(i * 4)..]);
        }
        else if (_encrypt is not null && _decrypt is not null)
        {
            if (!LibCrypto.SetKey(_encrypt, key) || !LibCrypto.SetKey(_decrypt, key))
            {
                throw new CryptographicException("EVP_CipherInit_ex (key) failed.");
            }
        }
        else
        {
            // The System type has no re-key API: replace it (its Dispose frees the old native key state).
            _fallback?.Dispose();
            _fallback = null;
            _fallback = new SystemChaCha20Poly1305(key);
        }

        _hasKey = true;
    }

    /// <summary>
    /// Encrypts and authenticates one message with nonce <c>00000000 || LE64(<paramref name="counter"/>)</c>.
    /// <paramref name="ciphertextAndTag"/> must be exactly <c>plaintext.Length + </c><see cref="TagSize"/> bytes;
    /// the ciphertext is written first and the tag right after it. In place is allowed: the output may start at the
    /// same address as <paramref name="plaintext"/> (any other overlap throws). <paramref name="associatedData"/>
    /// may be empty and must not overlap the output.
    /// </summary>
    /// <exception cref="ArgumentException">Buffer sizes are wrong or the buffers partially overlap.</exception>
    /// <exception cref="InvalidOperationException">No key was set.</exception>
    public void Seal(ulong counter, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> ciphertextAndTag)
    {
        Span<byte> nonce = stackalloc byte[NonceSize];
        WriteWireGuardNonce(nonce, counter);
        SealWithNonce(nonce, plaintext, associatedData, ciphertextAndTag);
    }

    /// <summary>
    /// Seals a plaintext that lies in two buffers: it is <c>ciphertextAndTag[..^16]</c>, except bytes
    /// [<paramref name="at"/>, <paramref name="at"/> + <paramref name="middle"/>.Length), which are
    /// <paramref name="middle"/> (the buffer's own bytes there are ignored). Ciphertext is written over
    /// <c>ciphertextAndTag[..^16]</c>, the tag after it. <paramref name="middle"/> must not overlap
    /// <paramref name="ciphertextAndTag"/> and is only read. No associated data (WireGuard transport has none).
    /// Same result byte for byte as <see cref="Seal(ulong, ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/>
    /// over the contiguous plaintext. Zero-copy sealing of a TSO split segment: the segment buffer holds its headers,
    /// the payload stays in the super-packet buffer (<paramref name="middle"/>), the ciphertext lands in the segment.
    /// The AVX-512, AVX2 and AdvSimd backends read <paramref name="middle"/> where it lies; libcrypto and System copy it in first
    /// (libcrypto: measured faster than one EVP update per piece).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="ciphertextAndTag"/> is shorter than a tag, the splice does not
    /// lie within the plaintext, or <paramref name="middle"/> overlaps <paramref name="ciphertextAndTag"/>.</exception>
    /// <exception cref="InvalidOperationException">No key was set.</exception>
    public void SealSpliced(ulong counter, Span<byte> ciphertextAndTag, int at, ReadOnlySpan<byte> middle)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_hasKey)
        {
            throw new InvalidOperationException("SetKey must be called before SealSpliced.");
        }

        if (ciphertextAndTag.Length < TagSize)
        {
            throw new ArgumentException("ciphertextAndTag must hold at least the 16-byte tag.", nameof(ciphertextAndTag));
        }

        int length = ciphertextAndTag.Length - TagSize;
        if (at < 0 || at > length - middle.Length)
        {
            throw new ArgumentException("at and middle.Length must place middle within ciphertextAndTag[..^16].", nameof(at));
        }

        if (middle.Overlaps(ciphertextAndTag))
        {
            throw new ArgumentException("middle must not overlap ciphertextAndTag.", nameof(middle));
        }

        Span<byte> nonce = stackalloc byte[NonceSize];
        WriteWireGuardNonce(nonce, counter);
        Span<byte> buffer = ciphertextAndTag[..length];
        Span<byte> tag = ciphertextAndTag[length..];
        if (_managedKey is not null)
        {
            Span<uint> words = stackalloc uint[3];
            NonceWords(nonce, words);
            // ChaCha20Poly1305AdvSimd.IsSupported is a JIT-time constant: false on x64, where the branch is dropped.
            if (ChaCha20Poly1305AdvSimd.IsSupported && _backend == AeadBackend.AdvSimd)
                ChaCha20Poly1305AdvSimd.SealSpliced(_managedKey, words, buffer, at, middle, tag);
            else if (_backend == AeadBackend.Avx512) ChaCha20Poly1305Avx512.SealSpliced(_managedKey, words, buffer, at, middle, tag);
            else ChaCha20Poly1305Avx2.SealSpliced(_managedKey, words, buffer, at, middle, tag);
        }
        else if (_encrypt is not null)
        {
            // Copy, then one update: OpenSSL 3.0 costs ~90 ns per EVP_CipherUpdate, so three updates (head in
            // place, middle from its buffer, tail in place; even cut at 64-byte block edges) sealed a 52 + 1368-byte
            // segment 0.18 us slower than the copy and one update (AeadSpliceBenchmarks).
            middle.CopyTo(buffer[at..]);
            if (!LibCrypto.AeadSeal(_encrypt, nonce, buffer, default, buffer, tag))
            {
                throw new CryptographicException("ChaCha20-Poly1305 encryption failed in libcrypto.");
            }
        }
        else
        {
            // System.Security.Cryptography has no streaming API: splice first, then the ordinary in-place seal.
            middle.CopyTo(buffer[at..]);
            _fallback!.Encrypt(nonce, buffer, buffer, tag);
        }
    }

    /// <summary>
    /// Verifies and decrypts one message sealed with nonce <c>00000000 || LE64(<paramref name="counter"/>)</c>.
    /// <paramref name="plaintext"/> must be exactly <c>ciphertextAndTag.Length - </c><see cref="TagSize"/> bytes and
    /// may start at the same address as <paramref name="ciphertextAndTag"/> (in place; any other overlap throws).
    /// Returns false, without throwing, when the input is shorter than a tag or does not authenticate; then
    /// <paramref name="plaintext"/> is zeroed (for in place, that destroys the ciphertext) and the context stays usable.
    /// </summary>
    /// <exception cref="ArgumentException">The plaintext buffer has the wrong size or the buffers partially overlap.</exception>
    /// <exception cref="InvalidOperationException">No key was set.</exception>
    public bool TryOpen(ulong counter, ReadOnlySpan<byte> ciphertextAndTag, ReadOnlySpan<byte> associatedData, Span<byte> plaintext)
    {
        Span<byte> nonce = stackalloc byte[NonceSize];
        WriteWireGuardNonce(nonce, counter);
        return TryOpenWithNonce(nonce, ciphertextAndTag, associatedData, plaintext);
    }

    /// <summary>
    /// One-shot seal on this thread's context (cold path: handshake messages). Sets <paramref name="key"/>, seals,
    /// then overwrites the key inside the context so it does not linger. Same buffer rules as the instance method.
    /// </summary>
    public static void Seal(ReadOnlySpan<byte> key, ulong counter, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> ciphertextAndTag)
    {
        ChaCha20Poly1305Context context = ForCurrentThread;
        context.SetKey(key);
        try
        {
            context.Seal(counter, plaintext, associatedData, ciphertextAndTag);
        }
        finally
        {
            context.ClearKey();
        }
    }

    /// <summary>
    /// One-shot open on this thread's context (cold path: handshake messages). Returns false, without throwing,
    /// on authentication failure (and zeroes <paramref name="plaintext"/>). Same buffer rules as the instance method.
    /// </summary>
    public static bool TryOpen(ReadOnlySpan<byte> key, ulong counter, ReadOnlySpan<byte> ciphertextAndTag, ReadOnlySpan<byte> associatedData, Span<byte> plaintext)
    {
        ChaCha20Poly1305Context context = ForCurrentThread;
        context.SetKey(key);
        try
        {
            return context.TryOpen(counter, ciphertextAndTag, associatedData, plaintext);
        }
        finally
        {
            context.ClearKey();
        }
    }

    /// <summary>Frees both EVP contexts (OpenSSL cleanses the key inside them). Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _hasKey = false;
        if (_managedKey is not null) CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_managedKey.AsSpan()));
        _encrypt?.Dispose();
        _decrypt?.Dispose();
        _fallback?.Dispose();
        _fallback = null;
    }

    /// <summary>RFC 8439 seal with a raw 12-byte nonce (for RFC vectors whose nonce is not WireGuard-shaped).</summary>
    internal void SealWithNonce(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> ciphertextAndTag)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_hasKey)
        {
            throw new InvalidOperationException("SetKey must be called before Seal.");
        }

        if (ciphertextAndTag.Length != plaintext.Length + TagSize)
        {
            throw new ArgumentException("ciphertextAndTag must be plaintext.Length + 16 bytes.", nameof(ciphertextAndTag));
        }

        ThrowIfPartiallyOverlapping(plaintext, ciphertextAndTag, nameof(ciphertextAndTag));

        Span<byte> ciphertext = ciphertextAndTag[..plaintext.Length];
        Span<byte> tag = ciphertextAndTag[plaintext.Length..];
        if (_managedKey is not null)
        {
            Span<uint> words = stackalloc uint[3];
            NonceWords(nonce, words);
            if (ChaCha20Poly1305AdvSimd.IsSupported && _backend == AeadBackend.AdvSimd)
                ChaCha20Poly1305AdvSimd.Seal(_managedKey, words, plaintext, associatedData, ciphertext, tag);
            else if (_backend == AeadBackend.Avx512) ChaCha20Poly1305Avx512.Seal(_managedKey, words, plaintext, associatedData, ciphertext, tag);
            else ChaCha20Poly1305Avx2.Seal(_managedKey, words, plaintext, associatedData, ciphertext, tag);
        }
        else if (_encrypt is not null)
        {
            if (!LibCrypto.AeadSeal(_encrypt, nonce, plaintext, associatedData, ciphertext, tag))
            {
                throw new CryptographicException("ChaCha20-Poly1305 encryption failed in libcrypto.");
            }
        }
        else
        {
            _fallback!.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
    }

    /// <summary>RFC 8439 open with a raw 12-byte nonce (for RFC vectors whose nonce is not WireGuard-shaped).</summary>
    internal bool TryOpenWithNonce(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertextAndTag, ReadOnlySpan<byte> associatedData, Span<byte> plaintext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_hasKey)
        {
            throw new InvalidOperationException("SetKey must be called before TryOpen.");
        }

        // Network input: too short to hold a tag is an authentication failure, not an exception.
        if (ciphertextAndTag.Length < TagSize)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return false;
        }

        int length = ciphertextAndTag.Length - TagSize;
        if (plaintext.Length != length)
        {
            throw new ArgumentException("plaintext must be ciphertextAndTag.Length - 16 bytes.", nameof(plaintext));
        }

        ThrowIfPartiallyOverlapping(ciphertextAndTag, plaintext, nameof(plaintext));

        ReadOnlySpan<byte> ciphertext = ciphertextAndTag[..length];
        ReadOnlySpan<byte> tag = ciphertextAndTag[length..];
        bool ok;
        if (_managedKey is not null)
        {
            Span<uint> words = stackalloc uint[3];
            NonceWords(nonce, words);
            ok = ChaCha20Poly1305AdvSimd.IsSupported && _backend == AeadBackend.AdvSimd
                ? ChaCha20Poly1305AdvSimd.TryOpen(_managedKey, words, ciphertext, associatedData, tag, plaintext)
                : _backend == AeadBackend.Avx512
                ? ChaCha20Poly1305Avx512.TryOpen(_managedKey, words, ciphertext, associatedData, tag, plaintext)
                : ChaCha20Poly1305Avx2.TryOpen(_managedKey, words, ciphertext, associatedData, tag, plaintext);
        }
        else if (_decrypt is not null)
        {
            ok = LibCrypto.AeadOpen(_decrypt, nonce, ciphertext, associatedData, tag, plaintext);
        }
        else
        {
            try
            {
                _fallback!.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
                ok = true;
            }
            catch (CryptographicException)
            {
                ok = false;
            }
        }

        if (!ok)
        {
            // OpenSSL has already written unauthenticated plaintext; never let it escape.
            CryptographicOperations.ZeroMemory(plaintext);
        }

        return ok;
    }

    /// <summary>True while a key is installed.</summary>
    internal bool HasKey => _hasKey;

    /// <summary>
    /// Replaces the installed key with zeros so a key does not stay in the context (cold-path keys after their one
    /// use; transport keys once their keypair is wiped).
    /// </summary>
    internal void ClearKey()
    {
        if (_disposed || !_hasKey)
        {
            return;
        }

        if (_managedKey is not null)
        {
            CryptographicOperations.ZeroMemory(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_managedKey.AsSpan()));
        }
        else if (_encrypt is not null)
        {
            Span<byte> zeroKey = stackalloc byte[KeySize];
            zeroKey.Clear();
            SetKey(zeroKey);
        }
        else
        {
            _fallback?.Dispose();
            _fallback = null;
        }

        _hasKey = false;
    }

    // RFC 8439 nonce bytes as the three little-endian state words of ChaCha20's last row.
    private static void NonceWords(ReadOnlySpan<byte> nonce, Span<uint> words)
    {
        words[0] = BinaryPrimitives.ReadUInt32LittleEndian(nonce);
        words[1] = BinaryPrimitives.ReadUInt32LittleEndian(nonce[4..]);
        words[2] = BinaryPrimitives.ReadUInt32LittleEndian(nonce[8..]);
    }

    // WireGuard whitepaper §5.4.6: 32 bits of zeros followed by the 64-bit little-endian counter.
    private static void WriteWireGuardNonce(Span<byte> nonce, ulong counter)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(nonce, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[4..], counter);
    }

    // In place (same start address) is supported by OpenSSL and System; a shifted overlap would read bytes it has
    // already overwritten, so it is a caller bug.
    private static void ThrowIfPartiallyOverlapping(ReadOnlySpan<byte> input, ReadOnlySpan<byte> output, string paramName)
    {
        if (input.Overlaps(output, out int offset) && offset != 0)
        {
            throw new ArgumentException("Input and output must either be the same memory or not overlap.", paramName);
        }
    }
}
