using System.Buffers.Binary;
using System.Text;
using VeilTun.Buffers;
using VeilTun.Packets;
using LibcIo = VeilTun.Interop.LibcIo;
using NativeSocket = VeilTun.Interop.Socket;
using NativeTun = VeilTun.Interop.Tun;
using Netlink = VeilTun.Interop.Netlink;

namespace VeilTun.Tun;

/// <summary>
/// A Linux TUN interface (Documentation/networking/tuntap.rst) with a netlink link monitor.
/// </summary>
/// <remarks>
/// <para>
/// Namespaces: the device is created in the network namespace of the thread that calls
/// <see cref="Create(string, int, TunOptions)"/>; every member may be used from any thread afterwards. Its control
/// and netlink sockets are opened wherever the interface lives: there too, or, for an adopted descriptor whose
/// interface lives elsewhere, in that namespace (TUNGETDEVNETNS). When the interface is moved
/// (<c>ip link set IF netns NS</c>) the monitor follows it (LinuxTun.Namespace.cs): events, <see cref="IsUp"/> and
/// <see cref="SetMtu"/> keep working, and sockets the caller creates (the tunnel's UDP socket) stay where they are.
/// </para>
/// <para>
/// Link state: like wireguard-go's <c>CreateTUN</c>, this class sets the MTU but never brings the link up; that is
/// left to ip(8) / wg-quick. Events mirror wireguard-go's <c>routineNetlinkListener</c> but are de-duplicated:
/// <see cref="TunEventKind.Up"/>/<see cref="TunEventKind.Down"/> fire when "IFF_UP and IFF_RUNNING" changes,
/// <see cref="TunEventKind.MtuChanged"/> when IFLA_MTU changes (also after <see cref="SetMtu"/>), and
/// <see cref="TunEventKind.Deleted"/> on RTM_DELLINK for this interface. Read <see cref="IsUp"/> after subscribing
/// for the state at that time. If the kernel drops notifications (ENOBUFS) the state is re-read by ioctl and the
/// differences are reported. A move reports no event of its own: the kernel takes the link down first (Down), and
/// the state in the new namespace is compared with the last reported one.
/// </para>
/// <para>
/// Blocking: the descriptor is non-blocking; <see cref="Read(Span{byte})"/> tries read(2) first and only waits in poll(2)
/// (on the TUN descriptor and an eventfd) when nothing is queued, so a busy reader makes one syscall per packet.
/// <see cref="Close"/> signals the eventfd, which wakes every blocked reader (closing a descriptor under a blocked
/// read is not reliable on Linux).
/// </para>
/// </remarks>
public sealed partial class LinuxTun : ITunDevice
{
    /// <summary>Default MTU: wireguard-go's DefaultMTU, 1500 minus 80 bytes of IPv6 + UDP + WireGuard overhead.</summary>
    public const int DefaultMtu = 1420;

    // drivers/net/tun.c: MIN_MTU 68 (ETH_MIN_MTU), MAX_MTU 65535.
    private const int MinimumMtu = 68;
    private const int MaximumMtu = 65535;

    // tun_pi (4) + up to 28 bytes of vnet header: covers virtio_net_hdr (10), _mrg_rxbuf (12), _v1_hash (20) and
    // _v1_hash_tunnel (24). TUNSETVNETHDRSZ has no upper bound; larger sizes are refused (NotSupportedException).
    private const int MaxHeaderLength = 32;

    private const int IfUpAndRunning = NativeTun.IFF_UP | NativeTun.IFF_RUNNING;

    private readonly SafeFdHandle _tun;
    private readonly SafeFdHandle _wake; // eventfd signalled once by Close()
    private readonly Thread? _monitor;
    private readonly (ulong, ulong) _homeNamespace; // identity of the creating thread's namespace (default: unknown)
    private readonly int _headerLength; // bytes in front of the IP header on the descriptor
    private readonly bool _packetInfo; // the descriptor carries struct tun_pi (no IFF_NO_PI)
    private readonly int _vnetHeaderLength; // virtio_net_hdr size after tun_pi, 0 without IFF_VNET_HDR

    private volatile string _name;
    private volatile int _mtu;
    private volatile bool _up;
    private volatile bool _deleted;
    private volatile bool _inOtherNamespace;
    private volatile LinkWatch _watch; // control + netlink sockets where the interface lives; replaced on a move
    private (ulong, ulong) _probedNamespace; // monitor thread only: the namespace polled or probed, not entered
    private WatchMode _reportedMode; // monitor thread only: the way of following last reported (Home at first)
    private int _closed;
    private int _reportedMtu; // monitor thread only

