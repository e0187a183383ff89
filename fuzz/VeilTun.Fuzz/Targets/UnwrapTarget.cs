using VeilTun.Buffers;
using VeilTun.Multihop;
using VeilTun.Udp;

namespace VeilTun.Fuzz;

/// <summary>
/// Multihop unwrap: packets from the entry tunnel, each a 2-byte little-endian length (mod 2048) and its bytes, go
/// through what <see cref="HopLink"/> does with them (<see cref="UdpEncapsulation.TryUnwrap"/>; a fragment to a
/// <see cref="FragmentReassembler"/> and the whole datagram unwrapped again), on a fixed clock. A datagram that
/// unwraps must wrap again into a packet that unwraps to the same endpoints and payload; no buffer may leak.
/// </summary>
internal static class UnwrapTarget
{
    private static readonly PacketPool s_pool = new(FragmentReassembler.DefaultBufferSize, 64);

    public static void Run(byte[] input)
    {
        var reassembler = new FragmentReassembler(s_pool, maxDatagrams: 4);
        int outstanding = s_pool.Outstanding; // not 0 after an earlier input failed half-way
        var r = new FuzzReader(input);
        var now = TimeSpan.FromSeconds(1000);
        int steps = 0;
        while (!r.IsEmpty && steps++ < 256)
        {
            var bytes = r.Bytes(r.UInt16() % 2048);
            if (!s_pool.TryRent(out var packet)) throw new FuzzCheckException($"pool exhausted ({s_pool.Outstanding} outstanding)");
            packet.SetLength(bytes.Length);
            bytes.CopyTo(packet.Data);
            var result = UdpEncapsulation.TryUnwrap(packet, out var from, out var to);
            if (result == UnwrapResult.Fragment)
            {
                FuzzTargets.Check(packet.Length == bytes.Length, "a fragment's buffer was changed");
                if (!reassembler.TryAdd(packet, now, out var whole) || whole is null) continue;
                packet = whole;
                ReassemblyTarget.CheckWhole(packet.Data);
                // Still a fragment: an IPv6 atomic fragment whose next header is another fragment header comes back
                // with the outer one removed. HopLink counts anything but Ok and NotUdp here as invalid and drops it.
                result = UdpEncapsulation.TryUnwrap(packet, out from, out to);
            }
            if (result == UnwrapResult.Ok) CheckRoundTrip(packet, from, to);
            else FuzzTargets.Check(from.IsNone && to.IsNone, $"endpoints set with {result}");
            packet.Return();
        }
        reassembler.Clear();
        FuzzTargets.Check(s_pool.Outstanding == outstanding, $"{s_pool.Outstanding - outstanding} buffers leaked");
    }

    private static void CheckRoundTrip(PacketBuffer datagram, NetEndpoint from, NetEndpoint to)
    {
        FuzzTargets.Check(!from.IsNone && !to.IsNone, "Ok without endpoints");
        if (from.IsIPv4 != to.IsIPv4) return; // a v4-mapped IPv6 source comes back as IPv4: cannot be wrapped as is
        byte[] payload = datagram.Data.ToArray();
        if (!s_pool.TryRent(out var copy)) throw new FuzzCheckException("pool exhausted");
        try
        {
            copy.SetLength(payload.Length);
            payload.CopyTo(copy.Data);
            FuzzTargets.Check(UdpEncapsulation.TryWrap(copy, from, to, 7, 0x12345), "an unwrapped datagram does not wrap");
            FuzzTargets.Check(UdpEncapsulation.TryUnwrap(copy, out var from2, out var to2) == UnwrapResult.Ok, "a wrapped datagram does not unwrap");
            FuzzTargets.Check(from2 == from && to2 == to, "endpoints changed in a round trip");
            FuzzTargets.Check(copy.Data.SequenceEqual(payload), "payload changed in a round trip");
        }
        finally
        {
            copy.Return();
        }
    }
}
