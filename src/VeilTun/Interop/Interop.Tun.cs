using System.Runtime.InteropServices;
using System.Text;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// Linux TUN driver (Documentation/networking/tuntap.rst, include/uapi/linux/if_tun.h) and the interface
    /// ioctls on struct ifreq (include/uapi/linux/sockios.h, include/uapi/linux/if.h).
    /// </summary>
    internal static unsafe partial class Tun
    {
        internal const string CloneDevicePath = "/dev/net/tun";

        /// <summary>IFNAMSIZ: interface names are at most 15 bytes plus a NUL.</summary>
        internal const int IFNAMSIZ = 16;

        // include/uapi/linux/if_tun.h: _IOW('T', n, int) / _IOR('T', n, unsigned int).
        internal const uint TUNSETIFF = 0x400454ca;
        internal const uint TUNSETOFFLOAD = 0x400454d0;
        internal const uint TUNGETIFF = 0x800454d2;
        internal const uint TUNGETVNETHDRSZ = 0x800454d7;

        // TUNSETIFF flags (if_tun.h).
        internal const short IFF_TUN = 0x0001;
        internal const short IFF_NO_PI = 0x1000;
        internal const short IFF_VNET_HDR = 0x4000;

        // include/uapi/linux/if_tun.h: TUNSETOFFLOAD flags.
        internal const int TUN_F_CSUM = 0x01;
        internal const int TUN_F_TSO4 = 0x02;
        internal const int TUN_F_TSO6 = 0x04;
        internal const int TUN_F_USO4 = 0x20;
        internal const int TUN_F_USO6 = 0x40;

        /// <summary>sizeof(struct tun_pi): u16 flags, be16 proto; present on reads/writes unless IFF_NO_PI.</summary>
        internal const int PacketInfoLength = 4;

        /// <summary>sizeof(struct virtio_net_hdr), the default TUNSETVNETHDRSZ.</summary>
        internal const int VirtioNetHdrLength = 10;

        // include/uapi/linux/sockios.h
        internal const uint SIOCGIFNAME = 0x8910;
        internal const uint SIOCGIFFLAGS = 0x8913;
        internal const uint SIOCGIFMTU = 0x8921;
        internal const uint SIOCSIFMTU = 0x8922;
        internal const uint SIOCGIFINDEX = 0x8933;

        // include/uapi/linux/if.h net_device_flags
        internal const int IFF_UP = 0x1;
        internal const int IFF_RUNNING = 0x40;

        /// <summary>
        /// struct ifreq (40 bytes on LP64): the name, then a union of which VeilTun uses ifr_flags (short),
        /// ifr_ifindex and ifr_mtu (int), all at offset 16.
        /// </summary>
        [StructLayout(LayoutKind.Explicit, Size = 40)]
        internal struct IfReq
        {
            [FieldOffset(0)]
            public fixed byte Name[IFNAMSIZ];

            [FieldOffset(IFNAMSIZ)]
            public short Flags;

            [FieldOffset(IFNAMSIZ)]
            public int Value;
        }

        /// <summary>Byte length of <paramref name="name"/> as the kernel sees it (UTF-8), for validation.</summary>
        internal static int NameByteCount(string name) => Encoding.UTF8.GetByteCount(name);

        /// <summary>Builds an ifreq naming <paramref name="name"/> (at most 15 UTF-8 bytes; checked by callers).</summary>
        internal static IfReq MakeIfReq(string name)
        {
            IfReq ifr = default;
            // Sound: Name is a 16-byte inline buffer of the local; at most 15 bytes are written (the 16th stays NUL).
            Encoding.UTF8.GetBytes(name, new Span<byte>(ifr.Name, IFNAMSIZ - 1));
            return ifr;
        }

        /// <summary>The NUL-terminated name in an ifreq.</summary>
        internal static string GetName(in IfReq ifr)
        {
            // Sound: the buffer is inline in a struct passed by readonly reference; fixed pins it while read.
            fixed (byte* name = ifr.Name)
            {
                var span = new ReadOnlySpan<byte>(name, IFNAMSIZ);
                int end = span.IndexOf((byte)0);
                return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
            }
        }

        /// <summary>ioctl(fd, request, &amp;ifr); 0 or -errno. The kernel may write the ifreq back.</summary>
        internal static int IfReqIoctl(SafeFdHandle fd, uint request, ref IfReq ifr)
        {
            // Sound: ifr is a whole 40-byte struct ifreq pinned by fixed; every request used here reads and writes
            // only struct ifreq (sockios.h / if_tun.h), never beyond it.
            fixed (IfReq* p = &ifr)
            {
                return LibcIo.ioctl(fd, request, p) == 0 ? 0 : -LibcIo.LastErrno;
            }
        }

        /// <summary>ioctl(fd, request, &amp;value) for requests that read or write one int; 0 or -errno.</summary>
        internal static int IntIoctl(SafeFdHandle fd, uint request, ref int value)
        {
            // Sound: the request reads/writes exactly one int (TUNGETVNETHDRSZ), pinned here.
            fixed (int* p = &value)
            {
                return LibcIo.ioctl(fd, request, p) == 0 ? 0 : -LibcIo.LastErrno;
            }
        }

        /// <summary>ioctl(fd, request, value) for requests that take their argument by value; 0 or -errno.</summary>
        internal static int ValueIoctl(SafeFdHandle fd, uint request, nint value) =>
            LibcIo.ioctl(fd, request, value) == 0 ? 0 : -LibcIo.LastErrno;

        /// <summary>
        /// Opens /dev/net/tun (O_RDWR|O_NONBLOCK|O_CLOEXEC) and attaches it to interface <paramref name="name"/>
        /// (created if missing; "" or a "%d" pattern lets the kernel pick) with <paramref name="flags"/>.
        /// Returns the descriptor and the name the kernel chose; throws on failure. Used by LinuxTun and by tests
        /// that need a raw descriptor.
        /// </summary>
        internal static SafeFdHandle OpenTun(string name, short flags, out string actualName)
        {
            SafeFdHandle fd = LibcIo.Open(CloneDevicePath, LibcIo.O_RDWR | LibcIo.O_NONBLOCK | LibcIo.O_CLOEXEC, out int errno);
            if (fd.IsInvalid)
            {
                fd.Dispose();
                throw LibcIo.ErrnoException($"open({CloneDevicePath})", errno);
            }

            IfReq ifr = MakeIfReq(name);
            ifr.Flags = flags;
            int rc = IfReqIoctl(fd, TUNSETIFF, ref ifr);
            if (rc < 0)
            {
                fd.Dispose();
                throw LibcIo.ErrnoException($"TUNSETIFF({name})", -rc);
            }

            // TUNSETIFF copies the ifreq back with the final name (drivers/net/tun.c __tun_chr_ioctl).
            actualName = GetName(ifr);
            return fd;
        }
    }
}
