using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VeilTun.Udp;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// BSD sockets as glibc exposes them (man 2 socket, man 7 ip, man 7 ipv6, man 3 cmsg), plus the UDP
    /// send/receive helpers that build msghdr + IP_PKTINFO/IPV6_PKTINFO control messages on the caller's stack.
    /// The helpers allocate nothing on the heap and keep no state, so any number of threads may use them at once.
    /// </summary>
    internal static unsafe partial class Socket
    {
        // include/linux/socket.h, include/linux/net.h
        internal const int AF_INET = 2;
        internal const int AF_INET6 = 10;
        internal const int SOCK_DGRAM = 2;
        internal const int SOCK_RAW = 3;
        internal const int SOCK_NONBLOCK = 0x800;
        internal const int SOCK_CLOEXEC = 0x80000;
        internal const int IPPROTO_IP = 0;
        internal const int IPPROTO_UDP = 17;
        internal const int IPPROTO_IPV6 = 41;

        // include/uapi/asm-generic/socket.h
        internal const int SOL_SOCKET = 1;
        internal const int SO_SNDBUF = 7;
        internal const int SO_RCVBUF = 8;
        internal const int SO_SNDBUFFORCE = 32;
        internal const int SO_RCVBUFFORCE = 33;
        internal const int SO_MARK = 36;

        // include/uapi/linux/udp.h: SOL_UDP is IPPROTO_UDP; UDP_SEGMENT (Linux 4.18) sets the GSO segment size
        // (u16 cmsg or int sockopt), UDP_GRO (Linux 5.0) turns on receive coalescing (int; cmsg on receive).
        internal const int SOL_UDP = IPPROTO_UDP;
        internal const int UDP_SEGMENT = 103;
        internal const int UDP_GRO = 104;

        /// <summary>
        /// Most datagrams one UDP_SEGMENT send may carry: include/linux/udp.h UDP_MAX_SEGMENTS was 1 &lt;&lt; 6 until
        /// kernels raised it to 128 (6.18 here takes 128, rejects 129 with EINVAL); 64 works everywhere.
        /// </summary>
        internal const int MaxSegments = 64;

        /// <summary>
        /// Most payload bytes one UDP_SEGMENT send may carry: the IPv4 limit 65535 - 20 (IP) - 8 (UDP); 1 byte more
        /// fails with EMSGSIZE. IPv6 would allow 65527, but one limit for both keeps it simple.
        /// </summary>
        internal const int MaxSegmentedPayload = 65507;

        /// <summary>Most datagrams one segmented sendmmsg call looks at (wireguard-go's IdealBatchSize, 128).</summary>
        internal const int SegmentedWindow = 128;

        // include/uapi/linux/in.h, in6.h
        internal const int IP_PKTINFO = 8;
        internal const int IPV6_V6ONLY = 26;
        internal const int IPV6_RECVPKTINFO = 49;
        internal const int IPV6_PKTINFO = 50;

        // include/linux/socket.h MSG_*
        internal const int MSG_TRUNC = 0x20;
        internal const int MSG_DONTWAIT = 0x40;

        /// <summary>CMSG_ALIGN(sizeof(struct cmsghdr)): where a control message's data starts.</summary>
        private static int CmsgDataOffset => CmsgAlign(sizeof(CmsgHdr));

        /// <summary>Most datagrams one sendmmsg call handles (bounds the stack used per call).</summary>
        internal const int MaxBatch = 64;

        /// <summary>
        /// Control buffer for received datagrams: room for IP_PKTINFO (32), IPV6_PKTINFO (40) and UDP_GRO (24)
        /// together, with spare.
        /// </summary>
        private const int ReceiveControlLength = 128;

        [StructLayout(LayoutKind.Sequential)]
        internal struct SockAddrIn
        {
            public ushort Family;
            public ushort Port; // network order
            public fixed byte Addr[4];
            public fixed byte Zero[8];
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct SockAddrIn6
        {
            public ushort Family;
            public ushort Port; // network order
            public uint FlowInfo;
            public fixed byte Addr[16];
            public uint ScopeId;
        }

        /// <summary>struct in_pktinfo (man 7 ip): incoming interface, local address, header destination.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct InPktInfo
        {
            public int IfIndex;
            public fixed byte SpecDst[4];
            public fixed byte Addr[4];
        }

        /// <summary>struct in6_pktinfo (RFC 3542 §6.1).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct In6PktInfo
        {
            public fixed byte Addr[16];
            public int IfIndex;
        }

        /// <summary>struct msghdr (56 bytes on LP64).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct MsgHdr
        {
            public void* Name;
            public uint NameLength;
            public LibcIo.IoVec* Iov;
            public nuint IovLength;
            public void* Control;
            public nuint ControlLength;
            public int Flags;
        }

        /// <summary>struct mmsghdr (64 bytes on LP64): a msghdr and the byte count the kernel transferred.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct MMsgHdr
        {
            public MsgHdr Header;
            public uint Length;
        }

        /// <summary>Pins for the buffers of one batch (MemoryHandle holds object references, so no stackalloc).</summary>
        [InlineArray(MaxBatch)]
        private struct PinnedBuffers
        {
            private MemoryHandle _element;
        }

        /// <summary>Pins for the datagrams of one segmented send window.</summary>
        [InlineArray(SegmentedWindow)]
        private struct PinnedWindow
        {
            private MemoryHandle _element;
        }

        /// <summary>struct cmsghdr (16 bytes on LP64).</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct CmsgHdr
        {
            public nuint Length;
            public int Level;
            public int Type;
        }

        [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
        private static partial SafeFdHandle SocketNative(int domain, int type, int protocol);

        [LibraryImport("libc", SetLastError = true)]
        private static partial int bind(SafeFdHandle fd, void* address, uint addressLength);

        [LibraryImport("libc", SetLastError = true)]
        private static partial int getsockname(SafeFdHandle fd, void* address, uint* addressLength);

        [LibraryImport("libc", SetLastError = true)]
        private static partial int setsockopt(SafeFdHandle fd, int level, int name, void* value, uint valueLength);

        [LibraryImport("libc", SetLastError = true)]
        private static partial int getsockopt(SafeFdHandle fd, int level, int name, void* value, uint* valueLength);

        [LibraryImport("libc", SetLastError = true)]
        private static partial nint recvmsg(SafeFdHandle fd, MsgHdr* message, int flags);

        [LibraryImport("libc", SetLastError = true)]
        private static partial nint sendmsg(SafeFdHandle fd, MsgHdr* message, int flags);

        [LibraryImport("libc", SetLastError = true)]
        private static partial int sendmmsg(SafeFdHandle fd, MMsgHdr* messages, uint count, int flags);

        /// <summary>CMSG_ALIGN: control messages are aligned to sizeof(size_t).</summary>
        private static int CmsgAlign(int length) => (length + sizeof(nuint) - 1) & ~(sizeof(nuint) - 1);

        /// <summary>CMSG_SPACE(dataLength).</summary>
        private static int CmsgSpace(int dataLength) => CmsgDataOffset + CmsgAlign(dataLength);

        /// <summary>Control buffer length for sending: room for the larger pktinfo (in6_pktinfo).</summary>
        private static int SendControlLength => CmsgSpace(sizeof(In6PktInfo));

        /// <summary>
        /// Control buffer length per segmented message: the pktinfo plus a UDP_SEGMENT message, whose payload the
        /// kernel wants to be exactly a u16 (udp_cmsg_send checks cmsg_len == CMSG_LEN(sizeof(__u16))).
        /// 40 + 24 = 64 bytes, a multiple of 8, so consecutive blocks stay aligned.
        /// </summary>
        private static int SegmentedControlLength => SendControlLength + CmsgSpace(sizeof(ushort));

        private static ushort NetworkOrder(ushort value) =>
            BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;

        /// <summary>
        /// socket(2) with SOCK_NONBLOCK|SOCK_CLOEXEC added to <paramref name="type"/>. Returns an invalid handle and
        /// sets <paramref name="errno"/> on failure. The socket belongs to the calling thread's network namespace.
        /// </summary>
        internal static SafeFdHandle Open(int domain, int type, int protocol, out int errno)
        {
            SafeFdHandle fd = SocketNative(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
            errno = fd.IsInvalid ? LibcIo.LastErrno : 0;
            return fd;
        }

        /// <summary>setsockopt(2) with an int value; 0 or -errno.</summary>
        internal static int SetInt(SafeFdHandle fd, int level, int name, int value)
        {
            // Sound: value is a local int and its exact size is passed.
            return setsockopt(fd, level, name, &value, sizeof(int)) == 0 ? 0 : -LibcIo.LastErrno;
        }

        /// <summary>getsockopt(2) of an int value; 0 or -errno.</summary>
        internal static int GetInt(SafeFdHandle fd, int level, int name, out int value)
        {
            int result = 0;
            uint length = sizeof(int);
            // Sound: the kernel writes at most length (4) bytes into the local result and updates length.
            int rc = getsockopt(fd, level, name, &result, &length);
            value = result;
            return rc == 0 ? 0 : -LibcIo.LastErrno;
        }

        /// <summary>Binds to the wildcard address of <paramref name="family"/> ([::] or 0.0.0.0); 0 or -errno.</summary>
        internal static int BindWildcard(SafeFdHandle fd, int family, ushort port)
        {
            // Sound: each branch passes a zero-initialised local sockaddr of the family with its exact size.
            if (family == AF_INET6)
            {
                var address = new SockAddrIn6 { Family = AF_INET6, Port = NetworkOrder(port) };
                return bind(fd, &address, (uint)sizeof(SockAddrIn6)) == 0 ? 0 : -LibcIo.LastErrno;
            }
            else
            {
                var address = new SockAddrIn { Family = AF_INET, Port = NetworkOrder(port) };
                return bind(fd, &address, (uint)sizeof(SockAddrIn)) == 0 ? 0 : -LibcIo.LastErrno;
            }
        }

        /// <summary>The local port from getsockname(2); 0 or -errno.</summary>
        internal static int GetBoundPort(SafeFdHandle fd, out ushort port)
        {
            // Sound: sockaddr_in6 is the largest address either socket family returns; length says how big it is
            // and the kernel truncates to it. sin_port and sin6_port share offset 2.
            SockAddrIn6 address = default;
            uint length = (uint)sizeof(SockAddrIn6);
            int rc = getsockname(fd, &address, &length);
            port = NetworkOrder(address.Port);
            return rc == 0 ? 0 : -LibcIo.LastErrno;
        }

        /// <summary>
        /// Non-blocking recvmsg(2) of one datagram into <paramref name="buffer"/>. Returns the bytes received (0 for
        /// an empty datagram) or -errno (EAGAIN when none is queued). On success <paramref name="from"/> is the
        /// sender (v4-mapped addresses unmapped), <paramref name="local"/> the local address it was sent to (port 0;
        /// from IP_PKTINFO ipi_spec_dst for IPv4, else IPV6_PKTINFO; none if neither control message came) and
        /// <paramref name="interfaceIndex"/> the receiving interface. <paramref name="truncated"/> is set when the
        /// datagram did not fit (MSG_TRUNC): its tail was discarded by the kernel. <paramref name="segmentSize"/> is
        /// the UDP_GRO control message's segment size when the socket has UDP_GRO on and the kernel delivered several
        /// coalesced datagrams, else 0.
        /// </summary>
        internal static long UdpReceive(
            SafeFdHandle fd,
            Span<byte> buffer,
            out NetEndpoint from,
            out NetEndpoint local,
            out int interfaceIndex,
            out bool truncated,
            out int segmentSize)
        {
            from = default;
            local = default;
            interfaceIndex = 0;
            truncated = false;
            segmentSize = 0;

            // sockaddr_in6 is the larger of the two address types either socket family reports.
            SockAddrIn6 name = default;
            byte* control = stackalloc byte[ReceiveControlLength];
            long received;
            MsgHdr msg;

            // Sound: buffer is pinned for the call and described by one iovec of its exact length; name and
            // control are locals on this frame described with their exact sizes, so the kernel writes only there.
            fixed (byte* data = buffer)
            {
                var iov = new LibcIo.IoVec { Base = data, Length = (nuint)buffer.Length };
                msg = new MsgHdr
                {
                    Name = &name,
                    NameLength = (uint)sizeof(SockAddrIn6),
                    Iov = &iov,
                    IovLength = 1,
                    Control = control,
                    ControlLength = ReceiveControlLength,
                };
                nint n = recvmsg(fd, &msg, MSG_DONTWAIT);
                if (n < 0)
                {
                    return -LibcIo.LastErrno;
                }

                received = n;
            }

            truncated = (msg.Flags & MSG_TRUNC) != 0;
            from = ReadSockAddr(&name, msg.NameLength);
            ReadControl(control, msg.ControlLength, out local, out interfaceIndex, out segmentSize);
            return received;
        }

        /// <summary>
        /// Non-blocking sendmsg(2) of <paramref name="data"/> to <paramref name="to"/>. On an AF_INET6 socket IPv4
        /// destinations are sent v4-mapped. When <paramref name="source"/> is not none, an IP_PKTINFO (IPv4:
        /// ipi_spec_dst + ipi_ifindex) or IPV6_PKTINFO (address + ifindex) control message pins the source address,
        /// as wireguard-go's sticky_linux.go does. Returns the bytes sent or -errno; EAFNOSUPPORT for an IPv6
        /// destination on an AF_INET socket. Callers make sure source and destination families match.
        /// </summary>
        internal static long UdpSend(
            SafeFdHandle fd,
            int socketFamily,
            ReadOnlySpan<byte> data,
            in NetEndpoint to,
            in NetEndpoint source,
            int sourceInterfaceIndex)
        {
            SockAddrIn6 name = default;
            uint nameLength = WriteDestination(&name, socketFamily, to);
            if (nameLength == 0)
            {
                return -LibcIo.EAFNOSUPPORT;
            }

            byte* control = stackalloc byte[SendControlLength];
            int controlLength = WriteSourceControl(control, source, sourceInterfaceIndex);

            // Sound: data is pinned for the call and described by one iovec of its exact length; the kernel only
            // reads from it. name and control point at locals of this frame with their exact lengths.
            fixed (byte* p = data)
            {
                var iov = new LibcIo.IoVec { Base = p, Length = (nuint)data.Length };
                var msg = new MsgHdr
                {
                    Name = &name,
                    NameLength = nameLength,
                    Iov = &iov,
                    IovLength = 1,
                    Control = controlLength == 0 ? null : control,
                    ControlLength = (nuint)controlLength,
                };
                nint n = sendmsg(fd, &msg, MSG_DONTWAIT);
                return n >= 0 ? n : -LibcIo.LastErrno;
            }
        }

        /// <summary>
        /// Non-blocking sendmmsg(2) of up to <see cref="MaxBatch"/> datagrams, all to <paramref name="to"/> from
        /// <paramref name="source"/> (as <see cref="UdpSend"/>). Returns how many the kernel took, in order (the
        /// rest were not sent), or -errno when not even the first was (EAGAIN when the send buffer is full).
        /// </summary>
        internal static long UdpSendBatch(
            SafeFdHandle fd,
            int socketFamily,
            ReadOnlySpan<ReadOnlyMemory<byte>> datagrams,
            in NetEndpoint to,
            in NetEndpoint source,
            int sourceInterfaceIndex)
        {
            int count = Math.Min(datagrams.Length, MaxBatch);
            if (count == 0)
            {
                return 0;
            }

            SockAddrIn6 name = default;
            uint nameLength = WriteDestination(&name, socketFamily, to);
            if (nameLength == 0)
            {
                return -LibcIo.EAFNOSUPPORT;
            }

            byte* control = stackalloc byte[SendControlLength];
            int controlLength = WriteSourceControl(control, source, sourceInterfaceIndex);
            MMsgHdr* messages = stackalloc MMsgHdr[count];
            LibcIo.IoVec* iovs = stackalloc LibcIo.IoVec[count];
            PinnedBuffers pins = default;
            int pinned = 0;
            try
            {
                for (int i = 0; i < count; i++)
                {
                    pins[i] = datagrams[i].Pin();
                    pinned++;
                    // Sound: each iovec describes a datagram pinned until the finally block with its exact length;
                    // all messages share the one destination and control block on this frame, which the kernel
                    // only reads.
                    iovs[i] = new LibcIo.IoVec { Base = pins[i].Pointer, Length = (nuint)datagrams[i].Length };
                    messages[i] = new MMsgHdr
                    {
                        Header = new MsgHdr
                        {
                            Name = &name,
                            NameLength = nameLength,
                            Iov = iovs + i,
                            IovLength = 1,
                            Control = controlLength == 0 ? null : control,
                            ControlLength = (nuint)controlLength,
                        },
                    };
                }

                int n = sendmmsg(fd, messages, (uint)count, MSG_DONTWAIT);
                return n >= 0 ? n : -LibcIo.LastErrno;
            }
            finally
            {
                for (int i = 0; i < pinned; i++)
                {
                    pins[i].Dispose();
                }
            }
        }

        /// <summary>
        /// Non-blocking sendmmsg(2) of the datagrams to <paramref name="to"/> from <paramref name="source"/> (as
        /// <see cref="UdpSend"/>) in the messages <paramref name="groups"/> describes (datagram counts, in order, at
        /// most <see cref="SegmentedWindow"/> datagrams in all; the caller decides the grouping): each group is one message whose iovecs point at the datagrams themselves (no copy) and, for groups of two or
        /// more, a UDP_SEGMENT control message (after the pktinfo, if any) so the kernel sends it as one GSO
        /// super-datagram and splits it at the segment size. Returns how many datagrams went out (whole messages,
        /// in order), or -errno when not even the first message did (a failure covers the first group).
        /// </summary>
        internal static long UdpSendSegmented(
            SafeFdHandle fd,
            int socketFamily,
            ReadOnlySpan<ReadOnlyMemory<byte>> datagrams,
            ReadOnlySpan<int> groups,
            in NetEndpoint to,
            in NetEndpoint source,
            int sourceInterfaceIndex)
        {
            int messageCount = groups.Length;
            int count = 0;
            foreach (int g in groups)
            {
                count += g;
            }

            if (messageCount == 0 || count > datagrams.Length || count > SegmentedWindow)
            {
                return messageCount == 0 ? 0 : -LibcIo.EINVAL;
            }

            SockAddrIn6 name = default;
            uint nameLength = WriteDestination(&name, socketFamily, to);
            if (nameLength == 0)
            {
                return -LibcIo.EAFNOSUPPORT;
            }

            // The message and control arrays are only as large as needed (worst case, all singletons:
            // 128 x (64 + 64) bytes, plus 2 KiB of iovecs and 3 KiB of pins).
            int controlStride = SegmentedControlLength;
            byte* sourceControl = stackalloc byte[SendControlLength];
            int sourceControlLength = WriteSourceControl(sourceControl, source, sourceInterfaceIndex);
            byte* controls = stackalloc byte[messageCount * controlStride];
            MMsgHdr* messages = stackalloc MMsgHdr[messageCount];
            LibcIo.IoVec* iovs = stackalloc LibcIo.IoVec[count];
            PinnedWindow pins = default;
            int pinned = 0;
            try
            {
                int next = 0;
                for (int m = 0; m < messageCount; m++)
                {
                    int first = next;
                    for (int k = 0; k < groups[m]; k++, next++)
                    {
                        pins[next] = datagrams[next].Pin();
                        pinned++;
                        // Sound: each iovec describes a datagram pinned until the finally block with its exact
                        // length; the kernel only reads it.
                        iovs[next] = new LibcIo.IoVec { Base = pins[next].Pointer, Length = (nuint)datagrams[next].Length };
                    }

                    // Sound: control is this message's controlStride-byte block inside controls (8-byte aligned
                    // because the base is and the stride is a multiple of 8); the pktinfo copy takes at most
                    // SendControlLength bytes and the UDP_SEGMENT message the CMSG_SPACE(2) behind it.
                    byte* control = controls + (m * controlStride);
                    int controlLength = sourceControlLength;
                    new ReadOnlySpan<byte>(sourceControl, sourceControlLength).CopyTo(new Span<byte>(control, controlStride));
                    if (groups[m] > 1)
                    {
                        controlLength += WriteSegmentControl(control + controlLength, (ushort)datagrams[first].Length);
                    }

                    messages[m] = new MMsgHdr
                    {
                        Header = new MsgHdr
                        {
                            Name = &name,
                            NameLength = nameLength,
                            Iov = iovs + first,
                            IovLength = (nuint)groups[m],
                            Control = controlLength == 0 ? null : control,
                            ControlLength = (nuint)controlLength,
                        },
                    };
                }

                // Sound: messages points at messageCount initialised mmsghdr on this frame whose iovecs, names
                // and control blocks all live on this frame or in pinned datagrams.
                int n = sendmmsg(fd, messages, (uint)messageCount, MSG_DONTWAIT);
                if (n < 0)
                {
                    return -LibcIo.LastErrno;
                }

                long sent = 0;
                for (int m = 0; m < n; m++)
                {
                    sent += groups[m];
                }

                return sent;
            }
            finally
            {
                for (int i = 0; i < pinned; i++)
                {
                    pins[i].Dispose();
                }
            }
        }

        /// <summary>
        /// Writes a UDP_SEGMENT control message carrying <paramref name="segmentSize"/> at <paramref name="control"/>
        /// (CMSG_SPACE(2) = 24 bytes, 8-byte aligned) and returns its space.
        /// </summary>
        private static int WriteSegmentControl(byte* control, ushort segmentSize)
        {
            int space = CmsgSpace(sizeof(ushort));
            // Sound: the caller reserved CMSG_SPACE(2) bytes at control; cleared so the padding is defined.
            new Span<byte>(control, space).Clear();
            var header = (CmsgHdr*)control;
            header->Length = (nuint)(CmsgDataOffset + sizeof(ushort)); // CMSG_LEN(sizeof(__u16)), as the kernel demands
            header->Level = SOL_UDP;
            header->Type = UDP_SEGMENT;
            *(ushort*)(control + CmsgDataOffset) = segmentSize; // host order, like every socket option value
            return space;
        }

        /// <summary>
        /// Writes the sockaddr for <paramref name="to"/> into <paramref name="storage"/> (sockaddr_in6, v4-mapped
        /// for IPv4, on an AF_INET6 socket; sockaddr_in on an AF_INET one). Returns its length, or 0 when an AF_INET
        /// socket cannot reach an IPv6 destination.
        /// </summary>
        private static uint WriteDestination(SockAddrIn6* storage, int socketFamily, in NetEndpoint to)
        {
            if (socketFamily == AF_INET6)
            {
                storage->Family = AF_INET6;
                storage->Port = NetworkOrder(to.Port);
                storage->ScopeId = to.ScopeId;
                // Sound: Addr is the 16-byte inline array of *storage; WriteMappedAddress writes exactly 16 bytes.
                to.WriteMappedAddress(new Span<byte>(storage->Addr, 16));
                return (uint)sizeof(SockAddrIn6);
            }

            if (!to.IsIPv4)
            {
                return 0;
            }

            // Sound: sockaddr_in (16 bytes) fits in the sockaddr_in6 (28 bytes) storage; an IPv4 endpoint writes
            // exactly the 4 bytes of sin_addr.
            var v4 = (SockAddrIn*)storage;
            v4->Family = AF_INET;
            v4->Port = NetworkOrder(to.Port);
            to.WriteAddress(new Span<byte>(v4->Addr, 4));
            return (uint)sizeof(SockAddrIn);
        }

        /// <summary>
        /// Writes the IP_PKTINFO / IPV6_PKTINFO control message pinning <paramref name="source"/> into
        /// <paramref name="control"/> (<see cref="SendControlLength"/> bytes, 8-byte aligned). Returns the
        /// control length, 0 when <paramref name="source"/> is none.
        /// </summary>
        private static int WriteSourceControl(byte* control, in NetEndpoint source, int interfaceIndex)
        {
            // Sound: control holds SendControlLength bytes. Cleared explicitly (ipi_addr, padding) so the result
            // does not depend on stackalloc zeroing, which [SkipLocalsInit] would turn off.
            new Span<byte>(control, SendControlLength).Clear();
            var header = (CmsgHdr*)control;
            if (source.IsIPv4)
            {
                // Sound: CMSG_SPACE(in_pktinfo) <= CMSG_SPACE(in6_pktinfo) = SendControlLength bytes at control.
                header->Length = (nuint)(CmsgDataOffset + sizeof(InPktInfo));
                header->Level = IPPROTO_IP;
                header->Type = IP_PKTINFO;
                var info = (InPktInfo*)(control + CmsgDataOffset);
                info->IfIndex = interfaceIndex;
                source.WriteAddress(new Span<byte>(info->SpecDst, 4));
                return CmsgSpace(sizeof(InPktInfo));
            }

            if (source.IsIPv6)
            {
                // Sound: CMSG_SPACE(in6_pktinfo) is exactly SendControlLength bytes at control.
                header->Length = (nuint)(CmsgDataOffset + sizeof(In6PktInfo));
                header->Level = IPPROTO_IPV6;
                header->Type = IPV6_PKTINFO;
                var info = (In6PktInfo*)(control + CmsgDataOffset);
                info->IfIndex = interfaceIndex;
                source.WriteAddress(new Span<byte>(info->Addr, 16));
                return CmsgSpace(sizeof(In6PktInfo));
            }

            return 0;
        }

        /// <summary>
        /// Walks received control messages (CMSG_FIRSTHDR / CMSG_NXTHDR) for IP_PKTINFO / IPV6_PKTINFO and UDP_GRO.
        /// <paramref name="control"/> holds <see cref="ReceiveControlLength"/> bytes of which the kernel reported
        /// <paramref name="reportedLength"/> as written. <paramref name="segmentSize"/> is 0 without UDP_GRO.
        /// </summary>
        private static void ReadControl(byte* control, nuint reportedLength, out NetEndpoint local, out int interfaceIndex, out int segmentSize)
        {
            local = default;
            interfaceIndex = 0;
            segmentSize = 0;
            int controlLength = (int)Math.Min(reportedLength, (nuint)ReceiveControlLength);
            bool haveV4Info = false;
            int offset = 0;
            while (offset + sizeof(CmsgHdr) <= controlLength)
            {
                // Sound: offset + header size is within the control buffer (loop condition); offsets are
                // CMSG_ALIGNed from an 8-byte aligned stackalloc base, so the header is aligned.
                CmsgHdr* header = (CmsgHdr*)(control + offset);
                int length = (int)Math.Min(header->Length, (nuint)controlLength);
                if (length < sizeof(CmsgHdr) || offset + length > controlLength)
                {
                    break;
                }

                byte* payload = control + offset + CmsgDataOffset;
                int payloadLength = length - CmsgDataOffset;
                if (header->Level == IPPROTO_IP && header->Type == IP_PKTINFO && payloadLength >= sizeof(InPktInfo))
                {
                    // Sound: payloadLength checked to hold a whole in_pktinfo inside the control buffer.
                    InPktInfo* info = (InPktInfo*)payload;
                    // ipi_spec_dst is the local address replies should come from; it equals the header
                    // destination for unicast (man 7 ip). wireguard-go's sticky_linux.go uses it too.
                    local = NetEndpoint.FromIPv4(new ReadOnlySpan<byte>(info->SpecDst, 4), 0);
                    interfaceIndex = info->IfIndex;
                    haveV4Info = true;
                }
                else if (header->Level == IPPROTO_IPV6 && header->Type == IPV6_PKTINFO
                    && payloadLength >= sizeof(In6PktInfo) && !haveV4Info)
                {
                    // Sound: payloadLength checked to hold a whole in6_pktinfo inside the control buffer.
                    // For IPv4 datagrams on a dual-stack socket this carries the v4-mapped header destination;
                    // IP_PKTINFO (if also present) wins because it has ipi_spec_dst.
                    In6PktInfo* info = (In6PktInfo*)payload;
                    var address = new ReadOnlySpan<byte>(info->Addr, 16);
                    uint scope = IsLinkLocal(address) ? (uint)info->IfIndex : 0;
                    local = NetEndpoint.FromIPv6(address, 0, scope);
                    interfaceIndex = info->IfIndex;
                }
                else if (header->Level == SOL_UDP && header->Type == UDP_GRO && payloadLength >= sizeof(ushort))
                {
                    // Sound: payloadLength checked to hold the value read. udp_cmsg_recv puts the skb's gso_size as
                    // an int; wireguard-go reads only its low 2 bytes, so accept both widths.
                    segmentSize = payloadLength >= sizeof(int) ? *(int*)payload : *(ushort*)payload;
                }

                offset += CmsgAlign(length);
            }
        }

        private static NetEndpoint ReadSockAddr(SockAddrIn6* address, uint length)
        {
            // Sound: address points at a local sockaddr_in6-sized buffer; each branch checks the kernel reported
            // at least the size of the type it reads.
            if (address->Family == AF_INET6 && length >= sizeof(SockAddrIn6))
            {
                return NetEndpoint.FromIPv6(new ReadOnlySpan<byte>(address->Addr, 16), NetworkOrder(address->Port), address->ScopeId);
            }

            if (address->Family == AF_INET && length >= sizeof(SockAddrIn))
            {
                var v4 = (SockAddrIn*)address;
                return NetEndpoint.FromIPv4(new ReadOnlySpan<byte>(v4->Addr, 4), NetworkOrder(v4->Port));
            }

            return default;
        }

        /// <summary>fe80::/10 (RFC 4291 §2.5.6).</summary>
        private static bool IsLinkLocal(ReadOnlySpan<byte> address16) =>
            address16[0] == 0xfe && (address16[1] & 0xc0) == 0x80;
    }
}
