using System.Collections.Concurrent;
using VeilTun.Buffers;
using VeilTun.Noise;

namespace VeilTun.Udp;

/// <summary>
/// An in-process UDP network for tunnels that run without root (tests, demos): transports bound to addresses
/// on it exchange datagrams through bounded queues. An optional filter drops or inspects datagrams.
/// Thread-safe.
/// </summary>
public sealed class InMemoryNetwork
{
    private readonly ConcurrentDictionary<NetEndpoint, Transport> _bound = new();
    private int _nextPort = 40000;

    /// <summary>Return false to drop a datagram (from, to, bytes).</summary>
    public Func<NetEndpoint, NetEndpoint, ReadOnlyMemory<byte>, bool>? Filter { get; set; }

    /// <summary>Binds a transport to <paramref name="address"/>'s address; port 0 picks a free port.</summary>
    public IUdpTransport Bind(NetEndpoint address)
    {
        if (address.Port == 0)
        {
            address = address.WithPort((ushort)Interlocked.Increment(ref _nextPort));
        }
        var t = new Transport(this, address);
        if (!_bound.TryAdd(address, t)) throw new IOException($"address in use: {address}");
        return t;
    }

    private sealed class Transport(InMemoryNetwork network, NetEndpoint local) : IUdpTransport
    {
        private readonly BlockingCollection<(byte[] Data, NetEndpoint From)> _inbox = new(4096);
        private readonly CancellationTokenSource _closed = new();

        public int Port => local.Port;

        public int Receive(DatagramBatch batch, int max, BufferPools pools)
        {
            var localInfo = new PacketInfo(NetEndpoint.FromAddress(AddressOf(local), 0), 1);
            int start = batch.Count;
            while (batch.Count - start < max)
            {
                (byte[] Data, NetEndpoint From) d;
                try
                {
                    if (batch.Count == start)
                    {
                        if (!_inbox.TryTake(out d, Timeout.Infinite, _closed.Token)) break;
                    }
                    else if (!_inbox.TryTake(out d))
                    {
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                if (d.Data.Length == 0)
                {
                    pools.Drops.Count(DropReason.InvalidLength);
                    continue;
                }
                if (!pools.TryRentFor(d.Data.Length, out var buffer))
                {
                    pools.Drops.Count(DropReason.PoolExhausted);
                    continue;
                }
                buffer.SetLength(d.Data.Length);
                d.Data.CopyTo(buffer.Data);
                batch.Add(buffer, d.From, localInfo);
            }
            return batch.Count - start;
        }

        private static byte[] AddressOf(NetEndpoint e)
        {
            var a = new byte[e.AddressLength];
            e.WriteAddress(a);
            return a;
        }

        public int Send(ReadOnlySpan<PacketBuffer> datagrams, ReadOnlySpan<NetEndpoint> destinations, ReadOnlySpan<PacketInfo> sources, out bool sourceInvalid)
        {
            sourceInvalid = false;
            int sent = 0;
            for (int i = 0; i < datagrams.Length; i++)
            {
                var copy = datagrams[i].Data.ToArray();
                datagrams[i].Return();
                if (_closed.IsCancellationRequested) continue;
                sent++;
                var to = destinations[i];
                if (network.Filter is { } f && !f(local, to, copy)) continue;
                if (!network._bound.TryGetValue(to, out var target)) continue; // lost, like UDP
                target._inbox.TryAdd((copy, local));
            }
            return sent;
        }

        public void SetFwmark(uint mark) { }

        public void Close()
        {
            if (_closed.IsCancellationRequested) return;
            _closed.Cancel();
            network._bound.TryRemove(new KeyValuePair<NetEndpoint, Transport>(local, this));
        }

        public void Dispose() => Close();
    }
}