    private LinuxTun(SafeFdHandle tun, string name, short flags, int vnetHeaderLength, int mtuToSet, bool requireMonitor)
    {
        _tun = tun;
        _name = name;
        _packetInfo = (flags & NativeTun.IFF_NO_PI) == 0;
        _vnetHeaderLength = (flags & NativeTun.IFF_VNET_HDR) != 0 ? vnetHeaderLength : 0;
        _headerLength = (_packetInfo ? NativeTun.PacketInfoLength : 0) + _vnetHeaderLength;
        if (_headerLength > MaxHeaderLength)
        {
            throw new NotSupportedException($"vnet header of {vnetHeaderLength} bytes is not supported");
        }

        SafeFdHandle? wake = null;
        LinkWatch? watch = null;
        try
        {
            wake = LibcIo.CreateEventFd(out int errno);
            if (wake.IsInvalid)
            {
                throw LibcIo.ErrnoException("eventfd", errno);
            }

            using (SafeFdHandle own = Interop.TunNamespace.OpenThreadNamespace(out _))
            {
                if (!own.IsInvalid && Interop.TunNamespace.TryGetIdentity(own, out var id))
                {
                    _homeNamespace = id;
                }
            }

            // Usually the interface is where we are; an adopted descriptor's may live in another namespace.
            watch = OpenInitialWatch(tun, name, requireMonitor, out bool otherNamespace);
            _inOtherNamespace = otherNamespace;
            if (watch.Control is { } control)
            {
                if (mtuToSet > 0)
                {
                    SetMtuCore(control, name, mtuToSet);
                }

                int rc = ReadLinkState(control, name, out int linkFlags, out int mtu);
                if (rc < 0)
                {
                    throw LibcIo.ErrnoException($"SIOCGIFFLAGS/SIOCGIFMTU({name})", -rc);
                }

                _up = (linkFlags & IfUpAndRunning) == IfUpAndRunning;
                _mtu = mtu;
                _reportedMtu = mtu;
            }
            else
            {
                // Out of reach: assume up until the probe says otherwise (as wireguard-go), MTU unknown.
                _up = true;
                _mtu = _reportedMtu = mtuToSet > 0 ? mtuToSet : DefaultMtu;
            }

            _wake = wake;
            _watch = watch;
        }
        catch
        {
            watch?.Dispose();
            wake?.Dispose();
            throw;
        }

        if (_watch.Netlink is not null || _watch.Control is null)
        {
            _monitor = new Thread(MonitorLoop) { IsBackground = true, Name = "VeilTun tun monitor " + name };
            _monitor.Start();
        }
    }

    /// <inheritdoc/>
    public string Name => _name;

    /// <inheritdoc/>
    public int Mtu => _mtu;

    /// <summary>
    /// Kernel interface index in the namespace the interface lives in (fixed while it stays there; a move may
    /// change it); 0 when that namespace is out of reach.
    /// </summary>
    public int InterfaceIndex => _watch.Index;

