using System.Net.Sockets;
using LibcIo = VeilTun.Interop.LibcIo;
using NativeSocket = VeilTun.Interop.Socket;

namespace VeilTun.Udp;

/// <summary>
/// A Linux UDP socket for the data plane with sticky source addresses (IP_PKTINFO / IPV6_PKTINFO).
/// </summary>
/// <remarks>
/// <para>
/// One socket serves both families: AF_INET6 bound to [::]:port with IPV6_V6ONLY = 0, IPv4 peers appearing as
/// v4-mapped addresses on the wire to the kernel and unmapped in every <see cref="NetEndpoint"/> we hand out.
/// If the host has no IPv6 (socket() fails with EAFNOSUPPORT, e.g. booted with ipv6.disable=1, or bind() fails
/// with EADDRNOTAVAIL) <see cref="Bind"/> falls back to an AF_INET socket on 0.0.0.0; <see cref="IsDualStack"/>
/// tells which one you got.
/// </para>
/// <para>
/// Thread-safety: every member is thread-safe. <see cref="Receive(Span{byte}, out NetEndpoint, out PacketInfo)"/> and <see cref="Send(ReadOnlySpan{byte}, NetEndpoint, in PacketInfo)"/> keep their msghdr,
/// iovec, sockaddr and control buffers on the calling thread's stack (no heap allocation, no shared state), so
/// one or more receiving threads and any number of sending threads may run at once.
/// </para>
/// <para>
/// The socket is non-blocking; <see cref="Receive(Span{byte}, out NetEndpoint, out PacketInfo)"/> tries recvmsg(2) first and waits in poll(2) (with an eventfd
/// that <see cref="Close"/> signals) only when nothing is queued. <see cref="Send(ReadOnlySpan{byte}, NetEndpoint, in PacketInfo)"/> waits the same way when the
/// send buffer is full, giving back-pressure instead of loss.
/// </para>
/// <para>
/// Namespaces: the socket lives in the network namespace of the thread that called <see cref="Bind"/>.
/// </para>
/// <para>
/// Offloads (as wireguard-go conn/gso_linux.go, features_linux.go): <see cref="SendSegmented"/> hands the kernel
/// up to 64 equal-size datagrams per sendmsg as one UDP_SEGMENT (GSO) super-datagram, which costs the kernel about
/// as much as one datagram (5-25x less send CPU per datagram, measured on loopback). With <c>enableGro</c> the
/// socket sets UDP_GRO and the kernel may hand several same-source datagrams to one receive call; then only
/// <see cref="ReceiveCoalesced"/> / <see cref="TryReceiveCoalesced"/> can tell them apart (the batch receive uses
/// them), since the single-datagram receive would return the datagrams glued together.
/// </para>
/// </remarks>
public sealed partial class LinuxUdpSocket : IUdpTransport
{
    /// <summary>Most datagrams one sendmmsg call handles (<see cref="SendBatch"/>).</summary>
    public const int MaxBatchSize = NativeSocket.MaxBatch;

    /// <summary>Most datagrams one UDP_SEGMENT send carries (<see cref="SendSegmented"/>).</summary>
    public const int MaxSegments = NativeSocket.MaxSegments;

    /// <summary>Most payload bytes one UDP_SEGMENT send carries (<see cref="SendSegmented"/>): 65535 - 20 - 8.</summary>
    public const int MaxSegmentedBytes = NativeSocket.MaxSegmentedPayload;

    /// <summary>
    /// Receive buffer size that never truncates (<see cref="ReceiveCoalesced"/>): the largest UDP payload, which is
    /// also the most a UDP_GRO receive coalesces.
    /// </summary>
    public const int MaxCoalescedLength = 65535;

    /// <summary>Socket buffer size requested, as wireguard-go (conn/controlfns.go socketBufferSize = 7 MiB).</summary>
    private const int SocketBufferSize = 7 << 20;

    private readonly SafeFdHandle _fd;
    private readonly SafeFdHandle _wake;
    private readonly int _family;
    private int _closed;
    private volatile bool _gsoSupported;

    private LinuxUdpSocket(SafeFdHandle fd, SafeFdHandle wake, int family, int port, bool gsoSupported, bool groEnabled)
    {
        _fd = fd;
        _wake = wake;
        _family = family;
        Port = port;
        _gsoSupported = gsoSupported;
        GroEnabled = groEnabled;
    }

    /// <inheritdoc/>
    public int Port { get; }

