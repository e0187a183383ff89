using System.Buffers.Binary;
using System.Runtime.InteropServices;
using VeilTun.Udp;

namespace VeilTun.Interop;

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

        // include/uapi/linux/in.h, in6.h
        internal const int IP_PKTINFO = 8;
        internal const int IPV6_V6ONLY = 26;
        internal const int IPV6_RECVPKTINFO = 49;
        internal const int IPV6_PKTINFO = 50;

        // include/linux/socket.h MSG_*
        internal const int MSG_CTRUNC = 0x8;
        internal const int MSG_TRUNC = 0x20;
        internal const int MSG_DONTWAIT = 0x40;

        /// <summary>CMSG_ALIGN(sizeof(struct cmsghdr)): where a control message's data starts.</summary>
        private static int CmsgDataOffset => CmsgAlign(sizeof(CmsgHdr));

        /// <summary>Control buffer for received datagrams: room for IP_PKTINFO and IPV6_PKTINFO together, with spare.</summary>
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

        /// <summary>CMSG_ALIGN: control messages are aligned to sizeof(size_t).</summary>
        private static int CmsgAlign(int length) => (length + sizeof(nuint) - 1) & ~(sizeof(nuint) - 1);

        /// <summary>CMSG_SPACE(dataLength).</summary>
        private static int CmsgSpace(int dataLength) => CmsgDataOffset + CmsgAlign(dataLength);

        /// <summary>Length of the control data <see cref="UdpSend"/> writes for a source address (the larger of the two).</summary>
        internal static int SendControlLength => CmsgSpace(sizeof(In6PktInfo));

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
        /// datagram did not fit (MSG_TRUNC): its tail was discarded by the kernel.
        /// </summary>
        internal static long UdpReceive(
            SafeFdHandle fd,
            Span<byte> buffer,
            out NetEndpoint from,
            out NetEndpoint local,
            out int interfaceIndex,
            out bool truncated)
        {
            from = default;
            local = default;
            interfaceIndex = 0;
            truncated = false;

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

            // Walk the control messages (CMSG_FIRSTHDR / CMSG_NXTHDR); the kernel set ControlLength to what it
            // wrote, never more than the buffer.
            int controlLength = (int)Math.Min(msg.ControlLength, (nuint)ReceiveControlLength);
            bool haveV4Info = false;
            int offset = 0;
            while (offset + sizeof(CmsgHdr) <= controlLength)
            {
                // Sound: offset + header size is within the control buffer (loop condition); the header is read
                // unaligned-safe because offsets are CMSG_ALIGNed from a stackalloc base (8-byte aligned).
                CmsgHdr* header = (CmsgHdr*)(control + offset);
                int length = (int)header->Length;
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

                offset += CmsgAlign(length);
            }

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
            SockAddrIn6 name6 = default;
            SockAddrIn name4 = default;
            void* name;
            uint nameLength;
            if (socketFamily == AF_INET6)
            {
                name6.Family = AF_INET6;
                name6.Port = NetworkOrder(to.Port);
                name6.ScopeId = to.ScopeId;
                // Sound: Addr is the 16-byte inline array of a local; WriteMappedAddress writes exactly 16 bytes.
                to.WriteMappedAddress(new Span<byte>(name6.Addr, 16));
                name = &name6;
                nameLength = (uint)sizeof(SockAddrIn6);
            }
            else
            {
                if (!to.IsIPv4)
                {
                    return -LibcIo.EAFNOSUPPORT;
                }

                name4.Family = AF_INET;
                name4.Port = NetworkOrder(to.Port);
                // Sound: Addr is the 4-byte inline array of a local; an IPv4 endpoint writes exactly 4 bytes.
                to.WriteAddress(new Span<byte>(name4.Addr, 4));
                name = &name4;
                nameLength = (uint)sizeof(SockAddrIn);
            }

            int controlSpace = SendControlLength;
            byte* control = stackalloc byte[controlSpace];
            int controlLength = 0;
            if (source.IsIPv4)
            {
                // Sound: CMSG_SPACE(in_pktinfo) <= CMSG_SPACE(in6_pktinfo) = controlSpace; the zeroed stackalloc
                // buffer is 8-byte aligned, so header and payload are aligned as the kernel's CMSG macros expect.
                var header = (CmsgHdr*)control;
                header->Length = (nuint)(CmsgDataOffset + sizeof(InPktInfo));
                header->Level = IPPROTO_IP;
                header->Type = IP_PKTINFO;
                var info = (InPktInfo*)(control + CmsgDataOffset);
                info->IfIndex = sourceInterfaceIndex;
                source.WriteAddress(new Span<byte>(info->SpecDst, 4));
                controlLength = CmsgSpace(sizeof(InPktInfo));
            }
            else if (source.IsIPv6)
            {
                // Sound: as above; CMSG_SPACE(in6_pktinfo) is exactly controlSpace.
                var header = (CmsgHdr*)control;
                header->Length = (nuint)(CmsgDataOffset + sizeof(In6PktInfo));
                header->Level = IPPROTO_IPV6;
                header->Type = IPV6_PKTINFO;
                var info = (In6PktInfo*)(control + CmsgDataOffset);
                info->IfIndex = sourceInterfaceIndex;
                source.WriteAddress(new Span<byte>(info->Addr, 16));
                controlLength = CmsgSpace(sizeof(In6PktInfo));
            }

            // Sound: data is pinned for the call and described by one iovec of its exact length; the kernel only
            // reads from it. name and control point at locals of this frame with their exact lengths.
            fixed (byte* p = data)
            {
                var iov = new LibcIo.IoVec { Base = p, Length = (nuint)data.Length };
                var msg = new MsgHdr
                {
                    Name = name,
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
