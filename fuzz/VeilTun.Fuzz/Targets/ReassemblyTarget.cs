using System.Buffers.Binary;
using VeilTun.Buffers;
using VeilTun.Multihop;

namespace VeilTun.Fuzz;

/// <summary>
/// IPv4/IPv6 fragment reassembly (<see cref="FragmentReassembler"/>, multihop's entry side), as a script: each step
/// is a control byte (low 4 bits: seconds to advance the clock; the timeout is 10 s, room for 4 datagrams, so
/// expiry and eviction are reachable), a 2-byte little-endian length (mod 2048) and that many packet bytes. Every
/// packet handed back must be a whole IP packet whose length fields match its length, and after
/// <see cref="FragmentReassembler.Clear"/> every pooled buffer must be back.
/// </summary>
internal static class ReassemblyTarget
{
    private static readonly PacketPool s_pool = new(FragmentReassembler.DefaultBufferSize, 64);

    public static void Run(byte[] input)
    {
        var reassembler = new FragmentReassembler(s_pool, maxDatagrams: 4, timeout: TimeSpan.FromSeconds(10));
        int outstanding = s_pool.Outstanding; // not 0 after an earlier input failed half-way
        var r = new FuzzReader(input);
        var now = TimeSpan.FromSeconds(1000);
        int steps = 0;
        while (!r.IsEmpty && steps++ < 256)
        {
            byte control = r.Byte();
            now += TimeSpan.FromSeconds(control & 0xF);
            var bytes = r.Bytes(r.UInt16() % 2048);
            if (!s_pool.TryRent(out var fragment)) throw new FuzzCheckException($"pool exhausted ({s_pool.Outstanding} outstanding)");
            fragment.SetLength(bytes.Length);
            bytes.CopyTo(fragment.Data);
            if (reassembler.TryAdd(fragment, now, out var whole))
            {
                FuzzTargets.Check(whole is not null, "TryAdd true without a packet");
                CheckWhole(whole!.Data);
                whole.Return();
            }
            else
            {
                FuzzTargets.Check(whole is null, "TryAdd false with a packet");
            }
            FuzzTargets.Check(reassembler.Count <= reassembler.MaxDatagrams, $"{reassembler.Count} datagrams held");
        }
        reassembler.Clear();
        FuzzTargets.Check(reassembler.Count == 0, "Clear left datagrams");
        FuzzTargets.Check(s_pool.Outstanding == outstanding, $"{s_pool.Outstanding - outstanding} buffers leaked");
    }

    internal static void CheckWhole(ReadOnlySpan<byte> packet)
    {
        FuzzTargets.Check(packet.Length >= 20, $"a whole packet of {packet.Length} bytes");
        int version = packet[0] >> 4;
        if (version == 4)
        {
            FuzzTargets.Check(BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) == packet.Length, "IPv4 total length does not match");
            FuzzTargets.Check((BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3FFF) == 0, "an IPv4 packet handed back as whole is still a fragment");
        }
        else
        {
            FuzzTargets.Check(version == 6 && packet.Length >= 40, "not an IP packet");
            FuzzTargets.Check(BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) + 40 == packet.Length, "IPv6 payload length does not match");
        }
    }
}
