using System.Buffers.Binary;
using System.Net;
using System.Text;
using VeilTun.Buffers;
using VeilTun.Daita;
using VeilTun.Multihop;
using VeilTun.Tun.Offload;
using VeilTun.Udp;

namespace VeilTun.Fuzz;

/// <summary>
/// Writes the seed corpora (<c>VeilTun.Fuzz seeds DIR</c>): real UAPI and wg texts, the test suite's machine
/// strings, TSO/USO super-packets, wrapped and fragmented datagrams, and engine scripts that run real handshakes.
/// Deterministic, so the committed corpus can be regenerated and reviewed. Files the campaign found interesting
/// are added next to these by hand (named <c>found-*</c>).
/// </summary>
public static class Seeds
{
    private const string KeyA = "1111111111111111111111111111111111111111111111111111111111111111";
    private const string KeyB = "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33";
    private const string Psk = "188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52";

    public static void Write(string root)
    {
        void Put(string target, string name, byte[] bytes)
        {
            Directory.CreateDirectory(Path.Combine(root, target));
            File.WriteAllBytes(Path.Combine(root, target, name), bytes);
        }
        void PutText(string target, string name, string text) => Put(target, name, Encoding.UTF8.GetBytes(text));

        // uapi: set bodies as wg(8) and the daemon's users send them.
        PutText("uapi", "setconf", $"private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\nlisten_port=12912\nfwmark=0\nreplace_peers=true\npublic_key={KeyB}\npreshared_key={Psk}\nendpoint=[abcd:23::33%2]:51820\npersistent_keepalive_interval=111\nreplace_allowed_ips=true\nallowed_ip=192.168.4.4/32\nallowed_ip=-10.0.0.0/8\npublic_key={KeyA}\nremove=true\n\n");
        PutText("uapi", "update-only", $"public_key={KeyB}\nupdate_only=true\nendpoint=198.51.100.9:1\nallowed_ip=2001:db8::/32\nallowed_ip=0.0.0.0/0\n\n");
        PutText("uapi", "daita", $"public_key={KeyB}\ndaita_enable=1\ndaita_machine=02eNptjLsNwCAQQ++yQRZImTJlRIfYBDEJA7ERJQtQ0iC+dxSIJ1mWLcv5TsLH9wMmF4KLqwkRAawk2yPR00CHX3V3j1GziWvE09NBBWg9Fjk=\ndaita_max_decoy_frac=0.5\ndaita_max_delay_frac=0.25\ndaita_max_delayed_packets=100\ndaita_min_delay_capacity=10\n\n");
        PutText("uapi", "crlf-and-errors", $"listen_port=0\r\nfwmark=0x1234\r\nprotocol_version=1\r\npublic_key={KeyA}\r\nallowed_ip=10.0.0.1/032\r\nunknown_key=1\r\n\r\n");

        // wgconfig: the wg(8) man page example and wg-quick keys.
        PutText("wgconfig", "man-example", "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nListenPort = 51820\n\n[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nEndpoint = 192.95.5.67:1234\nAllowedIPs = 10.192.122.3/32, 10.192.124.1/24\n\n[Peer]\nPublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\nEndpoint = [2607:5300:60:6b0::c05f:543]:2468\nAllowedIPs = 10.192.122.4/32, 192.168.0.0/16\n\n[Peer]\nPublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=\nEndpoint = 203.0.113.10:16384\nAllowedIPs = 10.10.10.230/32\n");
        PutText("wgconfig", "wg-quick", "# comment\n[Interface]\nAddress = 10.0.0.1/24\nDNS = 192.0.2.53\nMTU = 1380\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\nFwMark = 0x51820\nPostUp = true\n\n[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nPresharedKey = GIUVCT6VL18i6GXO8wEucvi18LWYrAMJ1drM47cPz1I=\nAllowedIPs = 0.0.0.0/0, ::/0, +192.0.2.0/24, -198.51.100.0/24\nEndpoint = [2001:db8::1%lo]:51820\nPersistentKeepalive = 25\n");

        // daita: the test suite's machine strings (byte 0 even), and the same machines as bincode (byte 0 odd).
        string[] machines =
        [
            "02eNpjYEAHjOgCAAA0AAI=",
            "02eNp1ibEJAEAIA5Nf7B3N0v1cSESwEL0m5A6YvBqSgP7WeXfM5UoBW7ICYg==",
            "02eNpti1EJACAQQzcjWEjMYCEjGsUCojiUg+Pex2CPbe0HxCz4JCVJoJvF7SEjt+qUtnY+gDUNIg==",
            "02eNptjLsNwCAQQ++yQRZImTJlRIfYBDEJA7ERJQtQ0iC+dxSIJ1mWLcv5TsLH9wMmF4KLqwkRAawk2yPR00CHX3V3j1GziWvE09NBBWg9Fjk=",
            "02eNqFjLENwCAMBP8hC2SJlKnTsVr2zBKUaVACNgiBEJxknex/Oezv9fjjRCF8mXLY4pAEbpeFJFlFqJBGA7PqWQ3spCer4l3rnvGDH6+FGlE=",
            "02eNqFjDkOgDAMBL056PkEJTVdvsY/+URKmojDmwiBUDyStbJ35DLuy5anWRrlqLTDcA0AkTXVkDt01ZAHwLFwludZeMsLLILlRRax4+lKcnrnl/8HJzqIIG0=",
            "02eNpdjr0LQVEYxt9zGES5o4myKVksFM45lEHKx0LJYDAZ5C+QRTHIaGETViYDKYPp3ijFYLj3KkmGK2WwuVwiv3rrrafnA1Jm16ijKBQ+6NRDGPJ2E0Xe6YnAD0hFD9nm/ObIHumlv4imZ3Mm8DwvtaxB0Jy1IUex0pYIIB30lhuCYkYvwW6nQFSV41R1L8vkmwlgEOONVvEaYt1SwLhdhxn8gdBgEfXU7RFmzeR9YtPPxrbqOVkLsd29XJhIJfbqRomGheLcYUWeFgxQodrq9wcP1E88/w==",
        ];
        for (int i = 0; i < machines.Length; i++)
        {
            Put("daita", $"string-{i}", [(byte)(2 * i), .. Encoding.ASCII.GetBytes(machines[i])]);
            if (!MachineCodec.TryParse(machines[i], out var m, out var error)) throw new InvalidOperationException(error);
            Put("daita", $"bincode-{i}", [(byte)(2 * i + 1), .. MachineCodec.EncodeBincode(m)]);
        }

        // offload: TSO/USO super-packets with the kernel's virtio headers, one plain packet, and GRO batches.
        var tcp4 = Tcp(v6: false, payload: 3000);
        var tcp6 = Tcp(v6: true, payload: 2500);
        var udp4 = Udp(v6: false, payload: 2800);
        var udp6 = Udp(v6: true, payload: 2000);
        Put("offload", "tso4", [0, .. Header(VirtioNetHeader.GsoTcpV4, 40, 1000, 20, 16), .. tcp4]);
        Put("offload", "tso4-splice", [2, .. Header(VirtioNetHeader.GsoTcpV4, 40, 1448, 20, 16), .. tcp4]);
        Put("offload", "tso6", [0, .. Header(VirtioNetHeader.GsoTcpV6, 60, 1200, 40, 16), .. tcp6]);
        Put("offload", "uso4", [0, .. Header(VirtioNetHeader.GsoUdpL4, 28, 1000, 20, 6), .. udp4]);
        Put("offload", "uso6", [2, .. Header(VirtioNetHeader.GsoUdpL4, 48, 700, 40, 6), .. udp6]);
        Put("offload", "plain-csum", [0, .. Header(VirtioNetHeader.GsoNone, 0, 0, 20, 16), .. Tcp(v6: false, payload: 100)]);
        Put("offload", "gro-tcp4", [1, .. Batch(Split(tcp4, Header(VirtioNetHeader.GsoTcpV4, 40, 1000, 20, 16)))]);
        Put("offload", "gro-tcp6", [1, .. Batch(Split(tcp6, Header(VirtioNetHeader.GsoTcpV6, 60, 1200, 40, 16)))]);
        Put("offload", "gro-udp", [7, .. Batch([.. Split(udp4, Header(VirtioNetHeader.GsoUdpL4, 28, 1000, 20, 6)), .. Split(udp6, Header(VirtioNetHeader.GsoUdpL4, 48, 700, 40, 6))])]);
        Put("offload", "gro-gather", [9, .. Batch(Split(tcp4, Header(VirtioNetHeader.GsoTcpV4, 40, 1000, 20, 16)))]);

        // unwrap and reassembly: wrapped datagrams as GotaTun's exit sends them, whole and fragmented.
        var ep4 = (From: Ep("192.0.2.1:51820"), To: Ep("10.64.0.1:40000"));
        var ep6 = (From: Ep("[2001:db8::1]:51820"), To: Ep("[fc00:bbbb::1]:40000"));
        var w4 = Wrap(1500, ep4.From, ep4.To, 0x1234);
        var w6 = Wrap(1400, ep6.From, ep6.To, 1);
        var small4 = Wrap(148, ep4.From, ep4.To, 2);
        Put("unwrap", "whole4", Packets(small4, w6));
        Put("unwrap", "frag4", Packets(Fragment4(w4, 576)));
        Put("unwrap", "frag6", Packets(Fragment6(w6, 512, 0xabcdef)));
        Put("reassembly", "frag4", Steps(0, Fragment4(w4, 576)));
        Put("reassembly", "frag4-reversed", Steps(0, Fragment4(w4, 400).AsEnumerable().Reverse().ToArray()));
        Put("reassembly", "frag6", Steps(0, Fragment6(w6, 512, 7)));
        Put("reassembly", "frag6-expire", Steps(11, Fragment6(w6, 512, 7)));
        Put("reassembly", "whole", Steps(0, [small4]));

        // engine: scripts (see EngineTarget.Step) that run real handshakes and traffic, then fuzz from there.
        byte[] handshake = [0, 0, 2, 3, 0, 0, 2, 1, 0, 3];
        Put("engine", "handshake", [0, .. handshake]);
        Put("engine", "handshake-psk-daita", [7, .. handshake, 7, 20, 10, 7, 200, 10]);
        Put("engine", "roaming", [8, 0, 0, 4, 4, 0, 3, 0, 0, 4, 4, 0, 1, 8, 0]);
        Put("engine", "cookie", [16, 0, 0, 2, 3, 7, 60, 10, 3, 8, 10, 0, 0, 10]);
        Put("engine", "mutated-init", [0, 0, 0, 4, 1, 2, 40, 0, 1, 3]);
        Put("engine", "mutated-transport", [0, .. handshake, 0, 0, 4, 0, 1, 20, 0, 0x80, 0, 0, 4, 2, 0, 0, 0, 40]);
        Put("engine", "made-up", [0, 6, 0, .. new byte[148], 1, 0, 6, 3, .. new byte[64], 0, 0, 6, 4, 0, .. new byte[32], 0, 0]);
        Put("engine", "rekey", [3, .. handshake, 7, 140, 0, 0, 10, 7, 141, 10, 7, 150, 10, 11, 10, 9, 0]);
    }

