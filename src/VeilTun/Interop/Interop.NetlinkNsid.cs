using System.Buffers.Binary;
using System.Text;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// Looking at an interface in another network namespace without entering it (which setns(2) allows only with
    /// CAP_SYS_ADMIN): the namespace gets an id in ours (a "netns id", RTM_GETNSID/RTM_NEWNSID with NETNSA_FD =
    /// a descriptor of it, net/core/net_namespace.c), and RTM_GETLINK with IFLA_TARGET_NETNSID = that id answers for
    /// the link there (net/core/rtnetlink.c rtnl_getlink). What each needs, checked on Linux 6.18 as uid 65534 with
    /// only CAP_NET_ADMIN: RTM_GETNSID nothing; RTM_NEWNSID CAP_NET_ADMIN over our namespace (a request that is not
    /// a GET, rtnetlink_rcv_msg; EPERM without); RTM_GETLINK with a target id CAP_NET_ADMIN in the target's user
    /// namespace (rtnl_get_net_ns_capable; EINVAL for an unknown id).
    /// Setting the MTU this way is NOT possible: RTM_SETLINK/RTM_NEWLINK read IFLA_TARGET_NETNSID as the namespace
    /// to MOVE the link to, and look the index up in the sender's namespace (measured: the request with the inner
    /// index answered ENODEV, and one whose index existed at home moved that home link into the target).
    /// </summary>
    internal static partial class Netlink
    {
        internal const ushort RTM_GETLINK = 18;
        internal const ushort RTM_NEWNSID = 88;
        internal const ushort RTM_GETNSID = 90;
        internal const ushort NETNSA_NSID = 1;
        internal const ushort NETNSA_FD = 3;
        internal const ushort IFLA_EXT_MASK = 29;
        internal const ushort IFLA_TARGET_NETNSID = 46;

        /// <summary>include/uapi/linux/net_namespace.h: NETNSA_NSID_NOT_ASSIGNED.</summary>
        internal const int NsidNotAssigned = -1;

        private const ushort NLM_F_ACK = 4;
        private const int EEXIST = 17;

        /// <summary>RTEXT_FILTER_SKIP_STATS: leave the statistics out of link answers (smaller, cheaper).</summary>
        private const uint RTEXT_FILTER_SKIP_STATS = 1 << 3;

        /// <summary>NLMSG_ALIGN(sizeof(struct rtgenmsg)): the u8 family, padded.</summary>
        private const int RtGenMsgLength = 4;

        /// <summary>Longest request built here: header, ifinfomsg, target id, ext mask, a 16-byte name.</summary>
        internal const int MaxRequestLength = NlMsgHdrLength + IfInfoMsgLength + 8 + 8 + 20;

        /// <summary>
        /// RTM_GETNSID (or, with <paramref name="assign"/>, RTM_NEWNSID with NETNSA_NSID = -1: "any free id") for the
        /// namespace whose descriptor is <paramref name="namespaceFd"/>. Returns the request's length.
        /// </summary>
        internal static int BuildNsidRequest(Span<byte> buffer, int namespaceFd, bool assign, uint sequence)
        {
            int length = NlMsgHdrLength + RtGenMsgLength + 8 + (assign ? 8 : 0);
            Span<byte> request = buffer[..length];
            request.Clear();
            WriteHeader(request, assign ? RTM_NEWNSID : RTM_GETNSID, assign ? (ushort)(NLM_F_REQUEST | NLM_F_ACK) : NLM_F_REQUEST, sequence);
            Span<byte> attrs = request[(NlMsgHdrLength + RtGenMsgLength)..]; // rtgen_family AF_UNSPEC (0)
            attrs = WriteAttribute(attrs, NETNSA_FD, (uint)namespaceFd);
            if (assign)
            {
                WriteAttribute(attrs, NETNSA_NSID, unchecked((uint)NsidNotAssigned));
            }

            return length;
        }

        /// <summary>NETNSA_NSID of an RTM_NEWNSID answer (struct rtgenmsg + attributes); false when absent.</summary>
        internal static bool TryParseNsid(ReadOnlySpan<byte> payload, out int nsid)
        {
            nsid = NsidNotAssigned;
            if (payload.Length < RtGenMsgLength)
            {
                return false;
            }

            ReadOnlySpan<byte> attributes = payload[RtGenMsgLength..];
            while (attributes.Length >= RtAttrLength)
            {
                int length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
                ushort type = BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]);
                if (length < RtAttrLength || length > attributes.Length)
                {
                    break;
                }

                if ((type & 0x3fff) == NETNSA_NSID && length >= 8)
                {
                    nsid = BinaryPrimitives.ReadInt32LittleEndian(attributes[4..]);
                    return true;
                }

                attributes = attributes[Math.Min((length + 3) & ~3, attributes.Length)..];
            }

            return false;
        }

        /// <summary>
        /// RTM_GETLINK for the link with index <paramref name="index"/> (or, when it is 0, named
        /// <paramref name="name"/>) in the namespace with id <paramref name="nsid"/>, statistics left out. Returns the
        /// request's length.
        /// </summary>
        internal static int BuildGetLinkRequest(Span<byte> buffer, int nsid, int index, string? name, uint sequence)
        {
            byte[]? nameBytes = index == 0 && name is not null ? Encoding.UTF8.GetBytes(name + "\0") : null;
            if (nameBytes is { Length: > 16 })
            {
                throw new ArgumentException("interface names are at most 15 bytes", nameof(name));
            }

            int length = NlMsgHdrLength + IfInfoMsgLength + 8 + 8 + (nameBytes is null ? 0 : (4 + nameBytes.Length + 3) & ~3);
            Span<byte> request = buffer[..length];
            request.Clear();
            WriteHeader(request, RTM_GETLINK, NLM_F_REQUEST, sequence);
            Span<byte> ifinfo = request[NlMsgHdrLength..]; // ifi_family AF_UNSPEC (0)
            BinaryPrimitives.WriteInt32LittleEndian(ifinfo[4..], index);
            Span<byte> attrs = ifinfo[IfInfoMsgLength..];
            attrs = WriteAttribute(attrs, IFLA_TARGET_NETNSID, unchecked((uint)nsid));
            attrs = WriteAttribute(attrs, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
            if (nameBytes is not null)
            {
                WriteAttribute(attrs, IFLA_IFNAME, nameBytes);
            }

            return length;
        }

        /// <summary>
        /// The id our namespace gives the namespace of <paramref name="namespaceFd"/>, assigning one if it has none
        /// (needs CAP_NET_ADMIN); -errno on failure (EPERM: none assigned and no right to assign one).
        /// </summary>
        internal static int GetOrAssignNamespaceId(SafeFdHandle query, SafeFdHandle namespaceFd, Span<byte> reply, ref uint sequence)
        {
            bool added = false;
            try
            {
                namespaceFd.DangerousAddRef(ref added);
                int fd = (int)namespaceFd.DangerousGetHandle();
                Span<byte> request = stackalloc byte[MaxRequestLength];
                for (int attempt = 0; attempt < 2; attempt++)
                {
                    // The kernel reads NETNSA_FD in our descriptor table while it handles the request (synchronously,
                    // in the sender's context), so the handle only has to stay open until the answer.
                    int n = BuildNsidRequest(request, fd, assign: false, ++sequence);
                    int rc = Transact(query, request[..n], sequence, reply, out ushort type, out Range payload);
                    if (rc < 0)
                    {
                        return rc;
                    }

                    if (type == RTM_NEWNSID && TryParseNsid(reply[payload], out int nsid) && nsid >= 0)
                    {
                        return nsid;
                    }

                    n = BuildNsidRequest(request, fd, assign: true, ++sequence);
                    rc = Transact(query, request[..n], sequence, reply, out _, out _);
                    if (rc < 0 && rc != -EEXIST) // EEXIST: someone assigned one meanwhile; read it
                    {
                        return rc;
                    }
                }

                return -LibcIo.EAGAIN;
            }
            finally
            {
                if (added)
                {
                    namespaceFd.DangerousRelease();
                }
            }
        }

        /// <summary>
        /// The state of a link in the namespace with id <paramref name="nsid"/>, by index (or by name when
        /// <paramref name="index"/> is 0): its index, or -errno (ENODEV: no such link there, EINVAL: no such id).
        /// </summary>
        internal static int QueryLinkInNamespace(
            SafeFdHandle query, int nsid, int index, string? name, Span<byte> reply, ref uint sequence, out uint flags, out int mtu, out string? currentName)
        {
            flags = 0;
            mtu = -1;
            currentName = null;
            Span<byte> request = stackalloc byte[MaxRequestLength];
            int n = BuildGetLinkRequest(request, nsid, index, name, ++sequence);
            int rc = Transact(query, request[..n], sequence, reply, out ushort type, out Range payload);
            if (rc < 0)
            {
                return rc;
            }

            if (type != RTM_NEWLINK || !TryParseLinkMessage(reply[payload], out int found, out flags, out mtu, out ReadOnlySpan<byte> nameBytes))
            {
                return -LibcIo.EINVAL;
            }

            currentName = nameBytes.IsEmpty ? null : Encoding.UTF8.GetString(nameBytes);
            return found;
        }

        /// <summary>
        /// Sends <paramref name="request"/> (sequence number <paramref name="sequence"/>) to the kernel and waits up to
        /// a second for its answer. Returns 0 with the answer's type and payload (within <paramref name="reply"/>), or
        /// -errno: a local failure, the kernel's error, or ETIMEDOUT. An acknowledgement is 0 with type NLMSG_ERROR.
        /// </summary>
        internal static int Transact(SafeFdHandle fd, ReadOnlySpan<byte> request, uint sequence, Span<byte> reply, out ushort type, out Range payload)
        {
            type = 0;
            payload = default;
            int rc = Send(fd, request);
            if (rc < 0)
            {
                return rc;
            }

            while (true)
            {
                long n = Receive(fd, reply, out uint sender, out bool truncated);
                if (n == -LibcIo.EAGAIN)
                {
                    if (TunNamespace.WaitForWake(fd, 1000) <= 0)
                    {
                        return -ETIMEDOUT;
                    }

                    continue;
                }

                if (n < 0)
                {
                    return (int)n;
                }

                if (sender != 0)
                {
                    continue;
                }

                ReadOnlySpan<byte> datagram = reply[..(int)n];
                while (datagram.Length >= NlMsgHdrLength)
                {
                    int offset = (int)n - datagram.Length;
                    uint seq = BinaryPrimitives.ReadUInt32LittleEndian(datagram[8..]);
                    if (!TryReadMessage(ref datagram, out ushort messageType, out ReadOnlySpan<byte> body))
                    {
                        break;
                    }

                    if (seq != sequence)
                    {
                        continue; // an answer to an earlier request that timed out
                    }

                    if (messageType == NLMSG_ERROR)
                    {
                        // struct nlmsgerr: s32 error (0: acknowledgement, else negative errno), then our header.
                        type = NLMSG_ERROR;
                        return body.Length >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(body) : -LibcIo.EINVAL;
                    }

                    if (truncated)
                    {
                        return -LibcIo.EMSGSIZE;
                    }

                    type = messageType;
                    payload = new Range(offset + NlMsgHdrLength, offset + NlMsgHdrLength + body.Length);
                    return 0;
                }
            }
        }

        private static void WriteHeader(Span<byte> request, ushort type, ushort flags, uint sequence)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(request, (uint)request.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(request[4..], type);
            BinaryPrimitives.WriteUInt16LittleEndian(request[6..], flags);
            BinaryPrimitives.WriteUInt32LittleEndian(request[8..], sequence);
        }

        private static Span<byte> WriteAttribute(Span<byte> buffer, ushort type, uint value)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(buffer, 8);
            BinaryPrimitives.WriteUInt16LittleEndian(buffer[2..], type);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], value);
            return buffer[8..];
        }
    }
}
