using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using VeilTun.Buffers;
using VeilTun.Tun;
using VeilTun.Udp;

namespace VeilTun.Multihop;

/// <summary>
/// The in-process link between the two devices of a multihop chain (GotaTun's <c>new_udp_tun_channel</c>):
/// the exit device's UDP transport (<see cref="CreateExitTransport"/>) and the entry device's TUN
/// (<see cref="EntryTun"/>).
/// <list type="bullet">
/// <item>Out: the exit device sends a WireGuard datagram → an IPv4/IPv6 + UDP header is written into the same
/// buffer's headroom (source = the client's address inside the entry tunnel) → the buffer is queued for the entry
/// device, which reads it as if from a TUN and seals it in place. No payload copy, no syscall.</item>
/// <item>Back: the entry device writes a decrypted IP packet → fragments are reassembled (bounded) → the IP/UDP
/// headers are checked and stripped → the buffer is queued for the exit device's UDP reader.</item>
/// </list>
/// Both queues are bounded; a full queue drops and counts (<see cref="Dropped"/>). Thread-safe.
/// </summary>
internal sealed class HopLink : IDisposable
{
    private readonly NetEndpoint _sourceV4;
    private readonly NetEndpoint _sourceV6;
    private readonly BlockingCollection<PacketBuffer> _toEntry;
    private readonly int _capacity;
    private readonly EntryTunDevice _entryTun;
    private readonly FragmentReassembler _reassembler;
    private readonly object _reassemblyLock = new();
    private readonly uint _flowLabel;
    private ExitTransport? _exit;
    private int _nextId;
    private long _dropped;
    private long _notForUs;
    private long _invalid;

    /// <summary>
    /// Creates a link. <paramref name="entryAddresses"/> are the client's addresses inside the entry tunnel (one
    /// IPv4 and/or one IPv6): the source of the wrapped datagrams and the only destination accepted back.
    /// <paramref name="entryMtu"/> is the entry device's MTU (see <see cref="MultihopMtu"/> for the exit's).
    /// </summary>
    public HopLink(string entryName, IReadOnlyList<IPAddress> entryAddresses, int entryMtu = 1420, int capacity = 1024)
    {
        ArgumentNullException.ThrowIfNull(entryName);
        ArgumentNullException.ThrowIfNull(entryAddresses);
        foreach (var a in entryAddresses)
        {
            if (a.AddressFamily == AddressFamily.InterNetwork && _sourceV4.IsNone) _sourceV4 = NetEndpoint.FromIPEndPoint(new IPEndPoint(a, 0));
            else if (a.AddressFamily == AddressFamily.InterNetworkV6 && _sourceV6.IsNone) _sourceV6 = NetEndpoint.FromIPEndPoint(new IPEndPoint(a, 0));
            else throw new ArgumentException($"at most one IPv4 and one IPv6 entry address: {a}", nameof(entryAddresses));
        }
        if (_sourceV4.IsNone && _sourceV6.IsNone) throw new ArgumentException("an entry address is required", nameof(entryAddresses));
        _capacity = capacity;
        _toEntry = new BlockingCollection<PacketBuffer>(capacity);
        _entryTun = new EntryTunDevice(this, entryName, entryMtu);
        _reassembler = new FragmentReassembler();
        _flowLabel = (uint)RandomNumberGenerator.GetInt32(1 << 20);
        _nextId = RandomNumberGenerator.GetInt32(ushort.MaxValue);
    }

    /// <summary>The entry device's TUN: give it to the entry <see cref="Device.Tunnel"/>'s options.</summary>
    public ITunDevice EntryTun => _entryTun;

    /// <summary>Packets dropped because a queue was full or the other side was closed.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Packets from the entry tunnel that were not UDP for the exit device's address and port.</summary>
    public long NotForUs => Interlocked.Read(ref _notForUs);

    /// <summary>Packets from the entry tunnel with bad headers or checksums, or datagrams that could not be wrapped.</summary>
    public long Invalid => Interlocked.Read(ref _invalid);

    /// <summary>Fragment reassembly counters.</summary>
    public FragmentReassembler Reassembler => _reassembler;

    /// <summary>
    /// Binds the exit device's transport (use as <see cref="Device.TunnelOptions.BindUdp"/>). Port 0 picks a random
    /// port. A new bind replaces the previous transport (closing it).
    /// </summary>
    public IUdpTransport CreateExitTransport(int port)
    {
        if ((uint)port > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(port));
        if (port == 0) port = RandomNumberGenerator.GetInt32(1024, 65536);
        var t = new ExitTransport(this, (ushort)port, _capacity);
        Interlocked.Exchange(ref _exit, t)?.Close();
        return t;
    }

    private void Drop(PacketBuffer b, ref long counter)
    {
        Interlocked.Increment(ref counter);
        b.Return();
    }

    // Exit → entry: wrap in place and queue for the entry device's TUN reader.
    private SendResult SendToEntry(PacketBuffer datagram, NetEndpoint to, ushort sourcePort)
    {
        var source = to.IsIPv4 ? _sourceV4 : to.IsIPv6 ? _sourceV6 : default;
        if (source.IsNone)
        {
            Drop(datagram, ref _invalid);
            return SendResult.Error;
        }
        source = source.WithPort(sourcePort);
        ushort id = (ushort)Interlocked.Increment(ref _nextId);
        if (!UdpEncapsulation.TryWrap(datagram, source, to, id, _flowLabel))
        {
            Drop(datagram, ref _invalid);
            return SendResult.Error;
        }
        if (_entryTun.IsClosed || !_toEntry.TryAdd(datagram))
        {
            Drop(datagram, ref _dropped);
            return SendResult.Error;
        }
        if (_entryTun.IsClosed) _entryTun.Drain(); // closed while we queued: nothing will read it
        return SendResult.Ok;
    }

