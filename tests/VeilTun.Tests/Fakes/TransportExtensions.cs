using VeilTun.Buffers;
using VeilTun.Udp;

namespace VeilTun.Tests.Fakes;

/// <summary>Byte-array conveniences over the batch transport contract, for tests that play a raw peer.</summary>
public static class TransportExtensions
{
    /// <summary>Buffers for the tests' own datagrams (never exhausted by a test: 4096 large ones).</summary>
    public static readonly BufferPools Pools = new(4096, 4096, 1420);

    /// <summary>Sends <paramref name="data"/> as one datagram; true when the transport handed it on.</summary>
    public static bool SendBytes(this IUdpTransport transport, ReadOnlySpan<byte> data, NetEndpoint to, PacketInfo source = default)
    {
        if (!Pools.Large.TryRent(out var b)) throw new InvalidOperationException("test pool exhausted");
        b.SetLength(data.Length);
        data.CopyTo(b.Data);
        return transport.Send([b], [to], [source], out _) == 1;
    }

    /// <summary>Blocks for the next datagram and returns a copy of it, or null once the transport is closed.</summary>
    public static byte[]? ReceiveBytes(this IUdpTransport transport, out NetEndpoint from)
    {
        var batch = new DatagramBatch(64);
        from = default;
        if (transport.Receive(batch, 1, Pools) == 0) return null;
        from = batch.Endpoints[0];
        var data = batch.Buffers[0].Data.ToArray();
        batch.ReturnAll();
        return data;
    }
}
