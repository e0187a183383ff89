using CsCheck;
using VeilTun.Tun.Offload;
using Xunit;

namespace VeilTun.Tests.Tun.Offload;

public sealed class ChecksumTests
{
    // ---- Known answers ----

    [Fact]
    public void Rfc1071NumericalExampleSumsToDdf2()
    {
        // RFC 1071 §3 "Numerical Examples": bytes 00 01 f2 03 f4 f5 f6 f7 sum (ones-complement, folded) to dd f2.
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal(0xddf2, Checksum.Fold(Checksum.Add(data)));
        Assert.Equal(0x220d, Checksum.Compute(data));
    }

    [Fact]
    public void Ipv4HeaderExampleGivesB861()
    {
        // The IPv4 header from Wikipedia "Internet checksum" / "IPv4 header checksum" (checksum field zeroed):
        // 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
        byte[] header = Convert.FromHexString("450000730000400040110000c0a80001c0a800c7");
        Assert.Equal(0xb861, Checksum.Compute(header));
        header[10] = 0xb8;
        header[11] = 0x61;
        Assert.Equal(0xFFFF, Checksum.Fold(Checksum.Add(header))); // a receiver's check: everything sums to -0
    }

    [Fact]
    public void OddLastBytePadsWithZeroOnTheRight()
    {
        // RFC 1071 §4.1: "if (count > 0) sum += * (unsigned char *) addr;" on a big-endian machine, i.e. [b] is b00.
        Assert.Equal(0xab00, Checksum.Fold(Checksum.Add([0xab])));
        Assert.Equal(0x1234 + 0xab00, Checksum.Fold(Checksum.Add([0x12, 0x34, 0xab])));
    }

    [Fact]
    public void FoldWrapsCarriesAround()
    {
        Assert.Equal(0, Checksum.Fold(0));
        Assert.Equal(0xFFFF, Checksum.Fold(0xFFFF));
        Assert.Equal(1, Checksum.Fold(0x1_0000));
        Assert.Equal(0xFFFF, Checksum.Fold(ulong.MaxValue)); // 2^64-1 is a multiple of 0xFFFF, and not zero
        Assert.Equal(2, Checksum.Fold(0x1_0000_0001));
    }

    [Fact]
    public void PseudoHeadersMatchTheRfcLayouts()
    {
        // IPv4 (RFC 793 §3.1): src, dst, zero, protocol, TCP length.
        byte[] src4 = [10, 0, 0, 1], dst4 = [10, 0, 0, 2];
        byte[] bytes4 = [10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0x05, 0xdc];
        Assert.Equal(OffloadPackets.NaiveFold(bytes4), Checksum.Fold(Checksum.PseudoHeader(src4, dst4, 6, 1500)));

        // IPv6 (RFC 8200 §8.1): src, dst, 32-bit upper-layer length, 3 zero bytes, next header.
        byte[] src6 = Flow.V6(1), dst6 = Flow.V6(2);
        byte[] bytes6 = [.. src6, .. dst6, 0, 0, 0xff, 0xff, 0, 0, 0, 17];
        Assert.Equal(OffloadPackets.NaiveFold(bytes6), Checksum.Fold(Checksum.PseudoHeader(src6, dst6, 17, 65535)));
        Assert.Throws<ArgumentException>(() => Checksum.PseudoHeader(src4, dst6, 6, 1));
    }

    // ---- Properties against the naive reference ----

    [Fact]
    public void SumMatchesNaiveReferenceForAnyLengthAndAlignment()
    {
        Gen.Select(Gen.Byte.Array[0, 3000], Gen.Int[0, 7]).Sample((data, skip) =>
        {
            ReadOnlySpan<byte> d = data.AsSpan(Math.Min(skip, data.Length)); // misaligned starts too
            ushort expected = OffloadPackets.NaiveFold(d);
            ushort actual = Checksum.Fold(Checksum.Add(d));
            // Both fold the same integer sum with end-around carry: 0 only for all-zero data, else 1..0xFFFF.
            Assert.Equal(expected, actual);
        }, iter: 2000);
    }

    [Fact]
    public void SumsOfEvenSplitPiecesAddUp()
    {
        Gen.Select(Gen.Byte.Array[0, 2000], Gen.Int[0, 1000]).Sample((data, cut) =>
        {
            int at = Math.Min(cut * 2, data.Length & ~1);
            ulong parts = Checksum.Add(data.AsSpan(at), Checksum.Add(data.AsSpan(0, at)));
            Assert.Equal(Checksum.Fold(Checksum.Add(data)), Checksum.Fold(parts));
        }, iter: 1000);
    }

    [Fact]
    public void CopyAndAddCopiesExactlyAndSumsLikeAdd()
    {
        Gen.Select(Gen.Byte.Array[0, 3000], Gen.Int[0, 5], Gen.ULong).Sample((data, slack, initial) =>
        {
            var destination = new byte[data.Length + slack];
            destination.AsSpan().Fill(0x5a);
            ulong sum = Checksum.CopyAndAdd(data, destination, initial);
            Assert.Equal(data, destination.AsSpan(0, data.Length).ToArray());
            Assert.All(destination.AsSpan(data.Length).ToArray(), b => Assert.Equal(0x5a, b));
            Assert.Equal(Checksum.Fold(Checksum.Add(data, initial)), Checksum.Fold(sum));
        }, iter: 1000);
    }

    [Fact]
    public void CopyAndAddRejectsAShortDestination() =>
        Assert.Throws<ArgumentException>(() => Checksum.CopyAndAdd(new byte[10], new byte[9]));
}