    /// <summary>True for the AF_INET6 dual-stack socket, false for the IPv4-only one.</summary>
    public bool IsDualStack => _family == NativeSocket.AF_INET6;

    /// <summary>
    /// The socket's descriptor, for a host that must exempt it from its own VPN (Android's
    /// <c>VpnService.protect(fd)</c>, in <see cref="Device.TunnelOptions.ProtectSocket"/>); -1 once closed. It stays
    /// this socket's: do not close it or keep it past <see cref="Close"/>.
    /// </summary>
    public int FileDescriptor => Volatile.Read(ref _closed) != 0 || _fd.IsClosed ? -1 : (int)_fd.DangerousGetHandle();

    /// <summary>Address family of the underlying socket.</summary>
    public AddressFamily AddressFamily => IsDualStack ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;

    /// <summary>
    /// True while <see cref="SendSegmented"/> uses UDP_SEGMENT: the kernel knew the option at <see cref="Bind"/>
    /// (getsockopt(UDP_SEGMENT) succeeded, Linux 4.18+, as wireguard-go's supportsUDPOffload) and no segmented send
    /// has failed with EIO since. Once false it stays false for this socket. Thread-safe.
    /// </summary>
    /// <remarks>The internal setter lets tests force the fallback path.</remarks>
    public bool GsoSupported
    {
        get => _gsoSupported;
        internal set => _gsoSupported = value;
    }

    /// <summary>
    /// True when <see cref="Bind"/> was asked for UDP_GRO and the kernel accepted it (Linux 5.0+): receives may then
    /// return coalesced datagrams, so use <see cref="ReceiveCoalesced"/>.
    /// </summary>
    public bool GroEnabled { get; }

    /// <summary>
    /// Opens and binds the socket on all local addresses.
    /// </summary>
    /// <param name="port">0..65535; 0 lets the kernel pick (see <see cref="Port"/>).</param>
    /// <param name="dualStack">true: one AF_INET6 socket for IPv6 and IPv4 (falling back to IPv4 only when the
    /// host has no IPv6); false: an IPv4-only AF_INET socket.</param>
    /// <param name="enableGro">true: try setsockopt(UDP_GRO, 1) so the kernel may coalesce received datagrams
    /// (<see cref="GroEnabled"/> says whether it took; a kernel without it is no error). Only for receivers that
    /// read with <see cref="ReceiveCoalesced"/> / <see cref="TryReceiveCoalesced"/>. UDP_SEGMENT support for
    /// sending is probed either way (<see cref="GsoSupported"/>).</param>
    /// <exception cref="IOException">E.g. EADDRINUSE (HResult = errno).</exception>
    /// <exception cref="UnauthorizedAccessException">A privileged port without CAP_NET_BIND_SERVICE.</exception>
    public static LinuxUdpSocket Bind(int port, bool dualStack = true, bool enableGro = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);

        if (dualStack)
        {
            SafeFdHandle fd = NativeSocket.Open(NativeSocket.AF_INET6, NativeSocket.SOCK_DGRAM, NativeSocket.IPPROTO_UDP, out int errno);
            if (fd.IsInvalid)
            {
                fd.Dispose();
                if (errno != LibcIo.EAFNOSUPPORT)
                {
                    throw LibcIo.ErrnoException("socket(AF_INET6, SOCK_DGRAM)", errno);
                }
            }
            else
            {
                int rc = Configure(fd, NativeSocket.AF_INET6);
                if (rc == 0)
                {
                    rc = NativeSocket.BindWildcard(fd, NativeSocket.AF_INET6, (ushort)port);
                }

                if (rc == 0)
                {
                    return Finish(fd, NativeSocket.AF_INET6, enableGro);
                }

                fd.Dispose();
                if (rc != -LibcIo.EADDRNOTAVAIL)
                {
                    throw LibcIo.ErrnoException($"bind([::]:{port})", -rc);
                }
            }
        }

        SafeFdHandle fd4 = NativeSocket.Open(NativeSocket.AF_INET, NativeSocket.SOCK_DGRAM, NativeSocket.IPPROTO_UDP, out int errno4);
        if (fd4.IsInvalid)
        {
            fd4.Dispose();
            throw LibcIo.ErrnoException("socket(AF_INET, SOCK_DGRAM)", errno4);
        }

        int rc4 = Configure(fd4, NativeSocket.AF_INET);
        if (rc4 == 0)
        {
            rc4 = NativeSocket.BindWildcard(fd4, NativeSocket.AF_INET, (ushort)port);
        }