    // Entry → exit: reassemble, check, strip and queue for the exit device's UDP reader.
    private void DeliverToExit(PacketBuffer packet)
    {
        var result = UdpEncapsulation.TryUnwrap(packet, out var from, out var to);
        if (result == UnwrapResult.Fragment)
        {
            PacketBuffer? whole;
            lock (_reassemblyLock)
            {
                if (!_reassembler.TryAdd(packet, Device.BootTimeClock.Now, out whole) || whole is null) return;
            }
            packet = whole;
            result = UdpEncapsulation.TryUnwrap(packet, out from, out to);
        }
        if (result is UnwrapResult.NotUdp)
        {
            Drop(packet, ref _notForUs);
            return;
        }
        if (result != UnwrapResult.Ok)
        {
            Drop(packet, ref _invalid);
            return;
        }
        var exit = Volatile.Read(ref _exit);
        if (exit is null || exit.IsClosed || to != (to.IsIPv4 ? _sourceV4 : _sourceV6).WithPort((ushort)exit.Port))
        {
            Drop(packet, ref _notForUs);
            return;
        }
        if (!exit.Enqueue(packet, from)) Drop(packet, ref _dropped);
    }

    /// <summary>Closes both sides and returns every queued buffer.</summary>
    public void Dispose()
    {
        _entryTun.Close();
        _exit?.Close();
        lock (_reassemblyLock) _reassembler.Clear();
    }

    private sealed class EntryTunDevice(HopLink link, string name, int mtu) : ITunDevice
    {
        private readonly CancellationTokenSource _closed = new();

        public string Name => name;

        public int Mtu => mtu;

        public bool IsUp => true;

        public bool IsClosed => _closed.IsCancellationRequested;

        public event Action<TunEvent>? Event
        {
            add { }
            remove { }
        }

        // The exit device's datagrams, wrapped in place: no copy; the buffers are the exit device's.
        public int Read(List<PacketBuffer> packets, int max, BufferPools pools)
        {
            int start = packets.Count;
            try
            {
                if (!link._toEntry.TryTake(out var first, Timeout.Infinite, _closed.Token)) return 0;
                packets.Add(first);
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
            while (packets.Count - start < max && !IsClosed && link._toEntry.TryTake(out var b)) packets.Add(b);
            return packets.Count - start;
        }

        public void Write(List<PacketBuffer> packets, BufferPools pools)
        {
            foreach (var packet in packets)
            {
                if (IsClosed) link.Drop(packet, ref link._dropped);
                else link.DeliverToExit(packet);
            }
            packets.Clear();
        }

        public void Close()
        {
            if (IsClosed) return;
            _closed.Cancel();
            Drain();
        }

        public void Drain()
        {
            while (link._toEntry.TryTake(out var b)) b.Return();
        }

        public void Dispose() => Close();
    }

    private sealed class ExitTransport(HopLink link, ushort port, int capacity) : IUdpTransport
    {
        private readonly BlockingCollection<(PacketBuffer Buffer, NetEndpoint From)> _inbox = new(capacity);
        private readonly CancellationTokenSource _closed = new();

        public int Port => port;

        public bool IsClosed => _closed.IsCancellationRequested;

        public bool Enqueue(PacketBuffer datagram, NetEndpoint from)
        {
            if (IsClosed || !_inbox.TryAdd((datagram, from))) return false;
            if (IsClosed) Drain(); // closed while we queued: nothing will read it
            return true;
        }

        private void Drain()
        {
            while (_inbox.TryTake(out var d)) d.Buffer.Return();
        }

        // Datagrams unwrapped from the entry device's packets, in the entry device's buffers: no copy.
        public int Receive(DatagramBatch batch, int max, BufferPools pools)
        {
            int start = batch.Count;
            try
            {
                if (!_inbox.TryTake(out var first, Timeout.Infinite, _closed.Token)) return 0;
                batch.Add(first.Buffer, first.From, default);
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
            while (batch.Count - start < max && !IsClosed && _inbox.TryTake(out var d)) batch.Add(d.Buffer, d.From, default);
            return batch.Count - start;
        }

        // Each datagram is wrapped in IP/UDP in its own buffer's headroom and passed on to the entry device.
        public int Send(ReadOnlySpan<PacketBuffer> datagrams, ReadOnlySpan<NetEndpoint> destinations, ReadOnlySpan<PacketInfo> sources, out bool sourceInvalid)
        {
            sourceInvalid = false;
            int sent = 0;
            for (int i = 0; i < datagrams.Length; i++)
            {
                if (IsClosed) link.Drop(datagrams[i], ref link._dropped);
                else if (link.SendToEntry(datagrams[i], destinations[i], port) == SendResult.Ok) sent++;
            }
            return sent;
        }

        public void SetFwmark(uint mark)
        {
            // The exit device's datagrams never reach a socket: the mark belongs on the entry device.
        }

        public void Close()
        {
            if (IsClosed) return;
            _closed.Cancel();
            Drain();
        }

        public void Dispose() => Close();
    }
}
