using System.Buffers.Binary;
using System.Net;

namespace VeilTun.Tests.Tun;

/// <summary>Recognises ICMP/ICMPv6 echo requests and builds the matching replies, for ping-through-TUN tests.</summary>
internal static class IcmpEcho
{
    /// <summary>True for an IPv4 ICMP echo request (RFC 792 type 8) or ICMPv6 echo request (RFC 4443 §4.1, type 128) to <paramref name="destination"/>.</summary>
    public static bool IsEchoRequest(ReadOnlySpan<byte> packet, IPAddress destination)
    {
        if (packet.Length >= 20 && packet[0] >> 4 == 4)
        {
            int headerLength = (packet[0] & 0xf) * 4;
            return packet[9] == 1 && packet.Length > headerLength && packet[headerLength] == 8
                && new IPAddress(packet[16..20]).Equals(destination);
        }

        if (packet.Length > 40 && packet[0] >> 4 == 6)
        {
            // No extension headers: ping's echo requests go straight to ICMPv6 (next header 58).
            return packet[6] == 58 && packet[40] == 128 && new IPAddress(packet[24..40]).Equals(destination);
        }

        return false;
    }

    /// <summary>The echo reply to <paramref name="request"/>: addresses swapped, type 0 / 129, checksums recomputed.</summary>
    public static byte[] Reply(ReadOnlySpan<byte> request)
    {
        byte[] reply = request.ToArray();
        if (reply[0] >> 4 == 4)
        {
            int headerLength = (reply[0] & 0xf) * 4;
            Swap(reply.AsSpan(12, 4), reply.AsSpan(16, 4));
            reply[8] = 64; // TTL
            BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(10), 0);
            BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(10), Checksum(reply.AsSpan(0, headerLength), 0));

            Span<byte> icmp = reply.AsSpan(headerLength);
            icmp[0] = 0; // echo reply (RFC 792)
            BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum(icmp, 0));
        }
        else
        {
            Swap(reply.AsSpan(8, 16), reply.AsSpan(24, 16));
            reply[7] = 64; // hop limit
            Span<byte> icmp = reply.AsSpan(40);
            icmp[0] = 129; // echo reply (RFC 4443 §4.2)
            BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], 0);
            // RFC 4443 §2.3 / RFC 8200 §8.1: the checksum covers a pseudo-header of source, destination,
            // upper-layer length and next header 58.
            uint pseudo = Sum(reply.AsSpan(8, 32)) + (uint)icmp.Length + 58;
            BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum(icmp, pseudo));
        }

        return reply;
    }

    /// <summary>A minimal IPv4 ICMP echo request (id 0, sequence 0, no data) with valid checksums.</summary>
    public static byte[] Ipv4Request(IPAddress source, IPAddress destination)
    {
        byte[] packet = new byte[28];
        packet[0] = 0x45; // version 4, 5-word header
        packet[3] = 28; // total length
        packet[8] = 64; // TTL
        packet[9] = 1; // ICMP
        source.TryWriteBytes(packet.AsSpan(12, 4), out _);
        destination.TryWriteBytes(packet.AsSpan(16, 4), out _);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), Checksum(packet.AsSpan(0, 20), 0));
        packet[20] = 8; // echo request
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), Checksum(packet.AsSpan(20), 0));
        return packet;
    }

    private static void Swap(Span<byte> a, Span<byte> b)
    {
        Span<byte> t = stackalloc byte[a.Length];
        a.CopyTo(t);
        b.CopyTo(a);
        t.CopyTo(b);
    }

    /// <summary>RFC 1071 sum of 16-bit big-endian words (odd byte padded with zero), not folded.</summary>
    private static uint Sum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }

        if (i < data.Length)
        {
            sum += (uint)data[i] << 8;
        }

        return sum;
    }

    /// <summary>RFC 1071 Internet checksum of <paramref name="data"/> plus <paramref name="initial"/>.</summary>
    private static ushort Checksum(ReadOnlySpan<byte> data, uint initial)
    {
        ulong sum = (ulong)initial + Sum(data);
        while (sum >> 16 != 0)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }

        return (ushort)~sum;
    }
}
