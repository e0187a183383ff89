using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace VeilTun.Tun.Offload;

/// <summary>
/// The Internet checksum (RFC 1071): the 16-bit ones-complement of the ones-complement sum of the data taken as
/// big-endian 16-bit words, an odd last byte padded with a zero byte.
/// </summary>
/// <remarks>
/// <para>A "sum" here is an unfolded ones-complement accumulator: any <see cref="ulong"/> whose value modulo
/// 0xFFFF is the running sum of big-endian words. Sums of separate pieces can be added with <see cref="Add(ulong, ulong)"/>
/// as long as every piece but the last starts at an even offset of the checksummed region (RFC 1071 §2(C),
/// "parallel summation"); <see cref="Fold"/> reduces a sum to 16 bits and <see cref="Finish"/> gives the value
/// for the checksum field.</para>
/// <para>Speed: the data is summed as machine-order 32-bit words into 64-bit lanes, 64 bytes per step with
/// <see cref="Vector512"/> where the CPU accelerates it, then 32 with <see cref="Vector256"/>, 16 with
/// <see cref="Vector128"/> and 8 with a <see cref="ulong"/>, and byte-swapped once at the end: the ones-complement
/// sum is byte-order independent (RFC 1071 §2(B)). No carries are lost: a lane gains less than 2^32 per step and a
/// span has fewer than 2^28 steps. Stateless and thread-safe; no allocation.</para>
/// </remarks>
internal static class Checksum
{
    /// <summary>IP protocol number of TCP.</summary>
    public const byte ProtocolTcp = 6;

    /// <summary>IP protocol number of UDP.</summary>
    public const byte ProtocolUdp = 17;

    /// <summary>Adds <paramref name="data"/> (its first byte the high byte of a word) to <paramref name="sum"/>.</summary>
    public static ulong Add(ReadOnlySpan<byte> data, ulong sum = 0) => Add(sum, NetworkOrder(SumMachineOrder(data)));

    /// <summary>
    /// Copies <paramref name="source"/> to the start of <paramref name="destination"/> and adds it to
    /// <paramref name="sum"/> in the same pass (one trip through memory instead of two). The spans must not overlap.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than <paramref name="source"/>.</exception>
    public static ulong CopyAndAdd(ReadOnlySpan<byte> source, Span<byte> destination, ulong sum = 0)
    {
        if (destination.Length < source.Length)
            throw new ArgumentException("destination is shorter than source", nameof(destination));
        return Add(sum, NetworkOrder(CopyAndSumMachineOrder(source, destination)));
    }

    /// <summary>Adds two sums with end-around carry.</summary>
    public static ulong Add(ulong a, ulong b)
    {
        ulong r = a + b;
        return r < b ? r + 1 : r;
    }