    /// <summary>
    /// True while the interface is IFF_UP and IFF_RUNNING: read from the kernel now (one ioctl in the namespace the
    /// interface lives in), or as last observed when that is not possible (closed, moving, or out of reach).
    /// </summary>
    public bool IsUp
    {
        get
        {
            if (Volatile.Read(ref _closed) != 0 || _deleted) return false;
            try
            {
                return _watch.Control is { } control && ReadLinkState(control, _name, out int flags, out _) == 0
                    ? (flags & IfUpAndRunning) == IfUpAndRunning
                    : _up;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }
    }

    /// <summary>True when a netlink monitor delivers <see cref="Event"/>s (false if netlink was unavailable).</summary>
    public bool IsMonitored => _monitor is not null;

    /// <summary>True when the descriptor carries a virtio_net_hdr (see <see cref="TunOptions.VnetHeader"/>).</summary>
    public bool HasVnetHeader => _vnetHeaderLength > 0;

    private readonly object _eventGate = new();
    private Action<TunEvent>? _event;
    private TunEvent? _watchEvent; // the last Watching/WatchDegraded raised: told to handlers that subscribe later

    /// <inheritdoc/>
    /// <remarks>A handler that subscribes after the interface was found in another namespace is told at once how it
    /// is followed (the last <see cref="TunEventKind.Watching"/> or <see cref="TunEventKind.WatchDegraded"/>): the
    /// daemon's UAPI socket exists before its tunnel subscribes, so a move could otherwise come unseen in between.</remarks>
    public event Action<TunEvent>? Event
    {
        add
        {
            lock (_eventGate)
            {
                _event += value;
                if (_watchEvent is { } watch && value is not null) value(watch);
            }
        }
        remove
        {
            lock (_eventGate) _event -= value;
        }
    }

    /// <summary>
    /// Creates (or attaches to) TUN interface <paramref name="name"/> with IFF_TUN | IFF_NO_PI and sets its MTU.
    /// The link is left down. Needs CAP_NET_ADMIN. See <see cref="Create(string, int, TunOptions)"/>.
    /// </summary>
    public static LinuxTun Create(string name, int mtu = DefaultMtu) => Create(name, mtu, TunOptions.Default);

    /// <summary>
    /// Creates (or attaches to) TUN interface <paramref name="name"/> in the calling thread's network namespace,
    /// sets its MTU, leaves the link down and starts the link monitor.
    /// </summary>
    /// <param name="name">At most 15 bytes; "" or a pattern such as "wg%d" lets the kernel choose
    /// (<see cref="Name"/> has the result).</param>
    /// <param name="mtu">68..65535.</param>
    /// <param name="options">Device options.</param>
    /// <exception cref="UnauthorizedAccessException">Without CAP_NET_ADMIN.</exception>
    /// <exception cref="IOException">Other kernel errors (HResult = errno), e.g. EBUSY when the name is taken.</exception>
    public static LinuxTun Create(string name, int mtu, TunOptions options)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        if (NativeTun.NameByteCount(name) > NativeTun.IFNAMSIZ - 1)
        {
            throw new ArgumentException($"interface names are at most {NativeTun.IFNAMSIZ - 1} bytes", nameof(name));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, MinimumMtu);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(mtu, MaximumMtu);

        short flags = NativeTun.IFF_TUN | NativeTun.IFF_NO_PI;
        if (options.VnetHeader || options.Offloads)
        {
            flags |= NativeTun.IFF_VNET_HDR;
        }

        SafeFdHandle fd = NativeTun.OpenTun(name, flags, out string actualName);
        try
        {
            // A new descriptor starts with no offloads (TUNSETOFFLOAD never called), so with IFF_VNET_HDR the
            // kernel only ever hands us GSO_NONE packets with complete checksums — unless offloads are asked for.
            bool offloads = false, udpOffloads = false;
            if (options.Offloads)
            {
                EnableOffloads(fd, out offloads, out udpOffloads);
            }
            var tun = new LinuxTun(fd, actualName, flags, NativeTun.VirtioNetHdrLength, mtu, requireMonitor: true);
            tun.OffloadsEnabled = offloads;
            tun.UdpOffloadsEnabled = udpOffloads;
            tun.CoalesceUdp6 = options.CoalesceUdp6;
            return tun;
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Adopts an open TUN descriptor (WG_TUN_FD, or a host-provided descriptor such as Android's VpnService).
    /// The name comes from TUNGETIFF; O_NONBLOCK is set on the descriptor; the MTU is left as it is. IFF_VNET_HDR
    /// is detected and handled transparently (offloads are turned off with TUNSETOFFLOAD 0). If netlink is
    /// unavailable (sandboxes) the device works without events.
    /// </summary>
    /// <param name="fd">The descriptor; owned by the returned object (closed by <see cref="Close"/>). Left open if
    /// this method throws.</param>
    /// <param name="packetInformation">true if the descriptor was opened without IFF_NO_PI, so every packet on it
    /// carries a 4-byte struct tun_pi (stripped on read, added on write). This cannot be detected: TUNGETIFF ORs
    /// in IFF_NOFILTER, which has the same value (0x1000) as IFF_NO_PI (drivers/net/tun.c). The default, false,
    /// matches wireguard-go's CreateTUNFromFile and Android, which use IFF_NO_PI.</param>
    /// <exception cref="ArgumentException">Not a TUN descriptor attached to an interface, or a TAP device.</exception>
    public static LinuxTun FromFileDescriptor(int fd, bool packetInformation = false) =>
        FromFileDescriptor(fd, TunOptions.Default, packetInformation);

    /// <summary>
    /// Adopts an open TUN descriptor as <see cref="FromFileDescriptor(int, bool)"/> does, but with
    /// <paramref name="options"/>: if the descriptor has IFF_VNET_HDR and <see cref="TunOptions.Offloads"/> is set,
    /// the offloads are turned on as by <see cref="Create(string, int, TunOptions)"/> (wireguard-go does the same
    /// with an adopted descriptor); otherwise they are turned off. <see cref="TunOptions.VnetHeader"/> is ignored
    /// (the descriptor's flags decide).
    /// </summary>
    public static LinuxTun FromFileDescriptor(int fd, TunOptions options, bool packetInformation = false)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        var handle = new SafeFdHandle(fd, ownsHandle: true);
        try
        {
            NativeTun.IfReq ifr = default;
            int rc = NativeTun.IfReqIoctl(handle, NativeTun.TUNGETIFF, ref ifr);
            if (rc < 0)
            {
                throw new ArgumentException($"descriptor {fd} is not an attached TUN device: {LibcIo.Describe(-rc)}", nameof(fd));
            }

            // Bit 0x1000 of the answer is IFF_NOFILTER or IFF_NO_PI, indistinguishable: the caller tells us.
            short flags = (short)(ifr.Flags & ~NativeTun.IFF_NO_PI);
            if (!packetInformation)
            {
                flags |= NativeTun.IFF_NO_PI;
            }

            if ((flags & NativeTun.IFF_TUN) == 0)
            {
                throw new ArgumentException($"descriptor {fd} is a TAP device, not TUN", nameof(fd));
            }

            rc = LibcIo.SetNonBlocking(handle);
            if (rc < 0)
            {
                throw LibcIo.ErrnoException("fcntl(O_NONBLOCK)", -rc);
            }

            int vnetHeaderLength = 0;
            bool offloads = false, udpOffloads = false;
            if ((flags & NativeTun.IFF_VNET_HDR) != 0)
            {
                rc = NativeTun.IntIoctl(handle, NativeTun.TUNGETVNETHDRSZ, ref vnetHeaderLength);
                if (rc < 0)
                {
                    throw LibcIo.ErrnoException("TUNGETVNETHDRSZ", -rc);
                }

                if (options.Offloads)
                {
                    EnableOffloads(handle, out offloads, out udpOffloads);
                }

                // Without offloads every packet is a complete, checksummed GSO_NONE packet.
                rc = offloads ? 0 : NativeTun.ValueIoctl(handle, NativeTun.TUNSETOFFLOAD, 0);
                if (rc < 0)
                {
                    throw LibcIo.ErrnoException("TUNSETOFFLOAD(0)", -rc);
                }
            }

            var tun = new LinuxTun(handle, NativeTun.GetName(ifr), flags, vnetHeaderLength, mtuToSet: 0, requireMonitor: false);
            tun.OffloadsEnabled = offloads;
            tun.UdpOffloadsEnabled = udpOffloads;
            tun.CoalesceUdp6 = options.CoalesceUdp6;
            return tun;
        }
        catch
        {
            // The caller keeps ownership when we fail.
            handle.SetHandleAsInvalid();
            handle.Dispose();
            throw;
        }
    }

    /// <summary>True when the kernel accepted TUNSETOFFLOAD (see <see cref="TunOptions.Offloads"/>).</summary>
    public bool OffloadsEnabled { get; private set; }

    /// <summary>
    /// True when the kernel also accepted UDP segmentation offload (TUN_F_USO4|TUN_F_USO6, Linux 6.2+): it may hand
    /// over USO super-packets and takes GSO_UDP_L4 super-packets back.
    /// </summary>
    public bool UdpOffloadsEnabled { get; private set; }

    /// <summary>
    /// Writes a coalesced super-packet in one writev: <paramref name="headerAndHead"/> (virtio_net_hdr and the head
    /// packet) then the merged payloads, each in its PacketBuffer's memory. Drops on EIO etc.
    /// </summary>
    private void WriteVnetGather(ReadOnlySpan<byte> headerAndHead, ReadOnlySpan<(NativeBufferMemory Memory, int Offset, int Length)> payloads)
    {
        if (_vnetHeaderLength == 0 || _packetInfo) throw new InvalidOperationException("not in offload mode");
        if (Volatile.Read(ref _closed) != 0) return;
        try
        {
            LibcIo.WriteGather(_tun, headerAndHead, payloads);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Writes a packet (or coalesced super-packet) that starts with its virtio_net_hdr. Drops on EIO etc.</summary>
    private void WriteVnet(ReadOnlySpan<byte> headerAndPacket)
    {
        if (_vnetHeaderLength == 0 || _packetInfo) throw new InvalidOperationException("not in offload mode");
        if (Volatile.Read(ref _closed) != 0) return;
        try
        {
            LibcIo.Write(_tun, headerAndPacket);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Blocks until a packet is available and copies it to <paramref name="packet"/>, starting at the IP header.
    /// Returns its length, or 0 once <see cref="Close"/> was called or the device went away. Packets longer than
    /// <paramref name="packet"/> are dropped, so pass at least <see cref="Mtu"/> bytes (65535 is always enough).
    /// The single-packet primitive behind <see cref="Read(List{PacketBuffer}, int, BufferPools)"/> without
    /// offloads; with offloads it drops packets that need offload work.
    /// </summary>
    /// <remarks>Thread-safe; uses ~32 bytes of stack and no heap.</remarks>
    public int Read(Span<byte> packet)
    {
        if (packet.IsEmpty)
        {
            throw new ArgumentException("buffer is empty", nameof(packet));
        }

        return ReadCore(packet, wait: true, raw: false);
    }

    // The one read loop behind both Reads. raw: the descriptor's header stays in front of the
    // packet in `packet` (offload mode); otherwise it is read aside and checked. wait false: -1 when nothing is
    // queued. 0 once closed or deleted.
    private int ReadCore(Span<byte> packet, bool wait, bool raw)
    {
        Span<byte> header = stackalloc byte[MaxHeaderLength];
        header = header[.._headerLength];
        bool sawPollError = false;
        try
        {
            while (true)
            {
                if (Volatile.Read(ref _closed) != 0 || _deleted)
                {
                    return 0;
                }

                long n = raw || _headerLength == 0 ? LibcIo.Read(_tun, packet) : LibcIo.ReadV(_tun, header, packet);
                if (n > 0 && raw)
                {
                    if (n > _headerLength) return (int)n;
                    continue;
                }

                if (n > 0)
                {
                    long length = n - _headerLength;
                    // tun_put_user reports the full packet length even when it copied less (the rest is lost):
                    // a packet longer than the buffer is dropped.
                    if (length <= 0 || length > packet.Length || !AcceptHeader(header))
                    {
                        continue;
                    }

                    return (int)length;
                }

                if (n == 0)
                {
                    return 0;
                }

                switch ((int)-n)
                {
                    case LibcIo.EAGAIN:
                        if (!wait)
                        {
                            return -1;
                        }

                        int revents = LibcIo.PollWithWake(_tun, LibcIo.POLLIN, _wake);
                        if (revents < 0)
                        {
                            if (-revents == LibcIo.EINTR)
                            {
                                continue;
                            }

                            throw LibcIo.ErrnoException("poll(tun)", -revents);
                        }

                        if ((revents & LibcIo.PollWoken) != 0)
                        {
                            return 0;
                        }

                        if ((revents & (LibcIo.POLLERR | LibcIo.POLLHUP | LibcIo.POLLNVAL)) != 0)
                        {
                            // tun_chr_poll reports EPOLLERR once the device is detached or unregistering; the
                            // next read then fails with EBADFD. Twice in a row without that: treat as gone.
                            if (sawPollError)
                            {
                                return 0;
                            }

                            sawPollError = true;
                        }

                        continue;
                    case LibcIo.EINTR:
                        continue;
                    case LibcIo.EBADFD:
                        // drivers/net/tun.c: tun_get() == NULL, the interface was deleted.
                        return 0;
                    default:
                        throw LibcIo.ErrnoException("read(tun)", (int)-n);
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Close() disposed the descriptor between our closed-check and the syscall.
            return 0;
        }
    }

    /// <summary>
    /// Writes one IP packet (starting at the IP header). Returns silently, dropping the packet, when the interface
    /// is down, gone, closed or the kernel rejects the packet; throws only for unexpected failures.
    /// </summary>
    /// <remarks>Thread-safe; no heap allocation.</remarks>
    public void Write(ReadOnlySpan<byte> packet)
    {
        if (packet.IsEmpty || Volatile.Read(ref _closed) != 0)
        {
            return;
        }

        Span<byte> header = stackalloc byte[MaxHeaderLength];
        header = header[.._headerLength];
        header.Clear();
        if (_packetInfo)
        {
            // struct tun_pi { u16 flags; be16 proto; }: with IFF_TUN and no IFF_NO_PI, proto becomes
            // skb->protocol, so it must name the IP version (ETH_P_IP / ETH_P_IPV6).
            ushort proto = IpPacket.PeekVersion(packet) switch { 4 => 0x0800, 6 => 0x86DD, _ => 0 };
            BinaryPrimitives.WriteUInt16BigEndian(header[2..], proto);
        }

        try
        {
            while (true)
            {
                long n = _headerLength == 0 ? LibcIo.Write(_tun, packet) : LibcIo.WriteV(_tun, header, packet);
                if (n >= 0)
                {
                    return;
                }

                switch ((int)-n)
                {
                    case LibcIo.EINTR:
                        continue;
                    case LibcIo.EIO: // tun_get_user: interface not up
                    case LibcIo.EBADFD: // interface deleted
                    case LibcIo.EINVAL: // malformed packet (not IPv4/IPv6, too short, too long)
                    case LibcIo.EAGAIN:
                    case LibcIo.ENOBUFS:
                    case LibcIo.ENOMEM:
                    case LibcIo.EMSGSIZE:
                        return;
                    default:
                        throw LibcIo.ErrnoException("write(tun)", (int)-n);
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Closed concurrently: drop.
        }
    }

    /// <summary>Sets the interface MTU (68..65535) with SIOCSIFMTU; <see cref="TunEventKind.MtuChanged"/> follows.</summary>
    /// <exception cref="ObjectDisposedException">After <see cref="Close"/>.</exception>
    /// <exception cref="IOException">The kernel refused (HResult = errno), e.g. ENODEV after deletion.</exception>
    /// <exception cref="UnauthorizedAccessException">The interface lives in another network namespace that this
    /// process cannot enter (no CAP_SYS_ADMIN: see <see cref="TunEventKind.Watching"/>); set the MTU there.</exception>
    public void SetMtu(int mtu)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mtu, MinimumMtu);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(mtu, MaximumMtu);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed) != 0, this);

        // Ask the descriptor for the current name, so a rename since creation cannot make us set the wrong link.
        NativeTun.IfReq ifr = default;
        int rc = NativeTun.IfReqIoctl(_tun, NativeTun.TUNGETIFF, ref ifr);
        if (rc < 0)
        {
            throw LibcIo.ErrnoException("TUNGETIFF", -rc);
        }

        string name = NativeTun.GetName(ifr);
        _name = name;
        // The watch is replaced when the interface moves: retry once on the new one if ours went away under us.
        for (int attempt = 0; ; attempt++)
        {
            // Polled or probed: no socket there, and RTM_SETLINK cannot aim at another namespace's link (its
            // IFLA_TARGET_NETNSID means "move the link there"; Interop.NetlinkNsid.cs).
            SafeFdHandle control = _watch.Control
                ?? throw new UnauthorizedAccessException(
                    $"cannot set the MTU of {name}: it lives in another network namespace, which this process cannot enter "
                    + $"(setns needs CAP_SYS_ADMIN); set it there (ip -n NAMESPACE link set {name} mtu {mtu})");
            try
            {
                SetMtuCore(control, name, mtu);
                break;
            }
            catch (ObjectDisposedException) when (attempt == 0 && Volatile.Read(ref _closed) == 0)
            {
            }
            catch (IOException e) when (attempt == 0 && e.HResult == LibcIo.ENODEV && Volatile.Read(ref _closed) == 0)
            {
                Thread.Sleep(10); // moving right now: the monitor installs the new watch
            }
        }

        _mtu = mtu;
    }

    /// <inheritdoc/>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        // The eventfd stays readable from now on: every current and future poll() on it returns at once.
        LibcIo.SignalEventFd(_wake);
        if (_monitor is not null && Thread.CurrentThread != _monitor)
        {
            _monitor.Join();
        }

        // SafeHandle reference counting defers each close(2) until in-flight syscalls on it have returned.
        _watch.Dispose();
        _tun.Dispose();
        _wake.Dispose();
    }

    /// <inheritdoc/>
    public void Dispose() => Close();

    /// <summary>
    /// Stops this object (as <see cref="Close"/>) but leaves the TUN descriptor open and returns it: the caller owns
    /// it from then on, so the interface lives on, e.g. in another process that adopts it with
    /// <see cref="FromFileDescriptor(int, TunOptions, bool)"/> (WG_TUN_FD). The descriptor is close-on-exec.
    /// </summary>
    /// <exception cref="ObjectDisposedException">Already closed or detached.</exception>
    public int DetachFileDescriptor()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            throw new ObjectDisposedException(nameof(LinuxTun));
        }

        LibcIo.SignalEventFd(_wake);
        if (_monitor is not null && Thread.CurrentThread != _monitor)
        {
            _monitor.Join();
        }

        int fd = (int)_tun.DangerousGetHandle();
        _tun.SetHandleAsInvalid();
        _watch.Dispose();
        _wake.Dispose();
        return fd;
    }

    private static void EnableOffloads(SafeFdHandle fd, out bool offloads, out bool udpOffloads)
    {
        const int basic = NativeTun.TUN_F_CSUM | NativeTun.TUN_F_TSO4 | NativeTun.TUN_F_TSO6;
        udpOffloads = NativeTun.ValueIoctl(fd, NativeTun.TUNSETOFFLOAD, basic | NativeTun.TUN_F_USO4 | NativeTun.TUN_F_USO6) == 0;
        offloads = udpOffloads || NativeTun.ValueIoctl(fd, NativeTun.TUNSETOFFLOAD, basic) == 0;
    }

    private static void SetMtuCore(SafeFdHandle control, string name, int mtu)
    {
        NativeTun.IfReq ifr = NativeTun.MakeIfReq(name);
        ifr.Value = mtu;
        int rc = NativeTun.IfReqIoctl(control, NativeTun.SIOCSIFMTU, ref ifr);
        if (rc == -LibcIo.EINVAL)
        {
            throw new ArgumentOutOfRangeException(nameof(mtu), mtu, $"the kernel rejected MTU {mtu} for {name}");
        }

        if (rc < 0)
        {
            throw LibcIo.ErrnoException($"SIOCSIFMTU({name}, {mtu})", -rc);
        }
    }

    /// <summary>SIOCGIFFLAGS + SIOCGIFMTU by name; 0 or -errno.</summary>
    private static int ReadLinkState(SafeFdHandle control, string name, out int flags, out int mtu)
    {
        flags = 0;
        mtu = 0;
        NativeTun.IfReq ifr = NativeTun.MakeIfReq(name);
        int rc = NativeTun.IfReqIoctl(control, NativeTun.SIOCGIFFLAGS, ref ifr);
        if (rc < 0)
        {
            return rc;
        }

        flags = (ushort)ifr.Flags;
        ifr = NativeTun.MakeIfReq(name);
        rc = NativeTun.IfReqIoctl(control, NativeTun.SIOCGIFMTU, ref ifr);
        mtu = ifr.Value;
        return rc;
    }

    /// <summary>Checks the virtio_net_hdr in front of a read packet: only GSO_NONE without NEEDS_CSUM is usable.</summary>
    private bool AcceptHeader(ReadOnlySpan<byte> header)
    {
        if (_vnetHeaderLength == 0)
        {
            return true;
        }

        // include/uapi/linux/virtio_net.h: u8 flags (bit 0 NEEDS_CSUM), u8 gso_type (0 = GSO_NONE), ...
        // Neither can occur with offloads off; dropping beats passing on a packet with a partial checksum.
        ReadOnlySpan<byte> vnet = header[(_packetInfo ? NativeTun.PacketInfoLength : 0)..];
        return (vnet[0] & 1) == 0 && vnet[1] == 0;
    }

    private void MonitorLoop()
    {
        // One buffer for the monitor's lifetime; link notifications are a few hundred bytes to a few KiB.
        byte[] buffer = new byte[32 * 1024];
        try
        {
            while (Volatile.Read(ref _closed) == 0)
            {
                LinkWatch watch = _watch;
                // Polled and probed watches start with no namespace identity: their first period follows it again.
                bool stop = watch.Mode is WatchMode.Home or WatchMode.Entered && watch.Netlink is { } netlink
                    ? ReceiveOnce(watch, netlink, buffer)
                    : Poll(watch);
                if (stop)
                {
                    return;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Closed from an event handler: the handles went away under us.
        }
    }

    /// <summary>Waits for and applies one netlink datagram; true when monitoring must stop.</summary>
    private bool ReceiveOnce(LinkWatch watch, SafeFdHandle netlink, byte[] buffer)
    {
        long n = Netlink.Receive(netlink, buffer, out uint sender, out bool truncated);
        if (n < 0)
        {
            switch ((int)-n)
            {
                case LibcIo.EAGAIN:
                    int revents = LibcIo.PollWithWake(netlink, LibcIo.POLLIN, _wake);
                    return (revents >= 0 && (revents & LibcIo.PollWoken) != 0) || (revents < 0 && -revents != LibcIo.EINTR);
                case LibcIo.EINTR:
                    return false;
                case LibcIo.ENOBUFS:
                    // The socket overflowed and notifications were lost (man 7 netlink): re-read the state.
                    return Resynchronise(watch);
                default:
                    return true; // Unexpected; stop monitoring. Read/Write are unaffected.
            }
        }

        // Only the kernel (port id 0) speaks for links; ignore anything else sent to the group.
        if (sender != 0)
        {
            return false;
        }

        return truncated ? Resynchronise(watch) : HandleDatagram(watch, buffer.AsSpan(0, (int)n));
    }

    /// <summary>Applies the link messages of one datagram; true when monitoring must stop.</summary>
    private bool HandleDatagram(LinkWatch watch, ReadOnlySpan<byte> datagram)
    {
        while (Netlink.TryReadMessage(ref datagram, out ushort type, out ReadOnlySpan<byte> payload))
        {
            if (type == Netlink.NLMSG_DONE)
            {
                break;
            }

            if (type is not (Netlink.RTM_NEWLINK or Netlink.RTM_DELLINK)
                || !Netlink.TryParseLinkMessage(payload, out int index, out uint flags, out int mtu, out ReadOnlySpan<byte> name)
                || index != watch.Index)
            {
                continue;
            }

            if (type == Netlink.RTM_DELLINK)
            {
                return OnLinkRemoved();
            }

            if (!name.IsEmpty)
            {
                string current = Encoding.UTF8.GetString(name);
                if (current != _name)
                {
                    _name = current;
                }
            }

            Apply((int)flags, mtu);
        }

        return false;
    }

    /// <summary>Re-reads the link state by ioctl after lost notifications; true when monitoring must stop.</summary>
    private bool Resynchronise(LinkWatch watch)
    {
        SafeFdHandle control = watch.Control!;
        NativeTun.IfReq ifr = default;
        ifr.Value = watch.Index;
        int rc = NativeTun.IfReqIoctl(control, NativeTun.SIOCGIFNAME, ref ifr);
        if (rc < 0)
        {
            return rc == -LibcIo.ENODEV && OnLinkRemoved();
        }

        string name = NativeTun.GetName(ifr);
        _name = name;
        if (ReadLinkState(control, name, out int flags, out int mtu) == 0)
        {
            Apply(flags, mtu);
        }

        return false;
    }

    /// <summary>
    /// The link left the namespace being watched: deleted (the TUN descriptor is detached, TUNGETIFF fails with
    /// EBADFD; stop) or moved to another namespace (descriptor still attached: watch it there, LinuxTun.Namespace.cs).
    /// Returns true when monitoring must stop.
    /// </summary>
    private bool OnLinkRemoved()
    {
        // unregister_netdevice_many detaches the queues (ndo_uninit) before it sends RTM_DELLINK, so by now a
        // deleted device's descriptor already fails TUNGETIFF.
        NativeTun.IfReq ifr = default;
        if (NativeTun.IfReqIoctl(_tun, NativeTun.TUNGETIFF, ref ifr) == -LibcIo.EBADFD)
        {
            return MarkDeleted();
        }

        // dev_change_net_namespace sends this RTM_DELLINK under the RTNL lock, which TUNGETDEVNETNS also takes: by
        // the time we ask, the move is complete.
        return FollowMove();
    }

    private void Apply(int flags, int mtu)
    {
        bool up = (flags & IfUpAndRunning) == IfUpAndRunning;
        if (up != _up)
        {
            _up = up;
            Raise(up ? TunEventKind.Up : TunEventKind.Down);
        }

        if (mtu > 0 && mtu != _reportedMtu)
        {
            _reportedMtu = mtu;
            _mtu = mtu;
            Raise(TunEventKind.MtuChanged);
        }
    }

    private void Raise(TunEventKind kind, string? detail = null)
    {
        if (Volatile.Read(ref _closed) != 0) return;
        var e = new TunEvent(kind, _mtu, detail);
        Action<TunEvent>? handlers;
        lock (_eventGate)
        {
            if (kind is TunEventKind.Watching or TunEventKind.WatchDegraded) _watchEvent = e;
            handlers = _event;
        }
        handlers?.Invoke(e);
    }
}
