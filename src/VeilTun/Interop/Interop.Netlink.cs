using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// rtnetlink link notifications (include/uapi/linux/netlink.h, rtnetlink.h, if_link.h; man 7 rtnetlink).
    /// Netlink headers are in host byte order; the parsers below read them as little-endian, which is the host
    /// order on every platform VeilTun targets (x86-64, arm64).
    /// </summary>
    internal static unsafe partial class Netlink
    {
        internal const int AF_NETLINK = 16;
        internal const int NETLINK_ROUTE = 0;

        /// <summary>RTMGRP_LINK: multicast group of RTM_NEWLINK / RTM_DELLINK notifications.</summary>
        internal const uint RTMGRP_LINK = 1;

        internal const ushort NLMSG_DONE = 3;
        internal const ushort RTM_NEWLINK = 16;
        internal const ushort RTM_DELLINK = 17;

        internal const ushort IFLA_IFNAME = 3;
        internal const ushort IFLA_MTU = 4;

        /// <summary>sizeof(struct nlmsghdr): u32 len, u16 type, u16 flags, u32 seq, u32 pid.</summary>
        internal const int NlMsgHdrLength = 16;

        /// <summary>sizeof(struct ifinfomsg): u8 family, u8 pad, u16 type, s32 index, u32 flags, u32 change.</summary>
        internal const int IfInfoMsgLength = 16;

        /// <summary>sizeof(struct rtattr): u16 len, u16 type.</summary>
        private const int RtAttrLength = 4;

        [StructLayout(LayoutKind.Sequential)]
        private struct SockAddrNl
        {
            public ushort Family;
            public ushort Pad;
            public uint Pid;
            public uint Groups;
        }

        [LibraryImport("libc", SetLastError = true)]
        private static partial int bind(SafeFdHandle fd, SockAddrNl* address, uint addressLength);

        [LibraryImport("libc", SetLastError = true)]
        private static partial nint recvfrom(SafeFdHandle fd, byte* buffer, nuint length, int flags, SockAddrNl* from, uint* fromLength);

        /// <summary>
        /// Opens a non-blocking NETLINK_ROUTE socket subscribed to <paramref name="groups"/> in the calling thread's
        /// network namespace. Returns an invalid handle and sets <paramref name="errno"/> on failure.
        /// </summary>
        internal static SafeFdHandle OpenRouteMonitor(uint groups, out int errno)
        {
            SafeFdHandle fd = Socket.Open(AF_NETLINK, Socket.SOCK_RAW, NETLINK_ROUTE, out errno);
            if (fd.IsInvalid)
            {
                return fd;
            }

            // pid 0: the kernel assigns the port id.
            var address = new SockAddrNl { Family = AF_NETLINK, Groups = groups };
            // Sound: address is a local sockaddr_nl and the length passed is exactly its size.
            if (bind(fd, &address, (uint)sizeof(SockAddrNl)) != 0)
            {
                errno = LibcIo.LastErrno;
                fd.Dispose();
                return new SafeFdHandle();
            }

            return fd;
        }

        /// <summary>
        /// Non-blocking recvfrom(2) of one netlink datagram into <paramref name="buffer"/>. Returns its length, or
        /// -errno (EAGAIN when nothing is queued, ENOBUFS when the kernel dropped notifications). Sets
        /// <paramref name="senderPort"/> to the sender's port id (0 = the kernel) and <paramref name="truncated"/>
        /// when the datagram was longer than the buffer.
        /// </summary>
        internal static long Receive(SafeFdHandle fd, Span<byte> buffer, out uint senderPort, out bool truncated)
        {
            SockAddrNl from = default;
            uint fromLength = (uint)sizeof(SockAddrNl);
            // Sound: buffer is pinned and its length passed; from/fromLength are locals of the sizes given.
            // MSG_TRUNC makes the return value the real datagram length, so truncation is detectable.
            fixed (byte* p = buffer)
            {
                nint n = recvfrom(fd, p, (nuint)buffer.Length, Socket.MSG_DONTWAIT | Socket.MSG_TRUNC, &from, &fromLength);
                if (n < 0)
                {
                    senderPort = 0;
                    truncated = false;
                    return -LibcIo.LastErrno;
                }

                senderPort = from.Pid;
                truncated = n > buffer.Length;
                return Math.Min(n, buffer.Length);
            }
        }

        /// <summary>
        /// Takes the next netlink message off the front of <paramref name="buffer"/> (NLMSG_NEXT). Returns false at
        /// the end of the buffer or on a malformed length, which ends parsing of that datagram.
        /// </summary>
        internal static bool TryReadMessage(ref ReadOnlySpan<byte> buffer, out ushort type, out ReadOnlySpan<byte> payload)
        {
            type = 0;
            payload = default;
            if (buffer.Length < NlMsgHdrLength)
            {
                return false;
            }

            uint length = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
            if (length < NlMsgHdrLength || length > (uint)buffer.Length)
            {
                return false;
            }

            type = BinaryPrimitives.ReadUInt16LittleEndian(buffer[4..]);
            payload = buffer[NlMsgHdrLength..(int)length];
            // NLMSG_ALIGN: messages start on 4-byte boundaries.
            int next = (int)Math.Min((length + 3) & ~3u, (uint)buffer.Length);
            buffer = buffer[next..];
            return true;
        }

        /// <summary>
        /// Parses an RTM_NEWLINK/RTM_DELLINK payload (struct ifinfomsg + rtattrs). <paramref name="mtu"/> is -1 and
        /// <paramref name="name"/> empty when the attribute is absent. Returns false when too short.
        /// </summary>
        internal static bool TryParseLinkMessage(
            ReadOnlySpan<byte> payload, out int index, out uint flags, out int mtu, out ReadOnlySpan<byte> name)
        {
            index = 0;
            flags = 0;
            mtu = -1;
            name = default;
            if (payload.Length < IfInfoMsgLength)
            {
                return false;
            }

            index = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
            flags = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
            ReadOnlySpan<byte> attributes = payload[IfInfoMsgLength..];
            while (attributes.Length >= RtAttrLength)
            {
                int length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]);
                if (length < RtAttrLength || length > attributes.Length)
                {
                    break;
                }

                ReadOnlySpan<byte> value = attributes[RtAttrLength..length];
                // Mask NLA_F_NESTED / NLA_F_NET_BYTEORDER (netlink.h NLA_TYPE_MASK).
                switch (type & 0x3fff)
                {
                    case IFLA_MTU when value.Length >= 4:
                        mtu = BinaryPrimitives.ReadInt32LittleEndian(value);
                        break;
                    case IFLA_IFNAME:
                        int end = value.IndexOf((byte)0);
                        name = end < 0 ? value : value[..end];
                        break;
                }

                // RTA_ALIGN: attributes start on 4-byte boundaries.
                int next = Math.Min((length + 3) & ~3, attributes.Length);
                attributes = attributes[next..];
            }

            return true;
        }
    }
}
