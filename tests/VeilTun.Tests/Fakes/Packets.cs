using System.Buffers.Binary;
using System.Net;
using VeilTun.Buffers;

namespace VeilTun.Tests.Fakes;

/// <summary>Builds inner IP packets for tests.</summary>
public static class Packets
{
    /// <summary>An IPv4 UDP-ish packet of <paramref name="totalLength"/> bytes with a recognisable payload.</summary>
    public static byte[] Ipv4(string source, string destination, int totalLength = 84, byte fill = 0xab)
    {
        var p = new byte[totalLength];
        p[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)totalLength);
        p[8] = 64;
        p[9] = 17;
        IPAddress.Parse(source).TryWriteBytes(p.AsSpan(12, 4), out _);
        IPAddress.Parse(destination).TryWriteBytes(p.AsSpan(16, 4), out _);
        for (int i = 20; i < totalLength; i++) p[i] = (byte)(fill + i);
        return p;
    }

    /// <summary>An IPv6 packet of <paramref name="totalLength"/> bytes (40-byte header included).</summary>
    public static byte[] Ipv6(string source, string destination, int totalLength = 104, byte fill = 0xcd)
    {
        var p = new byte[totalLength];
        p[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)(totalLength - 40));
        p[6] = 17;
        p[7] = 64;
        IPAddress.Parse(source).TryWriteBytes(p.AsSpan(8, 16), out _);
        IPAddress.Parse(destination).TryWriteBytes(p.AsSpan(24, 16), out _);
        for (int i = 40; i < totalLength; i++) p[i] = (byte)(fill + i);
        return p;
    }

    /// <summary>Copies <paramref name="bytes"/> into a rented buffer after the default headroom.</summary>
    public static PacketBuffer Rent(PacketPool pool, ReadOnlySpan<byte> bytes)
    {
        if (!pool.TryRent(out var buffer)) throw new InvalidOperationException("test pool exhausted");
        buffer.SetLength(bytes.Length);
        bytes.CopyTo(buffer.Data);
        return buffer;
    }
}