    private static NetEndpoint Ep(string text) => NetEndpoint.FromIPEndPoint(IPEndPoint.Parse(text));

    private static byte[] Header(byte gso, ushort headerLength, ushort gsoSize, ushort start, ushort offset)
    {
        var b = new byte[VirtioNetHeader.Size];
        new VirtioNetHeader(VirtioNetHeader.FlagNeedsChecksum, gso, headerLength, gsoSize, start, offset).Write(b);
        return b;
    }

    /// <summary>An IPv4/IPv6 TCP ACK|PSH super-packet with the pseudo-header sum in its checksum field (CHECKSUM_PARTIAL).</summary>
    private static byte[] Tcp(bool v6, int payload)
    {
        int ip = v6 ? 40 : 20;
        var p = new byte[ip + 20 + payload];
        IpHeader(p, v6, 6);
        var t = p.AsSpan(ip);
        BinaryPrimitives.WriteUInt16BigEndian(t, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(t[2..], 443);
        BinaryPrimitives.WriteUInt32BigEndian(t[4..], 1_000_000);
        BinaryPrimitives.WriteUInt32BigEndian(t[8..], 77);
        t[12] = 5 << 4;
        t[13] = 0x18;
        BinaryPrimitives.WriteUInt16BigEndian(t[14..], 65535);
        for (int i = 20; i < t.Length; i++) t[i] = (byte)i;
        Partial(p, v6, 6, ip, 16);
        return p;
    }

    private static byte[] Udp(bool v6, int payload)
    {
        int ip = v6 ? 40 : 20;
        var p = new byte[ip + 8 + payload];
        IpHeader(p, v6, 17);
        var u = p.AsSpan(ip);
        BinaryPrimitives.WriteUInt16BigEndian(u, 51820);
        BinaryPrimitives.WriteUInt16BigEndian(u[2..], 4500);
        BinaryPrimitives.WriteUInt16BigEndian(u[4..], (ushort)(8 + payload));
        for (int i = 8; i < u.Length; i++) u[i] = (byte)(i * 7);
        Partial(p, v6, 17, ip, 6);
        return p;
    }

    private static void IpHeader(byte[] p, bool v6, byte protocol)
    {
        if (v6)
        {
            p[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)(p.Length - 40));
            p[6] = protocol;
            p[7] = 64;
            IPAddress.Parse("2001:db8:2::1").TryWriteBytes(p.AsSpan(8, 16), out _);
            IPAddress.Parse("2001:db8:2::2").TryWriteBytes(p.AsSpan(24, 16), out _);
        }
        else
        {
            p[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(6), 0x4000); // DF
            p[8] = 64;
            p[9] = protocol;
            IPAddress.Parse("192.0.2.1").TryWriteBytes(p.AsSpan(12, 4), out _);
            IPAddress.Parse("192.0.2.2").TryWriteBytes(p.AsSpan(16, 4), out _);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(10), Checksum.Compute(p.AsSpan(0, 20)));
        }
    }

    private static void Partial(byte[] p, bool v6, byte protocol, int ip, int offset)
    {
        var source = v6 ? p.AsSpan(8, 16) : p.AsSpan(12, 4);
        var destination = v6 ? p.AsSpan(24, 16) : p.AsSpan(16, 4);
        ushort sum = Checksum.Fold(Checksum.PseudoHeader(source, destination, protocol, p.Length - ip));
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(ip + offset), sum);
    }

    private static List<byte[]> Split(byte[] packet, byte[] header)
    {
        VirtioNetHeader.TryRead(header, out var h);
        var sink = new ListSink();
        GsoSplitter.Split(packet, h, ref sink, out var error);
        if (error != OffloadError.None) throw new InvalidOperationException($"seed split: {error}");
        return sink.Segments;
    }

    private static byte[] Batch(IEnumerable<byte[]> packets) => packets.SelectMany(p => (byte[])[(byte)p.Length, (byte)(p.Length >> 8), .. p]).ToArray();

    private static byte[] Packets(params byte[][] packets) => Batch(packets);

    private static byte[] Steps(byte seconds, byte[][] packets) =>
        packets.SelectMany((p, i) => (byte[])[i == packets.Length - 1 ? seconds : (byte)0, (byte)p.Length, (byte)(p.Length >> 8), .. p]).ToArray();

    private static byte[] Wrap(int payload, NetEndpoint from, NetEndpoint to, ushort id)
    {
        var b = new PacketBuffer(payload + 256);
        b.Reset();
        b.SetLength(payload);
        b.Data[0] = 4;
        for (int i = 1; i < payload; i++) b.Data[i] = (byte)(i * 13);
        if (!UdpEncapsulation.TryWrap(b, from, to, id, 0x54321)) throw new InvalidOperationException("seed wrap");
        return b.Data.ToArray();
    }

    /// <summary>RFC 791 fragmentation of an IPv4 packet (20-byte header) into pieces of at most <paramref name="mtu"/>.</summary>
    private static byte[][] Fragment4(byte[] packet, int mtu)
    {
        var pieces = new List<byte[]>();
        int data = packet.Length - 20, step = (mtu - 20) / 8 * 8;
        for (int at = 0; at < data; at += step)
        {
            int n = Math.Min(step, data - at);
            var f = new byte[20 + n];
            packet.AsSpan(0, 20).CopyTo(f);
            packet.AsSpan(20 + at, n).CopyTo(f.AsSpan(20));
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(2), (ushort)f.Length);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(6), (ushort)((at / 8) | (at + n < data ? 0x2000 : 0)));
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(10), 0);
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(10), Checksum.Compute(f.AsSpan(0, 20)));
            pieces.Add(f);
        }
        return [.. pieces];
    }

    /// <summary>RFC 8200 §4.5 fragmentation of an IPv6 packet (no extension headers).</summary>
    private static byte[][] Fragment6(byte[] packet, int mtu, uint id)
    {
        var pieces = new List<byte[]>();
        int data = packet.Length - 40, step = (mtu - 48) / 8 * 8;
        for (int at = 0; at < data; at += step)
        {
            int n = Math.Min(step, data - at);
            var f = new byte[48 + n];
            packet.AsSpan(0, 40).CopyTo(f);
            f[6] = 44;
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(4), (ushort)(8 + n));
            f[40] = packet[6];
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(42), (ushort)(at | (at + n < data ? 1 : 0)));
            BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(44), id);
            packet.AsSpan(40 + at, n).CopyTo(f.AsSpan(48));
            pieces.Add(f);
        }
        return [.. pieces];
    }

    private sealed class ListSink : ISegmentSink
    {
        private byte[] _current = [];

        public List<byte[]> Segments { get; } = new();

        public bool SplicePayload => false;

        public Span<byte> NextSegment(int length) => _current = new byte[length];

        public void Commit(int length) => Segments.Add(_current[..length]);

        public void CommitSpliced(int length, int payloadOffset, int payloadLength) => throw new NotSupportedException();
    }
}
