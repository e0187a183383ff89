using System.Buffers.Binary;
using System.Text;
using VeilTun.Crypto;
using Xunit;
using LibCrypto = VeilTun.Interop.LibCrypto;
using SystemChaCha20Poly1305 = System.Security.Cryptography.ChaCha20Poly1305;

namespace VeilTun.Tests.Crypto;

public class ChaCha20Poly1305ContextTests
{
    // RFC 8439 §2.8.2 (AEAD_CHACHA20_POLY1305 example). Its nonce (07000000 || 4041424344454647) is not
    // WireGuard-shaped, so it goes through the internal raw-nonce entry points.
    private static readonly byte[] s_rfc8439Key = Convert.FromHexString("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    private static readonly byte[] s_rfc8439Nonce = Convert.FromHexString("070000004041424344454647");
    private static readonly byte[] s_rfc8439Aad = Convert.FromHexString("50515253c0c1c2c3c4c5c6c7");
    private static readonly byte[] s_rfc8439Plaintext = Encoding.ASCII.GetBytes(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    private static readonly byte[] s_rfc8439CiphertextAndTag = Convert.FromHexString(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
        + "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        + "3ff4def08e4b7a9de576d26586cec64b6116"
        + "1ae10b594f09e26a7e902ecbd0600691");

    // RFC 8439 Appendix A.5 (ChaCha20-Poly1305 AEAD decryption). Its nonce 00000000 || 0102030405060708 is exactly
    // WireGuard's layout 00000000 || LE64(counter) with counter = 0x0807060504030201, so it tests the public API
    // including the counter's byte order.
    private const ulong A5Counter = 0x0807060504030201;
    private static readonly byte[] s_a5Key = Convert.FromHexString("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
    private static readonly byte[] s_a5Aad = Convert.FromHexString("f33388860000000000004e91");
    private static readonly byte[] s_a5CiphertextAndTag = Convert.FromHexString(
        "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb24c6cfc18755d43eea09ee94e382d26b0"
        + "bdb7b73c321b0100d4f03b7f355894cf332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
        + "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4b9166c767b804d46a59b5216cde7a4e9"
        + "9040c5a40433225ee282a1b0a06c523eaf4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
        + "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a1049e617d91d361094fa68f0ff77987130"
        + "305beaba2eda04df997b714d6c6f2c29a6ad5cb4022b02709b"
        + "eead9d67890cbb22392336fea1851f38");
    private static readonly byte[] s_a5Plaintext = Convert.FromHexString(
        "496e7465726e65742d4472616674732061726520647261667420646f63756d656e74732076616c696420666f722061206d"
        + "6178696d756d206f6620736978206d6f6e74687320616e64206d617920626520757064617465642c207265706c616365"
        + "642c206f72206f62736f6c65746564206279206f7468657220646f63756d656e747320617420616e792074696d652e20"
        + "497420697320696e617070726f70726961746520746f2075736520496e7465726e65742d447261667473206173207265"
        + "666572656e6365206d6174657269616c206f7220746f2063697465207468656d206f74686572207468616e206173202f"
        + "e2809c776f726b20696e2070726f67726573732e2fe2809d");

    /// <summary>
    /// Every implementation behind the type that this machine runs: the AVX-512 and AVX2 code (where the CPU has
    /// them), the AdvSimd code (ARM64: never on this project's x64 machines, where tests/interop/arm64.sh runs these
    /// checks and more under qemu-aarch64 instead, tests/VeilTun.Arm64Tests), the direct libcrypto EVP path and the
    /// System fallback.
    /// </summary>
    public static TheoryData<string> Backends()
    {
        var data = new TheoryData<string> { nameof(AeadBackend.OpenSsl), nameof(AeadBackend.System) };
        if (ChaCha20Poly1305Avx512.IsSupported) data.Add(nameof(AeadBackend.Avx512));
        if (ChaCha20Poly1305Avx2.IsSupported) data.Add(nameof(AeadBackend.Avx2));
        if (ChaCha20Poly1305AdvSimd.IsSupported) data.Add(nameof(AeadBackend.AdvSimd));
        return data;
    }

    private static ChaCha20Poly1305Context NewContext(string backend, ReadOnlySpan<byte> key)
    {
        var context = new ChaCha20Poly1305Context(Enum.Parse<AeadBackend>(backend));
        context.SetKey(key);
        return context;
    }

    private static byte[] SystemSeal(byte[] key, ulong counter, byte[] plaintext, byte[] associatedData)
    {
        var nonce = new byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(nonce.AsSpan(4), counter);
        var output = new byte[plaintext.Length + 16];
        using var oracle = new SystemChaCha20Poly1305(key);
        oracle.Encrypt(nonce, plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), associatedData);
        return output;
    }

    [Fact]
    public void TheFastestAvailableBackendIsTheDefaultOnLinux()
    {
        // Guards against a silent fall back to a slow path (e.g. a wrong library name) on the platform we ship. The
        // test process never selects a backend, so it runs on Auto.
        if (OperatingSystem.IsLinux())
        {
            Assert.True(LibCrypto.IsAvailable);
            using var context = new ChaCha20Poly1305Context();
            var expected = ChaCha20Poly1305Avx512.IsSupported ? AeadBackend.Avx512
                : ChaCha20Poly1305Avx2.IsSupported ? AeadBackend.Avx2
                : ChaCha20Poly1305AdvSimd.IsSupported ? AeadBackend.AdvSimd
                : AeadBackend.OpenSsl;
            Assert.Equal(expected, context.Implementation);
            Assert.Equal(expected == AeadBackend.OpenSsl ? "libcrypto" : expected.ToString().ToLowerInvariant(), ChaCha20Poly1305Context.ImplementationName);
        }
    }

    [Fact]
    public void SelectingTheBackendInUseIsAllowedAndAnotherOneIsRefused()
    {
        // The backend is fixed once the process uses it (here by ImplementationName), so this test cannot change
        // what the other tests run on.
        string name = ChaCha20Poly1305Context.ImplementationName;
        AeadBackend inUse;
        using (var context = new ChaCha20Poly1305Context()) inUse = context.Implementation;
        ChaCha20Poly1305Context.SelectBackend(AeadBackend.Auto); // resolves to the backend in use
        ChaCha20Poly1305Context.SelectBackend(inUse);
        var other = inUse == AeadBackend.System ? AeadBackend.OpenSsl : AeadBackend.System;
        if (ChaCha20Poly1305Context.IsBackendSupported(other))
            Assert.Throws<InvalidOperationException>(() => ChaCha20Poly1305Context.SelectBackend(other));
        Assert.Equal(name, ChaCha20Poly1305Context.ImplementationName);
    }

    [Fact]
    public void UnsupportedOrUndefinedBackendsAreRefused()
    {
        Assert.True(ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.Auto));
        Assert.True(ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.System));
        Assert.Equal(ChaCha20Poly1305Avx512.IsSupported, ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.Avx512));
        Assert.Equal(ChaCha20Poly1305Avx2.IsSupported, ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.Avx2));
        Assert.Equal(ChaCha20Poly1305AdvSimd.IsSupported, ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.AdvSimd));
        Assert.Equal(LibCrypto.IsAvailable, ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.OpenSsl));
        if (!ChaCha20Poly1305Avx512.IsSupported)
            Assert.Throws<PlatformNotSupportedException>(() => ChaCha20Poly1305Context.SelectBackend(AeadBackend.Avx512));
        Assert.Throws<ArgumentOutOfRangeException>(() => ChaCha20Poly1305Context.SelectBackend((AeadBackend)42));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ChaCha20Poly1305Context(AeadBackend.Auto));
    }

    [Fact]
    public void TheAdvSimdBackendRunsOnlyOnArm64AndIsRefusedElsewhere()
    {
        // AdvSimd (NEON) needs an ARM64 CPU. On x64 this test checks the refusal; the backend's own checks (RFC 8439,
        // the x64-made vectors of ChaCha20Poly1305CrossCheckVectorTests, tampering, splices) run under qemu-aarch64
        // in tests/interop/arm64.sh (tests/VeilTun.Arm64Tests), and on an ARM64 machine through Backends() here too.
        bool arm64 = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64;
        if (arm64)
        {
            Assert.Equal(System.Runtime.Intrinsics.Arm.AdvSimd.Arm64.IsSupported, ChaCha20Poly1305AdvSimd.IsSupported);
            return;
        }

        Assert.False(ChaCha20Poly1305AdvSimd.IsSupported);
        Assert.False(ChaCha20Poly1305Context.IsBackendSupported(AeadBackend.AdvSimd));
        Assert.DoesNotContain(nameof(AeadBackend.AdvSimd), ((IEnumerable<object[]>)Backends()).Select(row => (string)row[0]));
        Assert.Throws<PlatformNotSupportedException>(() => new ChaCha20Poly1305Context(AeadBackend.AdvSimd));
        Assert.Throws<PlatformNotSupportedException>(() => ChaCha20Poly1305Context.SelectBackend(AeadBackend.AdvSimd));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Rfc8439Section282VectorSealsToThePublishedCiphertextAndTag(string backend)
    {
        using var context = NewContext(backend, s_rfc8439Key);
        var output = new byte[s_rfc8439Plaintext.Length + ChaCha20Poly1305Context.TagSize];

        context.SealWithNonce(s_rfc8439Nonce, s_rfc8439Plaintext, s_rfc8439Aad, output);

        Assert.Equal(Convert.ToHexString(s_rfc8439CiphertextAndTag), Convert.ToHexString(output));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Rfc8439Section282VectorOpensToThePublishedPlaintext(string backend)
    {
        using var context = NewContext(backend, s_rfc8439Key);
        var plaintext = new byte[s_rfc8439Plaintext.Length];

        Assert.True(context.TryOpenWithNonce(s_rfc8439Nonce, s_rfc8439CiphertextAndTag, s_rfc8439Aad, plaintext));
        Assert.Equal(s_rfc8439Plaintext, plaintext);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Rfc8439AppendixA5OpensWithTheWireGuardCounterNonce(string backend)
    {
        using var context = NewContext(backend, s_a5Key);
        var plaintext = new byte[s_a5CiphertextAndTag.Length - 16];

        Assert.True(context.TryOpen(A5Counter, s_a5CiphertextAndTag, s_a5Aad, plaintext));
        Assert.Equal(s_a5Plaintext, plaintext);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Rfc8439AppendixA5SealsWithTheWireGuardCounterNonce(string backend)
    {
        using var context = NewContext(backend, s_a5Key);
        var output = new byte[s_a5Plaintext.Length + 16];

        context.Seal(A5Counter, s_a5Plaintext, s_a5Aad, output);

        Assert.Equal(Convert.ToHexString(s_a5CiphertextAndTag), Convert.ToHexString(output));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void EveryLengthFrom0To1500MatchesSystemChaCha20Poly1305AndRoundTrips(string backend)
    {
        var random = new Random(8439);
        var key = new byte[32];
        random.NextBytes(key);
        using var context = NewContext(backend, key);
        ulong[] edgeCounters = [0, 1, uint.MaxValue, (ulong)uint.MaxValue + 1, ulong.MaxValue - 1, ulong.MaxValue];

        for (int length = 0; length <= 1500; length++)
        {
            var plaintext = new byte[length];
            random.NextBytes(plaintext);
            var associatedData = new byte[random.Next(0, 3) == 0 ? 0 : random.Next(1, 65)];
            random.NextBytes(associatedData);
            ulong counter = length < edgeCounters.Length ? edgeCounters[length] : (ulong)random.NextInt64();

            var sealedText = new byte[length + 16];
            context.Seal(counter, plaintext, associatedData, sealedText);
            Assert.Equal(SystemSeal(key, counter, plaintext, associatedData), sealedText);

            var opened = new byte[length];
            Assert.True(context.TryOpen(counter, sealedText, associatedData, opened), $"length {length}");
            Assert.Equal(plaintext, opened);
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void SealInPlaceAndOpenInPlaceMatchOutOfPlace(string backend)
    {
        var random = new Random(1420);
        var key = new byte[32];
        random.NextBytes(key);
        using var context = NewContext(backend, key);

        foreach (int length in new[] { 0, 1, 63, 64, 1420 })
        {
            var plaintext = new byte[length];
            random.NextBytes(plaintext);
            var associatedData = new byte[] { 4, 0, 0, 0 };
            byte[] expected = SystemSeal(key, 77, plaintext, associatedData);

            // One buffer: plaintext in the front, room for the tag behind it (the transport message layout).
            var buffer = new byte[length + 16];
            plaintext.CopyTo(buffer, 0);
            context.Seal(77, buffer.AsSpan(0, length), associatedData, buffer);
            Assert.Equal(expected, buffer);

            Assert.True(context.TryOpen(77, buffer, associatedData, buffer.AsSpan(0, length)));
            Assert.Equal(plaintext, buffer.AsSpan(0, length).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void FlippedTagBitIsRejectedAndTheContextStillOpensTheNextPacket(string backend)
    {
        using var context = NewContext(backend, s_a5Key);
        var plaintext = new byte[s_a5Plaintext.Length];

        for (int bit = 0; bit < 16 * 8; bit += 13)
        {
            byte[] tampered = (byte[])s_a5CiphertextAndTag.Clone();
            tampered[tampered.Length - 16 + bit / 8] ^= (byte)(1 << (bit % 8));
            plaintext.AsSpan().Fill(0xAA);

            Assert.False(context.TryOpen(A5Counter, tampered, s_a5Aad, plaintext));
            Assert.All(plaintext, b => Assert.Equal(0, b));

            Assert.True(context.TryOpen(A5Counter, s_a5CiphertextAndTag, s_a5Aad, plaintext));
            Assert.Equal(s_a5Plaintext, plaintext);
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void FlippedCiphertextBitWrongCounterOrWrongAssociatedDataIsRejected(string backend)
    {
        using var context = NewContext(backend, s_a5Key);
        var plaintext = new byte[s_a5Plaintext.Length];
        byte[] tampered = (byte[])s_a5CiphertextAndTag.Clone();
        tampered[100] ^= 0x01;
        byte[] otherAad = (byte[])s_a5Aad.Clone();
        otherAad[0] ^= 0x80;

        Assert.False(context.TryOpen(A5Counter, tampered, s_a5Aad, plaintext));
        Assert.False(context.TryOpen(A5Counter + 1, s_a5CiphertextAndTag, s_a5Aad, plaintext));
        Assert.False(context.TryOpen(A5Counter, s_a5CiphertextAndTag, otherAad, plaintext));
        Assert.False(context.TryOpen(A5Counter, s_a5CiphertextAndTag, default, plaintext));
        Assert.True(context.TryOpen(A5Counter, s_a5CiphertextAndTag, s_a5Aad, plaintext));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void InPlaceOpenOfTamperedPacketZeroesTheBufferAndDoesNotThrow(string backend)
    {
        using var context = NewContext(backend, s_a5Key);
        byte[] buffer = (byte[])s_a5CiphertextAndTag.Clone();
        buffer[^1] ^= 0x40;
        int length = buffer.Length - 16;

        Assert.False(context.TryOpen(A5Counter, buffer, s_a5Aad, buffer.AsSpan(0, length)));
        Assert.All(buffer.AsSpan(0, length).ToArray(), b => Assert.Equal(0, b));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void InputShorterThanATagIsRejectedWithoutThrowing(string backend)
    {
        using var context = NewContext(backend, s_a5Key);
        for (int length = 0; length < 16; length++)
        {
            Assert.False(context.TryOpen(0, new byte[length], default, Span<byte>.Empty));
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void EmptyPlaintextProducesATagThatOpens(string backend)
    {
        var key = new byte[32];
        key[0] = 1;
        using var context = NewContext(backend, key);
        var tag = new byte[16];

        // WireGuard keepalives are empty transport payloads: the output is just the tag.
        context.Seal(5, default, default, tag);

        Assert.Equal(SystemSeal(key, 5, [], []), tag);
        Assert.True(context.TryOpen(5, tag, default, Span<byte>.Empty));
        Assert.False(context.TryOpen(6, tag, default, Span<byte>.Empty));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void SetKeyReplacesTheKeyForBothDirections(string backend)
    {
        var keyA = new byte[32];
        var keyB = new byte[32];
        keyA.AsSpan().Fill(0x11);
        keyB.AsSpan().Fill(0x22);
        byte[] plaintext = Encoding.ASCII.GetBytes("rekey");
        using var context = NewContext(backend, keyA);
        var output = new byte[plaintext.Length + 16];
        context.Seal(9, plaintext, default, output);
        Assert.Equal(SystemSeal(keyA, 9, plaintext, []), output);

        context.SetKey(keyB);
        context.Seal(9, plaintext, default, output);

        Assert.Equal(SystemSeal(keyB, 9, plaintext, []), output);
        var opened = new byte[plaintext.Length];
        Assert.True(context.TryOpen(9, output, default, opened));
        Assert.False(context.TryOpen(9, SystemSeal(keyA, 9, plaintext, []), default, opened));
    }

    [Fact]
    public void StaticOneShotHelpersMatchTheOracleAndLeaveNoKeyInTheThreadContext()
    {
        byte[] plaintext = Encoding.ASCII.GetBytes("handshake payload");
        var output = new byte[plaintext.Length + 16];

        ChaCha20Poly1305Context.Seal(s_a5Key, 0, plaintext, s_a5Aad, output);

        Assert.Equal(SystemSeal(s_a5Key, 0, plaintext, s_a5Aad), output);
        var opened = new byte[plaintext.Length];
        Assert.True(ChaCha20Poly1305Context.TryOpen(s_a5Key, 0, output, s_a5Aad, opened));
        Assert.Equal(plaintext, opened);
        output[0] ^= 1;
        Assert.False(ChaCha20Poly1305Context.TryOpen(s_a5Key, 0, output, s_a5Aad, opened));
        Assert.Throws<InvalidOperationException>(() => ChaCha20Poly1305Context.ForCurrentThread.Seal(0, plaintext, default, new byte[plaintext.Length + 16]));
    }

    [Fact]
    public void ForCurrentThreadIsStablePerThreadAndDistinctAcrossThreads()
    {
        ChaCha20Poly1305Context mine = ChaCha20Poly1305Context.ForCurrentThread;
        ChaCha20Poly1305Context? other = null;
        var thread = new Thread(() => other = ChaCha20Poly1305Context.ForCurrentThread);
        thread.Start();
        thread.Join();

        Assert.Same(mine, ChaCha20Poly1305Context.ForCurrentThread);
        Assert.NotNull(other);
        Assert.NotSame(mine, other);
    }

    [Fact]
    public void MisuseThrowsArgumentOrStateExceptions()
    {
        using var context = new ChaCha20Poly1305Context();
        var buffer = new byte[64];

        Assert.Throws<InvalidOperationException>(() => context.Seal(0, buffer.AsSpan(0, 16), default, buffer.AsSpan(0, 32)));
        Assert.Throws<ArgumentException>(() => context.SetKey(new byte[31]));
        context.SetKey(new byte[32]);
        Assert.Throws<ArgumentException>(() => context.Seal(0, buffer.AsSpan(0, 16), default, buffer.AsSpan(32, 31)));
        Assert.Throws<ArgumentException>(() => context.TryOpen(0, buffer.AsSpan(0, 32), default, buffer.AsSpan(32, 17)));
        // Shifted overlap (output one byte after the input) would read already overwritten bytes.
        Assert.Throws<ArgumentException>(() => context.Seal(0, buffer.AsSpan(0, 16), default, buffer.AsSpan(1, 32)));
        Assert.Throws<ArgumentException>(() => context.TryOpen(0, buffer.AsSpan(1, 32), default, buffer.AsSpan(0, 16)));
    }

    [Fact]
    public void DisposedContextThrowsObjectDisposedException()
    {
        var context = new ChaCha20Poly1305Context();
        context.SetKey(new byte[32]);
        context.Dispose();
        context.Dispose();

        Assert.Throws<ObjectDisposedException>(() => context.Seal(0, default, default, new byte[16]));
        Assert.Throws<ObjectDisposedException>(() => context.TryOpen(0, new byte[16], default, Span<byte>.Empty));
        Assert.Throws<ObjectDisposedException>(() => context.SetKey(new byte[32]));
    }
}
