using VeilTun.Buffers;
using VeilTun.Noise;
using VeilTun.Packets;
using NativeSocket = VeilTun.Interop.Socket;

namespace VeilTun.Udp;

// Batches and offloads:
//   receive: one blocking receive, then whatever else is queued. With UDP_GRO the kernel hands over several
//            same-source datagrams back to back in one receive (into a large buffer); each gets its own small
//            buffer: a transport message keeps only its 16-byte header there and its sealed part is spliced onto the
//            large buffer, so the cipher opens it from where it lies straight into the small one (zero copy);
//            anything else (handshake messages, junk) is small and rare, and is copied whole.
//   send:    runs of datagrams to one destination from one source go out together; with UDP_SEGMENT support a run
//            becomes as few GSO messages as its lengths allow (GroupSegments), each datagram an iovec of its own
//            buffer (no concatenation), all in one sendmmsg.
public sealed partial class LinuxUdpSocket
{
    private long _splicedDatagrams; // written by the receiver only

    /// <summary>Datagrams of UDP GRO receives whose sealed part was spliced (not copied) so far.</summary>
    internal long SplicedDatagrams => Volatile.Read(ref _splicedDatagrams);

    [ThreadStatic] private static byte[]? t_scratch;

    [ThreadStatic] private static ReadOnlyMemory<byte>[]? t_run;

    /// <inheritdoc/>
    public int Receive(DatagramBatch batch, int max, BufferPools pools)
    {
        int start = batch.Count;
        bool wait = true;
        while (batch.Count - start < max)
        {
            if (!pools.Large.TryRent(out var buffer))
            {
                if (!wait) break;
                // Exhausted: receive into scratch and drop, so the socket never stalls (counted).
                if (ReceiveCore(t_scratch ??= new byte[BufferPools.LargeBufferSize], true, GroEnabled, out _, out _, out _, pools.Drops) == 0) break;
                pools.Drops.Count(DropReason.PoolExhausted);
                continue;
            }
            int n, segment;
            NetEndpoint from;
            PacketInfo local;
            try
            {
                n = ReceiveCore(buffer.ReadArea(), wait, GroEnabled, out from, out local, out segment, pools.Drops);
            }
            catch
            {
                buffer.Return();
                throw;
            }
            if (n <= 0)
            {
                buffer.Return();
                break;
            }
            wait = false;
            buffer.SetData(PacketBuffer.DefaultHeadroom, n);
            if (segment > 0 && segment < n)
            {
                SpliceCoalesced(buffer, segment, from, local, batch, pools);
                buffer.Return(); // the receiver's reference: it stays rented while datagrams spliced onto it live
            }
            else
            {
                batch.Add(buffer, from, local);
            }
        }
        return batch.Count - start;
    }

    // One small buffer per datagram of a GRO receive in `source` (its data: the datagrams back to back, `segment`
    // bytes each but the last). The source buffer is read-only from here on.
    private void SpliceCoalesced(PacketBuffer source, int segment, NetEndpoint from, in PacketInfo local, DatagramBatch batch, BufferPools pools)
    {
        var all = source.Data;
        for (int offset = 0; offset < all.Length; offset += segment)
        {
            int length = Math.Min(segment, all.Length - offset);
            var datagram = all.Slice(offset, length);
            if (!pools.TryRentFor(length, out var b))
            {
                pools.Drops.Count(DropReason.PoolExhausted);
                continue;
            }
            b.SetData(PacketBuffer.DefaultHeadroom, length);
            if (WireGuardMessage.IsTransportData(datagram))
            {
                datagram[..Messages.TransportHeaderSize].CopyTo(b.DataInPlace);
                b.Splice(source, source.Offset + offset + Messages.TransportHeaderSize, length - Messages.TransportHeaderSize);
                _splicedDatagrams++;
            }
            else
            {
                datagram.CopyTo(b.DataInPlace);
            }
            batch.Add(b, from, local);
        }
    }

    /// <inheritdoc/>
    public int Send(ReadOnlySpan<PacketBuffer> datagrams, ReadOnlySpan<NetEndpoint> destinations, ReadOnlySpan<PacketInfo> sources, out bool sourceInvalid)
    {
        sourceInvalid = false;
        var run = t_run ??= new ReadOnlyMemory<byte>[NativeSocket.SegmentedWindow];
        int total = 0;
        try
        {
            int start = 0;
            while (start < datagrams.Length)
            {
                int end = start + 1;
                while (end < datagrams.Length && end - start < run.Length
                       && destinations[end] == destinations[start] && sources[end] == sources[start])
                {
                    end++;
                }

                int count = end - start;
                for (int i = 0; i < count; i++) run[i] = datagrams[start + i].DataMemory;
                var result = SendSegmented(run.AsSpan(0, count), destinations[start], sources[start], out int sent);
                total += sent;
                if (result == SendResult.SourceInvalid)
                {
                    // The pinned source stopped working: forget it and let the kernel route the rest (kernel
                    // socket.c, wireguard-go sticky_linux.go).
                    sourceInvalid = true;
                    SendSegmented(run.AsSpan(sent, count - sent), destinations[start], default, out int resent);
                    total += resent;
                }
                start = end;
            }
        }
        finally
        {
            Array.Clear(run, 0, Math.Min(run.Length, datagrams.Length));
            foreach (var b in datagrams) b.Return();
        }
        return total;
    }
}
