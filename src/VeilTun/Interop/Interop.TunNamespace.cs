using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// Where a TUN interface lives: TUNGETDEVNETNS (Linux 5.2+, drivers/net/tun.c) hands back a descriptor of the
    /// interface's network namespace, which may differ from the process's once the interface was moved
    /// (<c>ip link set IF netns NS</c>) or when a host handed over a descriptor of another namespace's interface.
    /// Namespace descriptors are compared by inode (nsfs: one device, one inode per namespace; man 7 namespaces).
    /// </summary>
    internal static unsafe partial class TunNamespace
    {
        /// <summary>include/uapi/linux/if_tun.h: TUNGETDEVNETNS = _IO('T', 227).</summary>
        internal const uint TUNGETDEVNETNS = 0x54e3;

        /// <summary>The calling thread's network namespace (threads may differ after setns(2)).</summary>
        internal const string ThreadNamespacePath = "/proc/thread-self/ns/net";

        // struct stat: st_dev (u64) at offset 0 and st_ino (u64) at offset 8 on both x86-64 and arm64 (asm-generic);
        // the rest is not read. 256 bytes covers the whole struct on both (144 / 128 bytes).
        private const int StatBufferLength = 256;

        [LibraryImport("libc", SetLastError = true)]
        private static partial int fstat(SafeFdHandle fd, byte* buffer);

        [LibraryImport("libc", SetLastError = true)]
        private static partial int poll(LibcIo.PollFd* fds, nuint nfds, int timeout);

        /// <summary>
        /// ioctl(tun, TUNGETDEVNETNS): a new close-on-exec descriptor of the interface's namespace, or an invalid
        /// handle with <paramref name="errno"/> set (EBADFD: the interface is gone; EPERM: no CAP_NET_ADMIN over
        /// that namespace; EINVAL/ENOTTY: kernel older than 5.2).
        /// </summary>
        internal static SafeFdHandle OpenDeviceNamespace(SafeFdHandle tun, out int errno)
        {
            int fd = LibcIo.ioctl(tun, TUNGETDEVNETNS, 0);
            if (fd < 0)
            {
                errno = LibcIo.LastErrno;
                return new SafeFdHandle();
            }

            errno = 0;
            return new SafeFdHandle(fd, ownsHandle: true);
        }

        /// <summary>The calling thread's own namespace descriptor, or an invalid handle.</summary>
        internal static SafeFdHandle OpenThreadNamespace(out int errno) =>
            LibcIo.Open(ThreadNamespacePath, LibcIo.O_CLOEXEC, out errno); // O_RDONLY is 0

        /// <summary>(st_dev, st_ino) of a namespace descriptor; false when fstat fails.</summary>
        internal static bool TryGetIdentity(SafeFdHandle fd, out (ulong Device, ulong Inode) identity)
        {
            byte* buffer = stackalloc byte[StatBufferLength];
            // Sound: buffer is StatBufferLength bytes on this frame, more than sizeof(struct stat) on x86-64 (144)
            // and arm64 (128); fstat writes only the struct.
            if (fstat(fd, buffer) != 0)
            {
                identity = default;
                return false;
            }

            identity = (*(ulong*)buffer, *(ulong*)(buffer + 8));
            return true;
        }

        /// <summary>
        /// Waits up to <paramref name="timeoutMilliseconds"/> for <paramref name="wake"/> to become readable: 1 when
        /// it did, 0 on timeout, -errno on failure.
        /// </summary>
        internal static int WaitForWake(SafeFdHandle wake, int timeoutMilliseconds)
        {
            bool added = false;
            try
            {
                wake.DangerousAddRef(ref added);
                LibcIo.PollFd fds = new() { Fd = (int)wake.DangerousGetHandle(), Events = LibcIo.POLLIN };
                // Sound: fds is one initialised PollFd on this frame and nfds says 1; the handle is held open.
                int rc = poll(&fds, 1, timeoutMilliseconds);
                return rc < 0 ? -LibcIo.LastErrno : rc > 0 ? 1 : 0;
            }
            finally
            {
                if (added)
                {
                    wake.DangerousRelease();
                }
            }
        }
    }
}
