using System.Buffers.Binary;
using System.Net;
using VeilTun.Buffers;

namespace VeilTun.Tests.Fakes;

/// <summary>Builds inner IP packets for tests.</summary>
public static class TestPackets
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

/// <summary>ICMP echo packets with correct IPv4 and ICMP checksums, for tests against real stacks.</summary>
public static class Icmp
{
    public static byte[] EchoRequest(string source, string destination, ushort id, ushort sequence, int payload = 56) =>
        Echo(source, destination, 8, id, sequence, payload);

    public static byte[] Echo(string source, string destination, byte type, ushort id, ushort sequence, int payload)
    {
        var p = TestPackets.Ipv4(source, destination, 20 + 8 + payload);
        p[9] = 1; // ICMP
        p[20] = type;
        p[21] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(24), id);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(26), sequence);
        FixChecksums(p);
        return p;
    }

    /// <summary>The reply a host would send to <paramref name="request"/>: addresses swapped, type 0.</summary>
    public static byte[] ReplyTo(byte[] request)
    {
        var p = (byte[])request.Clone();
        p.AsSpan(12, 4).CopyTo(p.AsSpan(16, 4));
        request.AsSpan(16, 4).CopyTo(p.AsSpan(12, 4));
        p[20] = 0;
        FixChecksums(p);
        return p;
    }

    public static void FixChecksums(byte[] p)
    {
        p[10] = p[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), Checksum(p.AsSpan(0, 20)));
        p[22] = p[23] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(22), Checksum(p.AsSpan(20)));
    }

    public static ushort Checksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if ((data.Length & 1) != 0) sum += (uint)data[^1] << 8;
        while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)~sum;
    }
}