        if (rc4 != 0)
        {
            fd4.Dispose();
            throw LibcIo.ErrnoException($"bind(0.0.0.0:{port})", -rc4);
        }

        return Finish(fd4, NativeSocket.AF_INET, enableGro);
    }

    /// <summary>
    /// Blocks until a datagram arrives and copies it to <paramref name="buffer"/>. Returns its length, or 0 once
    /// <see cref="Close"/> was called. <paramref name="from"/> is the sender, <paramref name="local"/> the address
    /// and interface it was sent to. Empty datagrams and datagrams longer than <paramref name="buffer"/> are
    /// discarded (<see cref="DiscardedDatagrams"/>). The single-datagram primitive; the tunnel receives in batches
    /// (<see cref="Receive(DatagramBatch, int, Buffers.BufferPools)"/>).
    /// </summary>
    /// <remarks>
    /// Thread-safe, no heap allocation. For IPv4 datagrams <see cref="PacketInfo.LocalAddress"/> is in_pktinfo's
    /// ipi_spec_dst (equal to the destination address for unicast; the interface address for broadcast), for
    /// IPv6 the destination address, with the interface as scope id when link-local.
    /// </remarks>
    public int Receive(Span<byte> buffer, out NetEndpoint from, out PacketInfo local)
    {
        if (buffer.IsEmpty)
        {
            throw new ArgumentException("buffer is empty", nameof(buffer));
        }

        return ReceiveCore(buffer, wait: true, coalesced: false, out from, out local, out _);
    }

    /// <summary>
    /// Sends one datagram to <paramref name="to"/>, from <paramref name="source"/> when it is not none. Never throws
    /// for network conditions; see <see cref="SendResult"/>. The single-datagram primitive; the tunnel sends in
    /// batches (<see cref="Send(ReadOnlySpan{Buffers.PacketBuffer}, ReadOnlySpan{NetEndpoint}, ReadOnlySpan{PacketInfo}, out bool)"/>).
    /// </summary>
    /// <remarks>
    /// Thread-safe, no heap allocation. IPv4 destinations go out v4-mapped on the dual-stack socket. A source
    /// pins the address with an IP_PKTINFO (ipi_spec_dst + ipi_ifindex) or IPV6_PKTINFO control message, exactly
    /// as wireguard-go echoes the pktinfo it received. Blocks while the send buffer is full; returns
    /// <see cref="SendResult.Error"/> if closed meanwhile.
    /// </remarks>
    public SendResult Send(ReadOnlySpan<byte> datagram, NetEndpoint to, in PacketInfo source)
    {
        SendResult precheck = CheckDestination(to, source);
        if (precheck != SendResult.Ok)
        {
            return precheck;
        }

        try
        {
            while (Volatile.Read(ref _closed) == 0)
            {
                long n = NativeSocket.UdpSend(_fd, _family, datagram, to, source.LocalAddress, source.InterfaceIndex);
                if (n >= 0)
                {
                    return SendResult.Ok;
                }

                SendResult? failure = HandleSendError((int)-n, !source.IsNone);
                if (failure is { } result)
                {
                    return result;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Closed concurrently.
        }

        return SendResult.Error;
    }

    /// <summary>
    /// Sends every datagram in <paramref name="datagrams"/>, in order, to one destination from one (optional)
    /// source, with as few sendmmsg(2) calls as possible (<see cref="MaxBatchSize"/> per call). Waits while the
    /// send buffer is full. Stops at the first failure, which the result reports as <see cref="Send(ReadOnlySpan{byte}, NetEndpoint, in PacketInfo)"/> would;
    /// <paramref name="sent"/> says how many went out before it (for <see cref="SendResult.SourceInvalid"/>
    /// resend the rest without the source).
    /// </summary>
    /// <remarks>Thread-safe; no heap allocation.</remarks>
    public SendResult SendBatch(ReadOnlySpan<ReadOnlyMemory<byte>> datagrams, NetEndpoint to, in PacketInfo source, out int sent)
    {
        sent = 0;
        SendResult precheck = CheckDestination(to, source);
        if (precheck != SendResult.Ok)
        {
            return precheck;
        }

        try
        {
            while (sent < datagrams.Length)
            {
                if (Volatile.Read(ref _closed) != 0)
                {
                    return SendResult.Error;
                }

                long n = NativeSocket.UdpSendBatch(_fd, _family, datagrams[sent..], to, source.LocalAddress, source.InterfaceIndex);
                if (n > 0)
                {
                    sent += (int)n;
                    continue;
                }

                if (n == 0)
                {
                    return SendResult.Error; // sendmmsg took nothing without an error: not expected, don't spin
                }

                SendResult? failure = HandleSendError((int)-n, !source.IsNone);
                if (failure is { } result)
                {
                    return result;
                }
            }

            return SendResult.Ok;
        }
        catch (ObjectDisposedException)
        {
            return SendResult.Error;
        }
    }

    /// <summary>
    /// Sends every datagram in <paramref name="datagrams"/>, in order, to one destination from one (optional)
    /// source, with as few syscalls as possible: consecutive datagrams of one length (the last of a run may be
    /// shorter) go out as one UDP_SEGMENT message of up to <see cref="MaxSegments"/> datagrams and
    /// <see cref="MaxSegmentedBytes"/> bytes, the kernel splitting it at the first datagram's length; a longer (or
    /// empty) datagram starts the next message; one sendmmsg(2) carries up to 128 datagrams in such messages. The
    /// receiver sees ordinary separate datagrams (or, with UDP_GRO, coalesced ones). The datagrams are not copied:
    /// each is an iovec of its own.
    /// </summary>
    /// <param name="datagrams">The datagrams; pinned for the call with <see cref="ReadOnlyMemory{T}.Pin"/>, which
    /// is free for PacketBuffer memory (native or pinned-heap, never moving: <see cref="Buffers.PacketBuffer.DataMemory"/>) and
    /// costs a GC handle per datagram for ordinary arrays.</param>
    /// <param name="to">The destination (IPv4 goes out v4-mapped on the dual-stack socket).</param>
    /// <param name="source">Pinned source (IP_PKTINFO / IPV6_PKTINFO in every message), or none.</param>
    /// <param name="sent">How many datagrams, from the start, the kernel took.</param>
    /// <returns>As <see cref="SendBatch"/>: stops at the first failure; for <see cref="SendResult.SourceInvalid"/>
    /// resend the rest without the source.</returns>
    /// <remarks>
    /// <para>
    /// Fallbacks: without <see cref="GsoSupported"/> this is <see cref="SendBatch"/>. A segmented message refused
    /// with EIO (the egress device cannot checksum, which UDP_SEGMENT needs before Linux 6.11; conn/errors_linux.go)
    /// turns <see cref="GsoSupported"/> off for good and the rest goes out through <see cref="SendBatch"/>. One
    /// refused with EMSGSIZE or EINVAL (a segment plus headers exceeds the route's MTU; the kernel will not fragment
    /// GSO segments) is resent unsegmented, so the kernel fragments as it would for <see cref="Send(ReadOnlySpan{byte}, NetEndpoint, in PacketInfo)"/>, and GSO stays
    /// on for the next messages. Nothing of a refused message was sent, so nothing is duplicated.
    /// </para>
    /// <para>Thread-safe; no heap allocation (at most about 21 KiB of stack).</para>
    /// </remarks>
    public SendResult SendSegmented(ReadOnlySpan<ReadOnlyMemory<byte>> datagrams, NetEndpoint to, in PacketInfo source, out int sent)
    {
        sent = 0;
        SendResult precheck = CheckDestination(to, source);
        if (precheck != SendResult.Ok)
        {
            return precheck;
        }

        Span<int> groups = stackalloc int[NativeSocket.SegmentedWindow];
        try
        {
            while (sent < datagrams.Length)
            {
                if (Volatile.Read(ref _closed) != 0)
                {
                    return SendResult.Error;
                }

                if (!_gsoSupported)
                {
                    return SendRestUnsegmented(datagrams[sent..], to, source, ref sent);
                }

                int messages = GroupSegments(datagrams[sent..], groups);
                int firstMessage = groups[0];
                long n = NativeSocket.UdpSendSegmented(
                    _fd, _family, datagrams[sent..], groups[..messages], to, source.LocalAddress, source.InterfaceIndex);
                if (n > 0)
                {
                    sent += (int)n;
                    continue;
                }

                if (n == 0)
                {
                    return SendResult.Error; // sendmmsg took nothing without an error: not expected, don't spin
                }

                int errno = (int)-n;
                switch (ClassifySegmentedSendError(errno, firstMessage))
                {
                    case SegmentedSendFailure.DisableGso:
                        _gsoSupported = false; // the loop continues on the batch path
                        continue;
                    case SegmentedSendFailure.SendUnsegmented:
                        SendResult result = SendRestUnsegmented(datagrams.Slice(sent, firstMessage), to, source, ref sent);
                        if (result != SendResult.Ok)
                        {
                            return result;
                        }

                        continue;
                }

                SendResult? failure = HandleSendError(errno, !source.IsNone);
                if (failure is { } final)
                {
                    return final;
                }
            }

            return SendResult.Ok;
        }
        catch (ObjectDisposedException)
        {
            return SendResult.Error;
        }
    }

    /// <summary>
    /// As <see cref="Receive(Span{byte}, out NetEndpoint, out PacketInfo)"/>, for a socket with <see cref="GroEnabled"/>: blocks until data is queued and returns
    /// either one datagram or several same-source datagrams the kernel coalesced (UDP_GRO), back to back in
    /// <paramref name="buffer"/>.
    /// </summary>
    /// <param name="buffer">Receives the data; give it <see cref="MaxCoalescedLength"/> (65535) bytes or more. A
    /// coalesced run longer than the buffer loses its tail: the whole segments that fit are still returned, the
    /// rest is gone (the kernel discards what does not fit). A lone datagram that does not fit is discarded.</param>
    /// <param name="from">The sender of every datagram returned.</param>
    /// <param name="local">The local address and interface, as for <see cref="Receive(Span{byte}, out NetEndpoint, out PacketInfo)"/>.</param>
    /// <param name="segmentSize">Length of each datagram in the buffer, the last of which may be shorter: datagram
    /// i is bytes [i * segmentSize, min((i + 1) * segmentSize, length)). Equal to the length when the kernel
    /// delivered one datagram (its UDP_GRO control message is absent or 0).</param>
    /// <returns>The number of bytes (at least 1), or 0 once <see cref="Close"/> was called.</returns>
    /// <remarks>Thread-safe, no heap allocation. Without UDP_GRO it behaves as <see cref="Receive(Span{byte}, out NetEndpoint, out PacketInfo)"/>.</remarks>
    public int ReceiveCoalesced(Span<byte> buffer, out NetEndpoint from, out PacketInfo local, out int segmentSize)
    {
        if (buffer.IsEmpty)
        {
            throw new ArgumentException("buffer is empty", nameof(buffer));
        }

        return ReceiveCore(buffer, wait: true, coalesced: true, out from, out local, out segmentSize);
    }

    /// <summary>
    /// As <see cref="ReceiveCoalesced"/>, but only if data is queued right now: its length, or -1 when nothing is
    /// queued (or the socket is closed). Lets a reader drain a burst after a blocking receive.
    /// </summary>
    /// <remarks>Thread-safe, no heap allocation, never blocks.</remarks>
    public int TryReceiveCoalesced(Span<byte> buffer, out NetEndpoint from, out PacketInfo local, out int segmentSize) =>
        ReceiveCore(buffer, wait: false, coalesced: true, out from, out local, out segmentSize);

    /// <summary>
    /// Datagrams the receive calls took off the socket and skipped: empty ones and ones longer than the caller's
    /// buffer (neither can be a WireGuard message). Batch receives also count them as <c>invalid_length</c> drops.
    /// </summary>
    public long DiscardedDatagrams => Interlocked.Read(ref _discarded);

    private long _discarded;

    // The one receive loop behind Receive, TryReceive, ReceiveCoalesced and TryReceiveCoalesced. coalesced: accept a
    // GRO run (segment size from the UDP_GRO control message); otherwise only whole single datagrams. Empty and
    // truncated datagrams are not WireGuard messages and are skipped. wait: block and return 0 once closed;
    // otherwise return -1 when nothing is queued (an error is left to the next blocking call).
    private int ReceiveCore(Span<byte> buffer, bool wait, bool coalesced, out NetEndpoint from, out PacketInfo local, out int segmentSize, Buffers.DropCounters? drops = null)
    {
        try
        {
            while (Volatile.Read(ref _closed) == 0)
            {
                long n = NativeSocket.UdpReceive(_fd, buffer, out from, out NetEndpoint localAddress, out int interfaceIndex, out bool truncated, out int gso);
                if (n > 0)
                {
                    int length;
                    if (coalesced)
                    {
                        length = AcceptCoalesced(n, truncated, gso, out segmentSize);
                    }
                    else
                    {
                        length = truncated ? 0 : (int)n;
                        segmentSize = length;
                    }

                    if (length > 0)
                    {
                        local = new PacketInfo(localAddress, interfaceIndex);
                        return length;
                    }

                    Interlocked.Increment(ref _discarded); // cut short by the buffer
                    drops?.Count(Noise.DropReason.InvalidLength);
                    continue;
                }

                if (n == 0)
                {
                    Interlocked.Increment(ref _discarded); // an empty datagram
                    drops?.Count(Noise.DropReason.InvalidLength);
                    continue;
                }

                if (!wait || !WaitAfterReceiveError((int)-n))
                {
                    break;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Close() disposed the socket between our closed-check and the syscall.
        }

        from = default;
        local = default;
        segmentSize = 0;
        return wait ? 0 : -1;
    }

    /// <inheritdoc/>
    /// <exception cref="UnauthorizedAccessException">Without CAP_NET_ADMIN (or CAP_NET_RAW); also for 0.</exception>
    public void SetFwmark(uint mark)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed) != 0, this);
        int rc = NativeSocket.SetInt(_fd, NativeSocket.SOL_SOCKET, NativeSocket.SO_MARK, unchecked((int)mark));
        if (rc < 0)
        {
            throw LibcIo.ErrnoException("setsockopt(SO_MARK)", -rc);
        }
    }

    /// <inheritdoc/>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        // The eventfd stays readable from now on, so every current and future poll() returns at once; SafeHandle
        // reference counting defers close(2) until in-flight syscalls have returned.
        LibcIo.SignalEventFd(_wake);
        _fd.Dispose();
        _wake.Dispose();
    }

    /// <inheritdoc/>
    public void Dispose() => Close();

    /// <summary>SO_MARK as the kernel reports it (for tests and diagnostics).</summary>
    internal uint ReadFwmark()
    {
        int rc = NativeSocket.GetInt(_fd, NativeSocket.SOL_SOCKET, NativeSocket.SO_MARK, out int mark);
        return rc < 0 ? throw LibcIo.ErrnoException("getsockopt(SO_MARK)", -rc) : unchecked((uint)mark);
    }

    /// <summary>
    /// Handles a failed receive: waits for data on EAGAIN, ignores transient errors. Returns false when the
    /// socket was closed meanwhile (the caller returns 0); throws for unexpected errors.
    /// </summary>
    private bool WaitAfterReceiveError(int errno)
    {
        switch (errno)
        {
            case LibcIo.EAGAIN:
                int revents = LibcIo.PollWithWake(_fd, LibcIo.POLLIN, _wake);
                if (revents >= 0)
                {
                    return (revents & LibcIo.PollWoken) == 0;
                }

                return -revents == LibcIo.EINTR ? true : throw LibcIo.ErrnoException("poll(udp)", -revents);
            case LibcIo.EINTR:
            // Pending ICMP errors and transient memory shortage: report nothing, keep receiving.
            case LibcIo.ECONNREFUSED:
            case LibcIo.EHOSTUNREACH:
            case LibcIo.ENETUNREACH:
            case LibcIo.ENOMEM:
            case LibcIo.ENOBUFS:
                return true;
            default:
                throw LibcIo.ErrnoException("recvmsg(udp)", errno);
        }
    }

    /// <summary>What a refused segmented message means for <see cref="SendSegmented"/>.</summary>
    internal enum SegmentedSendFailure
    {
        /// <summary>Not a GSO matter: map the errno as for any send.</summary>
        None,

        /// <summary>The egress device cannot do UDP GSO at all: stop using it on this socket.</summary>
        DisableGso,

        /// <summary>This message cannot go out segmented (MTU): send its datagrams one by one, keep GSO.</summary>
        SendUnsegmented,
    }

    /// <summary>
    /// Classifies a segmented send's errno for a first message of <paramref name="messageDatagrams"/> datagrams.
    /// Only messages of two or more carried UDP_SEGMENT, so only they can fail for GSO reasons.
    /// </summary>
    internal static SegmentedSendFailure ClassifySegmentedSendError(int errno, int messageDatagrams)
    {
        if (messageDatagrams < 2)
        {
            return SegmentedSendFailure.None;
        }

        return errno switch
        {
            // net/ipv4/udp.c udp_send_skb: EIO when the skb cannot be checksummed by the device (before Linux 6.11),
            // is UDP-Lite or goes through xfrm (conn/errors_linux.go).
            LibcIo.EIO => SegmentedSendFailure.DisableGso,
            // udp_send_skb: a segment plus headers above the route's MTU (EINVAL before, EMSGSIZE since 6.x;
            // EMSGSIZE measured here) or more segments than UDP_MAX_SEGMENTS (EINVAL). With a pinned source EINVAL
            // may also be IPv6's verdict on the source; the unsegmented resend then reports SourceInvalid.
            LibcIo.EMSGSIZE or LibcIo.EINVAL => SegmentedSendFailure.SendUnsegmented,
            _ => SegmentedSendFailure.None,
        };
    }

    /// <summary>
    /// Maps a coalesced receive to the bytes to hand out and their segment size; 0 means "drop it". A truncated
    /// coalesced run keeps its whole segments (the kernel copied the buffer's worth from the front).
    /// </summary>
    internal static int AcceptCoalesced(long received, bool truncated, int gsoSize, out int segmentSize)
    {
        if (gsoSize <= 0 || gsoSize >= received)
        {
            segmentSize = (int)received;
            return truncated ? 0 : (int)received;
        }

        segmentSize = gsoSize;
        return truncated ? (int)(received / gsoSize * gsoSize) : (int)received;
    }

    /// <summary>
    /// Splits the datagrams (up to <see cref="NativeSocket.SegmentedWindow"/> of them) into UDP_SEGMENT messages,
    /// writing each message's datagram count to <paramref name="groups"/>; returns the number of messages. A message
    /// takes the first datagram's length as its segment size; the following datagrams join while they have that
    /// length, the first shorter one joins and ends it (the kernel cuts the payload every segment-size bytes, so only
    /// the last piece may be short), a longer or empty one starts the next message; at most
    /// <see cref="MaxSegments"/> datagrams and <see cref="MaxSegmentedBytes"/> bytes per message.
    /// </summary>
    internal static int GroupSegments(ReadOnlySpan<ReadOnlyMemory<byte>> datagrams, Span<int> groups)
    {
        int count = Math.Min(datagrams.Length, NativeSocket.SegmentedWindow);
        int messages = 0;
        for (int start = 0; start < count; messages++)
        {
            int length = SegmentGroupLength(datagrams[start..count]);
            groups[messages] = length;
            start += length;
        }

        return messages;
    }

    /// <summary>How many datagrams from the start of <paramref name="datagrams"/> one UDP_SEGMENT message carries.</summary>
    internal static int SegmentGroupLength(ReadOnlySpan<ReadOnlyMemory<byte>> datagrams)
    {
        if (datagrams.IsEmpty)
        {
            return 0;
        }

        int size = datagrams[0].Length;
        if (size == 0 || size > MaxSegmentedBytes)
        {
            return 1; // an empty datagram is no segment; an oversized one fails alone, as sendmsg would
        }

        int limit = Math.Min(datagrams.Length, MaxSegments);
        int total = size;
        int count = 1;
        while (count < limit)
        {
            int next = datagrams[count].Length;
            if (next == 0 || next > size || total + next > MaxSegmentedBytes)
            {
                break;
            }

            total += next;
            count++;
            if (next < size)
            {
                break;
            }
        }

        return count;
    }

    /// <summary>The batch path for the rest of a segmented send; adds what went out to <paramref name="sent"/>.</summary>
    private SendResult SendRestUnsegmented(ReadOnlySpan<ReadOnlyMemory<byte>> rest, NetEndpoint to, in PacketInfo source, ref int sent)
    {
        SendResult result = SendBatch(rest, to, source, out int more);
        sent += more;
        return result;
    }

    /// <summary>Checks that need no syscall; <see cref="SendResult.Ok"/> means "go ahead".</summary>
    private SendResult CheckDestination(in NetEndpoint to, in PacketInfo source)
    {
        if (to.IsNone)
        {
            throw new ArgumentException("no destination", nameof(to));
        }

        if (!source.IsNone && source.LocalAddress.IsIPv4 != to.IsIPv4)
        {
            return SendResult.SourceInvalid;
        }

        return !IsDualStack && to.IsIPv6 ? SendResult.Unreachable : SendResult.Ok;
    }

    /// <summary>
    /// Maps a send errno to its result, or returns null to retry (after waiting for buffer space on EAGAIN).
    /// </summary>
    private SendResult? HandleSendError(int errno, bool hasSource)
    {
        switch (errno)
        {
            case LibcIo.EAGAIN:
                int revents = LibcIo.PollWithWake(_fd, LibcIo.POLLOUT, _wake);
                if ((revents >= 0 && (revents & LibcIo.PollWoken) != 0) || (revents < 0 && -revents != LibcIo.EINTR))
                {
                    return SendResult.Error;
                }

                return null;
            case LibcIo.EINTR:
                return null;
            // With a pinned source every routing failure is blamed on it first: the source is not local any more
            // (IPv4: ip_route_output_key_hash_rcu says ENETUNREACH; IPv6: ip6_datagram_send_ctl says EINVAL), or
            // the pktinfo interface is gone (ENODEV), or it has no route from that interface. Kernel WireGuard
            // and wireguard-go then drop the cached source and route again; the caller's retry without a source
            // gives the real answer.
            case LibcIo.EINVAL when hasSource:
            case LibcIo.ENODEV when hasSource:
            case LibcIo.ENETUNREACH when hasSource:
            case LibcIo.EHOSTUNREACH when hasSource:
            case LibcIo.EADDRNOTAVAIL when hasSource:
                return SendResult.SourceInvalid;
            case LibcIo.ENETUNREACH:
            case LibcIo.EHOSTUNREACH:
            case LibcIo.ENETDOWN:
            case LibcIo.EHOSTDOWN:
            case LibcIo.EADDRNOTAVAIL:
            case LibcIo.ECONNREFUSED:
            case LibcIo.EPERM: // netfilter REJECT/DROP on output
            case LibcIo.EACCES:
            case LibcIo.EAFNOSUPPORT:
                return SendResult.Unreachable;
            default:
                return SendResult.Error;
        }
    }

    /// <summary>Socket options set before bind, so the first datagram already carries pktinfo; 0 or -errno.</summary>
    private static int Configure(SafeFdHandle fd, int family)
    {
        int rc;
        if (family == NativeSocket.AF_INET6)
        {
            rc = NativeSocket.SetInt(fd, NativeSocket.IPPROTO_IPV6, NativeSocket.IPV6_V6ONLY, 0);
            if (rc < 0)
            {
                return rc;
            }

            rc = NativeSocket.SetInt(fd, NativeSocket.IPPROTO_IPV6, NativeSocket.IPV6_RECVPKTINFO, 1);
            if (rc < 0)
            {
                return rc;
            }
        }

        // On an AF_INET6 socket IP_PKTINFO applies to the IPv4 (v4-mapped) datagrams (udpv6_recvmsg).
        rc = NativeSocket.SetInt(fd, NativeSocket.IPPROTO_IP, NativeSocket.IP_PKTINFO, 1);
        if (rc < 0)
        {
            return rc;
        }

        // Best effort, as wireguard-go: *BUFFORCE ignores rmem_max/wmem_max but needs CAP_NET_ADMIN.
        if (NativeSocket.SetInt(fd, NativeSocket.SOL_SOCKET, NativeSocket.SO_RCVBUFFORCE, SocketBufferSize) < 0)
        {
            _ = NativeSocket.SetInt(fd, NativeSocket.SOL_SOCKET, NativeSocket.SO_RCVBUF, SocketBufferSize);
        }

        if (NativeSocket.SetInt(fd, NativeSocket.SOL_SOCKET, NativeSocket.SO_SNDBUFFORCE, SocketBufferSize) < 0)
        {
            _ = NativeSocket.SetInt(fd, NativeSocket.SOL_SOCKET, NativeSocket.SO_SNDBUF, SocketBufferSize);
        }

        return 0;
    }

    private static LinuxUdpSocket Finish(SafeFdHandle fd, int family, bool enableGro)
    {
        SafeFdHandle? wake = null;
        try
        {
            int rc = NativeSocket.GetBoundPort(fd, out ushort port);
            if (rc < 0)
            {
                throw LibcIo.ErrnoException("getsockname", -rc);
            }

            wake = LibcIo.CreateEventFd(out int errno);
            if (wake.IsInvalid)
            {
                throw LibcIo.ErrnoException("eventfd", errno);
            }

            // conn/features_linux.go: UDP_SEGMENT is known iff getsockopt of it succeeds (Linux 4.18+). UDP_GRO is
            // turned on only when asked: other receive paths cannot split what it coalesces. Failure (ENOPROTOOPT
            // before Linux 5.0) just leaves it off.
            bool gso = NativeSocket.GetInt(fd, NativeSocket.IPPROTO_UDP, NativeSocket.UDP_SEGMENT, out _) == 0;
            bool gro = enableGro && NativeSocket.SetInt(fd, NativeSocket.IPPROTO_UDP, NativeSocket.UDP_GRO, 1) == 0;
            return new LinuxUdpSocket(fd, wake, family, port, gso, gro);
        }
        catch
        {
            wake?.Dispose();
            fd.Dispose();
            throw;
        }
    }
}