    /// <summary>Folds a sum to 16 bits with end-around carry (never 0 unless the sum is 0).</summary>
    public static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32); // < 2^33
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32); // < 2^32
        sum = (sum & 0xFFFF) + (sum >> 16); // < 2^17
        sum = (sum & 0xFFFF) + (sum >> 16); // <= 0xFFFF
        return (ushort)sum;
    }

    /// <summary>The checksum field value for a sum: the ones-complement of <see cref="Fold"/>.</summary>
    public static ushort Finish(ulong sum) => (ushort)~Fold(sum);

    /// <summary>The checksum of <paramref name="data"/> alone, e.g. an IPv4 header with its checksum field zeroed.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Finish(Add(data));

    /// <summary>
    /// The pseudo-header sum for a TCP or UDP checksum: source and destination address, zero, protocol and the
    /// transport length (header + payload). Four-byte addresses give the IPv4 pseudo-header (RFC 793 §3.1,
    /// RFC 768), sixteen-byte ones the IPv6 one (RFC 8200 §8.1; its 32-bit length is the same sum for lengths
    /// below 65536, and a larger one is folded in whole).
    /// </summary>
    /// <exception cref="ArgumentException">Addresses are not both 4 or both 16 bytes.</exception>
    public static ulong PseudoHeader(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, byte protocol, int length)
    {
        if (source.Length != destination.Length || (source.Length != 4 && source.Length != 16))
            throw new ArgumentException("addresses must be both 4 or both 16 bytes", nameof(destination));
        return Add(AddressSum(source, destination), (ulong)protocol + (uint)length);
    }

    /// <summary>
    /// Sum of the two addresses alone (the part of <see cref="PseudoHeader"/> that is the same for every packet of
    /// a flow); add protocol and length with <see cref="Add(ulong, ulong)"/>.
    /// </summary>
    internal static ulong AddressSum(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination)
    {
        // Addresses are whole 32-bit big-endian words: hi16 * 2^16 + lo16 is congruent to hi16 + lo16 mod 0xFFFF.
        ulong s = 0;
        for (int i = 0; i + 4 <= source.Length; i += 4)
            s += (ulong)BinaryPrimitives.ReadUInt32BigEndian(source[i..]) + BinaryPrimitives.ReadUInt32BigEndian(destination[i..]);
        return s;
    }

    // A 16-bit folded sum of machine-order words, turned into the sum of network-order words.
    private static ushort NetworkOrder(ulong machineSum)
    {
        ushort folded = Fold(machineSum);
        return BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(folded) : folded;
    }

    // Sums 64, then 32, then 16 bytes per step with the widest vectors the CPU accelerates, then the scalar tail.
    // Vectors come from MemoryMarshal.Cast, so the loops are bounds-check free without unsafe code.
    private static ulong SumMachineOrder(ReadOnlySpan<byte> data)
    {
        ulong sum = 0;
        if (Vector512.IsHardwareAccelerated && data.Length >= 64)
        {
            ReadOnlySpan<Vector512<ulong>> vectors = MemoryMarshal.Cast<byte, Vector512<ulong>>(data);
            Vector512<ulong> low = Vector512.Create(0xFFFF_FFFFUL), acc = default, accHigh = default;
            foreach (Vector512<ulong> v in vectors)
            {
                acc += v & low;
                accHigh += v >>> 32;
            }
            sum += Vector512.Sum(acc) + Vector512.Sum(accHigh);
            data = data[(vectors.Length * 64)..];
        }
        if (Vector256.IsHardwareAccelerated && data.Length >= 32)
        {
            ReadOnlySpan<Vector256<ulong>> vectors = MemoryMarshal.Cast<byte, Vector256<ulong>>(data);
            Vector256<ulong> low = Vector256.Create(0xFFFF_FFFFUL), acc = default, accHigh = default;
            foreach (Vector256<ulong> v in vectors)
            {
                acc += v & low;
                accHigh += v >>> 32;
            }
            sum += Vector256.Sum(acc) + Vector256.Sum(accHigh);
            data = data[(vectors.Length * 32)..];
        }
        if (Vector128.IsHardwareAccelerated && data.Length >= 16)
        {
            ReadOnlySpan<Vector128<ulong>> vectors = MemoryMarshal.Cast<byte, Vector128<ulong>>(data);
            Vector128<ulong> low = Vector128.Create(0xFFFF_FFFFUL), acc = default, accHigh = default;
            foreach (Vector128<ulong> v in vectors)
            {
                acc += v & low;
                accHigh += v >>> 32;
            }
            sum += Vector128.Sum(acc) + Vector128.Sum(accHigh);
            data = data[(vectors.Length * 16)..];
        }
        return sum + SumTail(data);
    }

    private static ulong CopyAndSumMachineOrder(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ulong sum = 0;
        if (Vector512.IsHardwareAccelerated && source.Length >= 64)
        {
            ReadOnlySpan<Vector512<ulong>> from = MemoryMarshal.Cast<byte, Vector512<ulong>>(source);
            Span<Vector512<ulong>> to = MemoryMarshal.Cast<byte, Vector512<ulong>>(destination)[..from.Length];
            Vector512<ulong> low = Vector512.Create(0xFFFF_FFFFUL), acc = default, accHigh = default;
            for (int k = 0; k < from.Length; k++)
            {
                Vector512<ulong> v = from[k];
                to[k] = v;
                acc += v & low;
                accHigh += v >>> 32;
            }
            sum += Vector512.Sum(acc) + Vector512.Sum(accHigh);
            source = source[(from.Length * 64)..];
            destination = destination[(from.Length * 64)..];
        }
        if (Vector256.IsHardwareAccelerated && source.Length >= 32)
        {
            ReadOnlySpan<Vector256<ulong>> from = MemoryMarshal.Cast<byte, Vector256<ulong>>(source);
            Span<Vector256<ulong>> to = MemoryMarshal.Cast<byte, Vector256<ulong>>(destination)[..from.Length];
            Vector256<ulong> low = Vector256.Create(0xFFFF_FFFFUL), acc = default, accHigh = default;
            for (int k = 0; k < from.Length; k++)
            {
                Vector256<ulong> v = from[k];
                to[k] = v;
                acc += v & low;
                accHigh += v >>> 32;
            }
            sum += Vector256.Sum(acc) + Vector256.Sum(accHigh);
            source = source[(from.Length * 32)..];
            destination = destination[(from.Length * 32)..];
        }
        if (Vector128.IsHardwareAccelerated && source.Length >= 16)
        {
            ReadOnlySpan<Vector128<ulong>> from = MemoryMarshal.Cast<byte, Vector128<ulong>>(source);
            Span<Vector128<ulong>> to = MemoryMarshal.Cast<byte, Vector128<ulong>>(destination)[..from.Length];
            Vector128<ulong> low = Vector128.Create(0xFFFF_FFFFUL), acc = default, accHigh = default;
            for (int k = 0; k < from.Length; k++)
            {
                Vector128<ulong> v = from[k];
                to[k] = v;
                acc += v & low;
                accHigh += v >>> 32;
            }
            sum += Vector128.Sum(acc) + Vector128.Sum(accHigh);
            source = source[(from.Length * 16)..];
            destination = destination[(from.Length * 16)..];
        }
        source.CopyTo(destination);
        return sum + SumTail(source);
    }

    // Scalar path: 8 bytes per step as two 32-bit halves, then the last 0-7 bytes.
    private static ulong SumTail(ReadOnlySpan<byte> data)
    {
        ulong a = 0, b = 0;
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(data);
        for (int k = 0; k < words.Length; k++)
        {
            ulong x = words[k];
            a += (uint)x;
            b += x >> 32;
        }
        int i = words.Length * 8;
        if (i + 4 <= data.Length)
        {
            a += MemoryMarshal.Read<uint>(data[i..]);
            i += 4;
        }
        if (i + 2 <= data.Length)
        {
            a += MemoryMarshal.Read<ushort>(data[i..]);
            i += 2;
        }
        if (i < data.Length)
        {
            // RFC 1071 §4.1: an odd last byte is the high byte of a word whose low byte is zero.
            a += BitConverter.IsLittleEndian ? data[i] : (uint)data[i] << 8;
        }
        return a + b;
    }
}
