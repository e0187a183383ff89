using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// OpenSSL 3 libcrypto EVP bindings for ChaCha20-Poly1305 (RFC 8439). libcrypto.so.3 is already a hard runtime
    /// dependency of System.Security.Cryptography on Linux, so this adds no native dependency.
    /// The span-level helpers (<see cref="InitCipher"/>, <see cref="SetKey"/>, <see cref="AeadSeal"/>,
    /// <see cref="AeadOpen"/>) take one reference on the context handle per call and hold it for the whole
    /// operation, so a packet costs one AddRef/Release, not one per native call.
    /// An EVP_CIPHER_CTX is not thread-safe: callers must not use one handle from two threads at once.
    /// </summary>
    internal static partial class LibCrypto
    {
        internal const string LibraryName = "libcrypto.so.3";

        // include/openssl/evp.h
        internal const int EVP_CTRL_AEAD_SET_IVLEN = 0x9;

        /// <summary>EVP_MAX_BLOCK_LENGTH: the most EVP_CipherFinal_ex may ever write (ChaCha20 writes 0).</summary>
        private const int EVP_MAX_BLOCK_LENGTH = 32;

        private const int ChaCha20Poly1305KeySize = 32;
        private const int ChaCha20Poly1305NonceSize = 12;
        private const int ChaCha20Poly1305TagSize = 16;

        [LibraryImport(LibraryName)]
        internal static partial SafeEvpCipherCtxHandle EVP_CIPHER_CTX_new();

        [LibraryImport(LibraryName)]
        internal static partial void EVP_CIPHER_CTX_free(nint ctx);

        /// <summary>Returns a pointer to a static, never-freed EVP_CIPHER.</summary>
        [LibraryImport(LibraryName)]
        internal static partial nint EVP_chacha20_poly1305();

        [LibraryImport(LibraryName)]
        private static unsafe partial int EVP_CipherInit_ex(nint ctx, nint cipher, nint engine, byte* key, byte* iv, int enc);

        // The per-packet calls skip the GC transition (two thread-state writes and a poll each, ~4 calls a packet):
        // they take well under the 1 us a call should stay below for that, never block and never call back into
        // .NET. Key setup and the first cipher init (which fetches from the provider store) keep the transition.
        [LibraryImport(LibraryName, EntryPoint = "EVP_CipherInit_ex")]
        [SuppressGCTransition]
        private static unsafe partial int EVP_CipherInit_ex_Nonce(nint ctx, nint cipher, nint engine, byte* key, byte* iv, int enc);

        [LibraryImport(LibraryName)]
        [SuppressGCTransition]
        private static unsafe partial int EVP_CipherUpdate(nint ctx, byte* output, int* outputLength, byte* input, int inputLength);

        [LibraryImport(LibraryName)]
        [SuppressGCTransition]
        private static unsafe partial int EVP_CipherFinal_ex(nint ctx, byte* output, int* outputLength);

        [LibraryImport(LibraryName)]
        private static unsafe partial int EVP_CIPHER_CTX_ctrl(nint ctx, int type, int arg, void* ptr);

        // The tag goes through the provider's parameters directly: EVP_CIPHER_CTX_ctrl(GET_TAG / SET_TAG) builds the
        // same one-element OSSL_PARAM array on every call and then calls these (30 ns of the 75 ns per call measured
        // with a C loop on OpenSSL 3.0; bench/aead-evp.sh).
        [LibraryImport(LibraryName)]
        [SuppressGCTransition]
        private static unsafe partial int EVP_CIPHER_CTX_get_params(nint ctx, OsslParam* parameters);

        [LibraryImport(LibraryName)]
        [SuppressGCTransition]
        private static unsafe partial int EVP_CIPHER_CTX_set_params(nint ctx, OsslParam* parameters);

        /// <summary>include/openssl/core.h <c>struct ossl_param_st</c> (40 bytes on LP64).</summary>
        [StructLayout(LayoutKind.Sequential)]
        private unsafe struct OsslParam
        {
            public byte* Key;
            public uint DataType;
            public void* Data;
            public nuint DataSize;
            public nuint ReturnSize;
        }

        private const uint OSSL_PARAM_OCTET_STRING = 5;
        private static readonly nuint OSSL_PARAM_UNMODIFIED = nuint.MaxValue;

        /// <summary>OSSL_CIPHER_PARAM_AEAD_TAG, NUL-terminated; u8 literal data lives in the image and never moves.</summary>
        private static ReadOnlySpan<byte> TagParamName => "tag\0"u8;

        // Fills params[0] with the AEAD tag parameter over `tag` and params[1] with the terminator.
        private static unsafe void TagParams(OsslParam* parameters, byte* name, byte* tag)
        {
            parameters[0] = new OsslParam { Key = name, DataType = OSSL_PARAM_OCTET_STRING, Data = tag, DataSize = ChaCha20Poly1305TagSize, ReturnSize = OSSL_PARAM_UNMODIFIED };
            parameters[1] = default;
        }

        private static readonly Lazy<bool> s_isAvailable = new(ProbeAvailability);

        /// <summary>True when libcrypto.so.3 loads and exports EVP_chacha20_poly1305 (probed once per process).</summary>
        internal static bool IsAvailable => s_isAvailable.Value;

        private static bool ProbeAvailability()
        {
            try
            {
                return EVP_chacha20_poly1305() != 0;
            }
            catch (DllNotFoundException)
            {
                return false;
            }
            catch (EntryPointNotFoundException)
            {
                return false;
            }
        }

        /// <summary>
        /// Creates a context bound to ChaCha20-Poly1305 in the given direction with a 12-byte IV and no key yet.
        /// Throws <see cref="System.Security.Cryptography.CryptographicException"/> when OpenSSL fails.
        /// </summary>
        internal static SafeEvpCipherCtxHandle CreateChaCha20Poly1305Context(bool encrypt)
        {
            SafeEvpCipherCtxHandle ctx = EVP_CIPHER_CTX_new();
            if (ctx.IsInvalid)
            {
                ctx.Dispose();
                throw new System.Security.Cryptography.CryptographicException("EVP_CIPHER_CTX_new failed.");
            }

            if (!InitCipher(ctx, EVP_chacha20_poly1305(), encrypt))
            {
                ctx.Dispose();
                throw new System.Security.Cryptography.CryptographicException("EVP_CipherInit_ex(chacha20-poly1305) failed.");
            }

            return ctx;
        }

        /// <summary>Binds <paramref name="cipher"/> and the direction, then sets the 12-byte IV length (RFC 8439 §2.8).</summary>
        internal static bool InitCipher(SafeEvpCipherCtxHandle ctx, nint cipher, bool encrypt)
        {
            bool addedRef = false;
            try
            {
                ctx.DangerousAddRef(ref addedRef);
                nint h = ctx.DangerousGetHandle();
                unsafe
                {
                    // Sound: h is a live EVP_CIPHER_CTX (reference held above); NULL key and IV are documented
                    // as "leave unset" for EVP_CipherInit_ex; SET_IVLEN passes its length in arg, ptr is unused (NULL).
                    return EVP_CipherInit_ex(h, cipher, 0, null, null, encrypt ? 1 : 0) == 1
                        && EVP_CIPHER_CTX_ctrl(h, EVP_CTRL_AEAD_SET_IVLEN, ChaCha20Poly1305NonceSize, null) == 1;
                }
            }
            finally
            {
                if (addedRef)
                {
                    ctx.DangerousRelease();
                }
            }
        }

        /// <summary>
        /// Re-keys an initialised context, keeping its cipher and direction (EVP_CipherInit_ex with NULL cipher
        /// and enc = -1). OpenSSL copies the key; the caller may wipe <paramref name="key"/> afterwards.
        /// </summary>
        internal static bool SetKey(SafeEvpCipherCtxHandle ctx, ReadOnlySpan<byte> key)
        {
            if (key.Length != ChaCha20Poly1305KeySize)
            {
                throw new ArgumentException($"Key must be {ChaCha20Poly1305KeySize} bytes.", nameof(key));
            }

            bool addedRef = false;
            try
            {
                ctx.DangerousAddRef(ref addedRef);
                nint h = ctx.DangerousGetHandle();
                unsafe
                {
                    // Sound: key is pinned for the call and is exactly the 32 bytes the cipher reads; OpenSSL
                    // copies it into the context and keeps no pointer to our buffer; the IV stays unset (NULL).
                    fixed (byte* k = key)
                    {
                        return EVP_CipherInit_ex(h, 0, 0, k, null, -1) == 1;
                    }
                }
            }
            finally
            {
                if (addedRef)
                {
                    ctx.DangerousRelease();
                }
            }
        }

        /// <summary>
        /// One AEAD encryption on an encrypt context that already has a key: sets <paramref name="nonce"/> (12 bytes),
        /// authenticates <paramref name="associatedData"/>, encrypts <paramref name="plaintext"/> into
        /// <paramref name="ciphertext"/> (same length; may be the very same memory, never partially overlapping)
        /// and writes the 16-byte tag. Returns false when any OpenSSL call fails.
        /// </summary>
        internal static bool AeadSeal(
            SafeEvpCipherCtxHandle ctx,
            ReadOnlySpan<byte> nonce,
            ReadOnlySpan<byte> plaintext,
            ReadOnlySpan<byte> associatedData,
            Span<byte> ciphertext,
            Span<byte> tag)
        {
            // The checks that make the raw pointer use below sound; the managed callers already guarantee them.
            if (nonce.Length != ChaCha20Poly1305NonceSize || ciphertext.Length != plaintext.Length || tag.Length != ChaCha20Poly1305TagSize)
            {
                throw new ArgumentException("Invalid AEAD buffer sizes.");
            }

            bool addedRef = false;
            try
            {
                ctx.DangerousAddRef(ref addedRef);
                nint h = ctx.DangerousGetHandle();
                unsafe
                {
                    // Sound: every buffer is pinned by `fixed` for the duration of the native calls, and each
                    // native call is given exactly the length of the span it reads or writes: EVP_CipherUpdate
                    // writes inputLength bytes for a stream cipher (checked via outLen), the tag parameter
                    // takes DataSize = 16 bytes into tag (16 checked above), EVP_CipherFinal_ex writes at most EVP_MAX_BLOCK_LENGTH
                    // bytes into a stack buffer of that size. Zero-length inputs are skipped so a NULL pointer from
                    // an empty span never reaches OpenSSL as data (NULL output in Update means "this is AAD").
                    byte* finalOut = stackalloc byte[EVP_MAX_BLOCK_LENGTH];
                    OsslParam* parameters = stackalloc OsslParam[2];
                    fixed (byte* n = nonce)
                    fixed (byte* p = plaintext)
                    fixed (byte* a = associatedData)
                    fixed (byte* c = ciphertext)
                    fixed (byte* t = tag)
                    fixed (byte* name = TagParamName)
                    {
                        int outLen;
                        if (EVP_CipherInit_ex_Nonce(h, 0, 0, null, n, -1) != 1)
                        {
                            return false;
                        }

                        if (associatedData.Length > 0 && EVP_CipherUpdate(h, null, &outLen, a, associatedData.Length) != 1)
                        {
                            return false;
                        }

                        if (plaintext.Length > 0
                            && (EVP_CipherUpdate(h, c, &outLen, p, plaintext.Length) != 1 || outLen != plaintext.Length))
                        {
                            return false;
                        }

                        TagParams(parameters, name, t);
                        return EVP_CipherFinal_ex(h, finalOut, &outLen) == 1
                            && EVP_CIPHER_CTX_get_params(h, parameters) == 1; // copies DataSize bytes
                    }
                }
            }
            finally
            {
                if (addedRef)
                {
                    ctx.DangerousRelease();
                }
            }
        }

        /// <summary>
        /// One AEAD decryption on a decrypt context that already has a key. Returns true only when the tag
        /// verifies. On false, <paramref name="plaintext"/> may hold unauthenticated bytes: the caller must wipe it.
        /// <paramref name="plaintext"/> may be the very same memory as <paramref name="ciphertext"/>. The context
        /// stays usable after a failure: the next call re-initialises it with a new nonce.
        /// </summary>
        internal static bool AeadOpen(
            SafeEvpCipherCtxHandle ctx,
            ReadOnlySpan<byte> nonce,
            ReadOnlySpan<byte> ciphertext,
            ReadOnlySpan<byte> associatedData,
            ReadOnlySpan<byte> tag,
            Span<byte> plaintext)
        {
            if (nonce.Length != ChaCha20Poly1305NonceSize || plaintext.Length != ciphertext.Length || tag.Length != ChaCha20Poly1305TagSize)
            {
                throw new ArgumentException("Invalid AEAD buffer sizes.");
            }

            bool addedRef = false;
            try
            {
                ctx.DangerousAddRef(ref addedRef);
                nint h = ctx.DangerousGetHandle();
                unsafe
                {
                    // Sound: as in AeadSeal, all buffers are pinned and every length passed equals the span length.
                    // The tag parameter only reads its DataSize = 16 bytes from tag (OpenSSL copies them into the context
                    // before any plaintext is written, so an in-place layout cannot clobber the tag it checks).
                    byte* finalOut = stackalloc byte[EVP_MAX_BLOCK_LENGTH];
                    OsslParam* parameters = stackalloc OsslParam[2];
                    fixed (byte* n = nonce)
                    fixed (byte* c = ciphertext)
                    fixed (byte* a = associatedData)
                    fixed (byte* t = tag)
                    fixed (byte* p = plaintext)
                    fixed (byte* name = TagParamName)
                    {
                        int outLen;
                        TagParams(parameters, name, t);
                        if (EVP_CipherInit_ex_Nonce(h, 0, 0, null, n, -1) != 1
                            || EVP_CIPHER_CTX_set_params(h, parameters) != 1)
                        {
                            return false;
                        }

                        if (associatedData.Length > 0 && EVP_CipherUpdate(h, null, &outLen, a, associatedData.Length) != 1)
                        {
                            return false;
                        }

                        if (ciphertext.Length > 0
                            && (EVP_CipherUpdate(h, p, &outLen, c, ciphertext.Length) != 1 || outLen != ciphertext.Length))
                        {
                            return false;
                        }

                        // RFC 8439 §2.8: EVP_CipherFinal_ex compares the computed tag with the one set above
                        // (constant-time, CRYPTO_memcmp) and returns 0 on mismatch.
                        return EVP_CipherFinal_ex(h, finalOut, &outLen) == 1;
                    }
                }
            }
            finally
            {
                if (addedRef)
                {
                    ctx.DangerousRelease();
                }
            }
        }
    }
}

/// <summary>
/// Owns an OpenSSL EVP_CIPHER_CTX*. Freed with EVP_CIPHER_CTX_free, which resets the context and
/// (OpenSSL 3 provider ciphers) cleanses the key material before freeing it.
/// </summary>
internal sealed class SafeEvpCipherCtxHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>Used by the [LibraryImport] marshaller for EVP_CIPHER_CTX_new's return value.</summary>
    public SafeEvpCipherCtxHandle()
        : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        Interop.LibCrypto.EVP_CIPHER_CTX_free(handle);
        return true;
    }
}
