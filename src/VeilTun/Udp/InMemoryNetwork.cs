using System.Collections.Concurrent;

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

        public int Receive(Span<byte> buffer, out NetEndpoint from, out PacketInfo localInfo)
        {
            localInfo = new PacketInfo(NetEndpoint.FromAddress(AddressOf(local), 0), 1);
            while (true)
            {
                (byte[] Data, NetEndpoint From) d;
                try
                {
                    if (!_inbox.TryTake(out d, Timeout.Infinite, _closed.Token)) break;
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                if (d.Data.Length > buffer.Length) continue;
                d.Data.CopyTo(buffer);
                from = d.From;
                return d.Data.Length;
            }
            from = default;
            return 0;
        }

        private static byte[] AddressOf(NetEndpoint e)
        {
            var a = new byte[e.AddressLength];
            e.WriteAddress(a);
            return a;
        }

        public SendResult Send(ReadOnlySpan<byte> datagram, NetEndpoint to, in PacketInfo source)
        {
            if (_closed.IsCancellationRequested) return SendResult.Error;
            var copy = datagram.ToArray();
            if (network.Filter is { } f && !f(local, to, copy)) return SendResult.Ok;
            if (!network._bound.TryGetValue(to, out var target)) return SendResult.Ok; // lost, like UDP
            target._inbox.TryAdd((copy, local));
            return SendResult.Ok;
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
