using System.Text;
using VeilTun.CrossCheck;
using VeilTun.Crypto;
using Xunit;

namespace VeilTun.Arm64Tests;

/// <summary>
/// The whole AEAD, on every backend this process runs (<see cref="Expectation.Backends"/>: AdvSimd, libcrypto and
/// System under qemu with AdvSimd; libcrypto and System without): RFC 8439's AEAD vectors, and the cross-check
/// vectors made on x64 (<see cref="CrossCheckVectors"/>): seal, open of the x64 ciphertext, in place, spliced, and
/// tampering rejected.
/// </summary>
public sealed class AeadTests
{
    public static TheoryData<string> Backends() => Expectation.Backends();

    private static readonly List<CrossCheckVectors.Expected> s_expected = CrossCheckVectors.Parse(CrossCheckVectors.ReadCommitted());

    private static ChaCha20Poly1305Context NewContext(string backend) => new(Enum.Parse<AeadBackend>(backend));

    // Every case on the backend the process runs (AdvSimd, or libcrypto without intrinsics), every 11th on the
    // others (cross-checks of the fallbacks): under qemu each case costs ~100x its native time, and System throws
    // (and catches) an exception per rejected message.
    private static int Stride(string backend) => backend == Expectation.Backend ? 1 : 11;

    [Fact]
    public void TheExpectedBackendsRunAndTheVectorFileIsComplete()
    {
        var backends = Backends().Select(row => (string)row.Data).ToList();
        Assert.Equal(Expectation.AdvSimdExpected, backends.Contains(nameof(AeadBackend.AdvSimd)));
        Assert.Contains(nameof(AeadBackend.OpenSsl), backends);
        Assert.Contains(nameof(AeadBackend.System), backends);
        int[] lengths = CrossCheckVectors.Lengths();
        Assert.Equal(lengths.Length, s_expected.Count);
        for (int i = 0; i < lengths.Length; i++) Assert.Equal(lengths[i], s_expected[i].Length);
    }

