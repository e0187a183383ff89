using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// rtnetlink routes (include/uapi/linux/rtnetlink.h; man 7 rtnetlink): route change notifications, and
    /// RTM_GETROUTE to ask which interface the kernel would send a datagram from a given source out of.
    /// </summary>
    internal static unsafe partial class Netlink
    {
        /// <summary>RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE.</summary>
        internal const uint RTMGRP_ROUTES = 0x40 | 0x400;

        internal const ushort NLMSG_ERROR = 2;
        internal const ushort RTM_NEWROUTE = 24;
        internal const ushort RTM_DELROUTE = 25;
        internal const ushort RTM_GETROUTE = 26;
        private const ushort NLM_F_REQUEST = 1;
        private const ushort RTA_DST = 1;
        private const ushort RTA_SRC = 2;
        private const ushort RTA_OIF = 4;
        private const ushort RTA_MARK = 16;
        private const int ETIMEDOUT = 110;
        private const int ENOENT = 2;
        private const int RtMsgLength = 12; // u8 family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags

        [LibraryImport("libc", SetLastError = true)]
        private static partial nint send(SafeFdHandle fd, byte* buffer, nuint length, int flags);

        /// <summary>True when a datagram holds at least one route notification.</summary>
        internal static bool HasRouteMessage(ReadOnlySpan<byte> datagram)
        {
            while (TryReadMessage(ref datagram, out ushort type, out _))
            {
                if (type is RTM_NEWROUTE or RTM_DELROUTE)
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>
        /// RTM_GETROUTE for <paramref name="destination"/> from <paramref name="source"/> (same family: 4 or 16
        /// bytes) with routing mark <paramref name="mark"/> (0: none) on a netlink socket of its own: the output
        /// interface index the kernel picks now, or -errno (the kernel's verdict, e.g. EINVAL when the source is not
        /// local, ENETUNREACH; ETIMEDOUT if no answer came within a second).
        /// </summary>
        internal static int QueryOutputInterface(SafeFdHandle fd, ReadOnlySpan<byte> destination, ReadOnlySpan<byte> source, uint mark, uint sequence)
        {
            if (destination.Length is not (4 or 16) || source.Length != destination.Length)
            {
                return -LibcIo.EINVAL;
            }

            int attrLength = 4 + destination.Length;
            Span<byte> request = stackalloc byte[NlMsgHdrLength + RtMsgLength + (2 * attrLength) + (mark != 0 ? 8 : 0)];
            request.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)request.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(request[4..], RTM_GETROUTE);
            BinaryPrimitives.WriteUInt16LittleEndian(request[6..], NLM_F_REQUEST);
            BinaryPrimitives.WriteUInt32LittleEndian(request[8..], sequence);
            Span<byte> rtm = request[NlMsgHdrLength..];
            rtm[0] = destination.Length == 4 ? (byte)2 : (byte)10; // AF_INET / AF_INET6
            rtm[1] = (byte)(destination.Length * 8); // dst_len
            rtm[2] = (byte)(source.Length * 8); // src_len
            Span<byte> attrs = rtm[RtMsgLength..];
            attrs = WriteAttribute(attrs, RTA_DST, destination);
            attrs = WriteAttribute(attrs, RTA_SRC, source);
            if (mark != 0)
            {
                Span<byte> value = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(value, mark);
                WriteAttribute(attrs, RTA_MARK, value);
            }

            Span<byte> reply = stackalloc byte[4096];
            int rc = Transact(fd, request, sequence, reply, out ushort type, out Range payload);
            if (rc < 0)
            {
                return rc;
            }

            return type == RTM_NEWROUTE ? ParseOutputInterface(reply[payload]) : -LibcIo.EINVAL;
        }

        /// <summary>send(2) of one request to the kernel (port id 0) on an unbound netlink socket; 0 or -errno.</summary>
        internal static int Send(SafeFdHandle fd, ReadOnlySpan<byte> request)
        {
            // Sound: request is pinned for the call and its length passed; the kernel only reads it.
            fixed (byte* p = request)
            {
                // An unbound, unconnected netlink socket sends to the kernel (port id 0), autobinding on first use.
                return send(fd, p, (nuint)request.Length, 0) < 0 ? -LibcIo.LastErrno : 0;
            }
        }

        /// <summary>RTA_OIF of an RTM_NEWROUTE payload (struct rtmsg + rtattrs), or -ENOENT when absent.</summary>
        internal static int ParseOutputInterface(ReadOnlySpan<byte> payload)
        {
            if (payload.Length < RtMsgLength)
            {
                return -LibcIo.EINVAL;
            }

            ReadOnlySpan<byte> attributes = payload[RtMsgLength..];
            while (attributes.Length >= 4)
            {
                int length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]);
                if (length < 4 || length > attributes.Length)
                {
                    break;
                }

                if ((type & 0x3fff) == RTA_OIF && length >= 8)
                {
                    return BinaryPrimitives.ReadInt32LittleEndian(attributes[4..]);
                }

                attributes = attributes[Math.Min((length + 3) & ~3, attributes.Length)..];
            }

            return -ENOENT;
        }

        private static Span<byte> WriteAttribute(Span<byte> buffer, ushort type, ReadOnlySpan<byte> value)
        {
            int length = 4 + value.Length;
            BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)length);
            BinaryPrimitives.WriteUInt16LittleEndian(buffer[2..], type);
            value.CopyTo(buffer[4..]);
            return buffer[((length + 3) & ~3)..];
        }
    }
}