    // RFC 8439 §2.8.2 (raw nonce) and Appendix A.5 (its nonce is WireGuard-shaped: counter 0x0807060504030201).
    private static readonly byte[] s_282Key = Convert.FromHexString("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    private static readonly byte[] s_282Nonce = Convert.FromHexString("070000004041424344454647");
    private static readonly byte[] s_282Aad = Convert.FromHexString("50515253c0c1c2c3c4c5c6c7");
    private static readonly byte[] s_282Plaintext = Encoding.ASCII.GetBytes(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    private static readonly byte[] s_282Sealed = Convert.FromHexString(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
        + "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        + "3ff4def08e4b7a9de576d26586cec64b6116"
        + "1ae10b594f09e26a7e902ecbd0600691");
    private const ulong A5Counter = 0x0807060504030201;
    private static readonly byte[] s_a5Key = Convert.FromHexString("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
    private static readonly byte[] s_a5Aad = Convert.FromHexString("f33388860000000000004e91");
    private static readonly byte[] s_a5Sealed = Convert.FromHexString(
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

    [Theory]
    [MemberData(nameof(Backends))]
    public void Rfc8439AeadVectorsSealAndOpen(string backend)
    {
        using var context = NewContext(backend);
        context.SetKey(s_282Key);
        var output = new byte[s_282Sealed.Length];
        context.SealWithNonce(s_282Nonce, s_282Plaintext, s_282Aad, output);
        Assert.Equal(Convert.ToHexString(s_282Sealed), Convert.ToHexString(output));
        var opened = new byte[s_282Plaintext.Length];
        Assert.True(context.TryOpenWithNonce(s_282Nonce, s_282Sealed, s_282Aad, opened));
        Assert.Equal(s_282Plaintext, opened);

        context.SetKey(s_a5Key);
        var plaintext = new byte[s_a5Plaintext.Length];
        Assert.True(context.TryOpen(A5Counter, s_a5Sealed, s_a5Aad, plaintext));
        Assert.Equal(s_a5Plaintext, plaintext);
        var resealed = new byte[s_a5Sealed.Length];
        context.Seal(A5Counter, s_a5Plaintext, s_a5Aad, resealed);
        Assert.Equal(Convert.ToHexString(s_a5Sealed), Convert.ToHexString(resealed));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void EveryCaseSealsToTheX64VectorsAndOpens(string backend)
    {
        // Lengths 0..2100 and larger odd sizes up to 65535, against the tags and ciphertext hashes made on x64 (and
        // checked there against BouncyCastle); where the file has the whole ciphertext, it is opened as x64 made it.
        using var context = NewContext(backend);
        int[] lengths = CrossCheckVectors.Lengths();
        int fullCiphertexts = 0;
        for (int index = 0; index < lengths.Length; index += Stride(backend))
        {
            var c = CrossCheckVectors.Case.Make(index, lengths[index]);
            var expected = s_expected[index];
            int length = c.Plaintext.Length;
            string where = $"{backend}: case {index}, length {length}, aad {c.AssociatedData.Length}";
            Assert.Equal(expected.AadLength, c.AssociatedData.Length);
            context.SetKey(c.Key);

            var sealedText = new byte[length + 16];
            context.Seal(c.Counter, c.Plaintext, c.AssociatedData, sealedText);
            Assert.True(expected.CiphertextHash.AsSpan().SequenceEqual(CrossCheckVectors.Hash(sealedText.AsSpan(0, length))), $"ciphertext differs from x64's; {where}");
            Assert.True(expected.Tag.AsSpan().SequenceEqual(sealedText.AsSpan(length)), $"tag differs from x64's; {where}");

            var opened = new byte[length];
            Assert.True(context.TryOpen(c.Counter, sealedText, c.AssociatedData, opened), $"does not open its own seal; {where}");
            Assert.True(c.Plaintext.AsSpan().SequenceEqual(opened), $"opens to another plaintext; {where}");

            if (expected.Ciphertext is { } ciphertext)
            {
                var x64Sealed = new byte[length + 16];
                ciphertext.CopyTo(x64Sealed, 0);
                expected.Tag.CopyTo(x64Sealed, length);
                Array.Fill(opened, (byte)0x5A);
                Assert.True(context.TryOpen(c.Counter, x64Sealed, c.AssociatedData, opened), $"does not open x64's ciphertext; {where}");
                Assert.True(c.Plaintext.AsSpan().SequenceEqual(opened), $"x64's ciphertext opens to another plaintext; {where}");
                fullCiphertexts++;
            }
        }

        Assert.True(fullCiphertexts > 80 / Stride(backend), $"only {fullCiphertexts} whole ciphertexts checked");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void InPlaceSealAndOpenGiveTheSameBytes(string backend)
    {
        // The transport layout: plaintext at the front of one buffer, the tag written behind it, opened in place.
        using var context = NewContext(backend);
        int[] lengths = CrossCheckVectors.Lengths();
        for (int index = 0; index < lengths.Length; index += (index < 300 ? 1 : 7) * Stride(backend))
        {
            var c = CrossCheckVectors.Case.Make(index, lengths[index]);
            int length = c.Plaintext.Length;
            context.SetKey(c.Key);
            var buffer = new byte[length + 16];
            c.Plaintext.CopyTo(buffer, 0);
            context.Seal(c.Counter, buffer.AsSpan(0, length), c.AssociatedData, buffer);
            Assert.True(s_expected[index].Tag.AsSpan().SequenceEqual(buffer.AsSpan(length)), $"{backend}: in-place tag, case {index}");
            Assert.True(s_expected[index].CiphertextHash.AsSpan().SequenceEqual(CrossCheckVectors.Hash(buffer.AsSpan(0, length))), $"{backend}: in-place ciphertext, case {index}");
            Assert.True(context.TryOpen(c.Counter, buffer, c.AssociatedData, buffer.AsSpan(0, length)), $"{backend}: in-place open, case {index}");
            Assert.True(c.Plaintext.AsSpan().SequenceEqual(buffer.AsSpan(0, length)), $"{backend}: in-place plaintext, case {index}");
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void TamperingIsRejectedAndTheOutputZeroed(string backend)
    {
        // For every case one change: a flipped bit in the ciphertext, the tag or the associated data, or the wrong
        // counter. The open fails, writes zeros, and the context opens the untouched message right after.
        using var context = NewContext(backend);
        int[] lengths = CrossCheckVectors.Lengths();
        var random = new Random(8439);
        for (int index = 0; index < lengths.Length; index += Stride(backend))
        {
            var c = CrossCheckVectors.Case.Make(index, lengths[index]);
            int length = c.Plaintext.Length;
            context.SetKey(c.Key);
            var sealedText = new byte[length + 16];
            context.Seal(c.Counter, c.Plaintext, c.AssociatedData, sealedText);

            byte[] tampered = (byte[])sealedText.Clone();
            byte[] aad = (byte[])c.AssociatedData.Clone();
            ulong counter = c.Counter;
            switch (index % 4)
            {
                case 0 when length > 0:
                    tampered[random.Next(length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when aad.Length > 0:
                    aad[random.Next(aad.Length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 2:
                    counter ^= 1UL << random.Next(64);
                    break;
                default:
                    tampered[length + random.Next(16)] ^= (byte)(1 << random.Next(8));
                    break;
            }

            var opened = new byte[length];
            Array.Fill(opened, (byte)0xA5);
            Assert.False(context.TryOpen(counter, tampered, aad, opened), $"{backend}: tampered case {index} opened");
            Assert.True(opened.All(b => b == 0), $"{backend}: output not zeroed after a failed open, case {index}");
            Assert.True(context.TryOpen(c.Counter, sealedText, c.AssociatedData, opened), $"{backend}: case {index} no longer opens");
        }

        for (int length = 0; length < 16; length++)
            Assert.False(context.TryOpen(0, new byte[length], default, Span<byte>.Empty));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void SplicedSealEqualsTheContiguousSeal(string backend)
    {
        // A TSO segment: headers in the segment buffer, the payload read from the super-packet where it lies.
        using var context = NewContext(backend);
        int[] lengths = CrossCheckVectors.Lengths();
        var random = new Random(1368);
        int cases = 0;
        for (int index = 0; index < lengths.Length; index += (index < 600 ? 3 : 29) * Stride(backend))
        {
            var c = CrossCheckVectors.Case.Make(index, lengths[index]);
            int length = c.Plaintext.Length;
            context.SetKey(c.Key);
            int at = random.Next(0, length + 1);
            int middleLength = random.Next(0, length - at + 1);
            var superPacket = new byte[middleLength + 40];
            random.NextBytes(superPacket);
            int middleOffset = random.Next(0, 40);
            c.Plaintext.AsSpan(at, middleLength).CopyTo(superPacket.AsSpan(middleOffset));

            var buffer = new byte[length + 16];
            c.Plaintext.CopyTo(buffer, 0);
            for (int i = at; i < at + middleLength; i++) buffer[i] = (byte)~c.Plaintext[i]; // the hole must not be read
            context.SealSpliced(c.Counter, buffer, at, superPacket.AsSpan(middleOffset, middleLength));
            if (c.AssociatedData.Length == 0)
                Assert.True(s_expected[index].Tag.AsSpan().SequenceEqual(buffer.AsSpan(length)), $"{backend}: spliced tag, case {index}");
            var contiguous = new byte[length + 16];
            context.Seal(c.Counter, c.Plaintext, default, contiguous);
            Assert.True(contiguous.AsSpan().SequenceEqual(buffer), $"{backend}: case {index}, at {at}, middle {middleLength}");
            cases++;
        }

        Assert.True(cases > 200 / Stride(backend), $"only {cases} cases");
    }
}
