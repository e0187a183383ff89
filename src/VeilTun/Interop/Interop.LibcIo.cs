using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// glibc file-descriptor I/O used by the TUN device and the UDP socket: open/close/read/write/readv/writev,
    /// poll, eventfd, fcntl, ioctl, gettid. The span-level helpers return the syscall's result, or <c>-errno</c> on
    /// failure, so callers branch on one integer without a second P/Invoke for errno. Every helper that takes a
    /// <see cref="SafeFdHandle"/> holds a reference on it for the duration of the syscall (the [LibraryImport]
    /// marshaller does AddRef/Release), so a concurrent Dispose can never close the descriptor under a running
    /// syscall; it throws <see cref="ObjectDisposedException"/> instead if the handle is already closed.
    /// Layouts assume Linux LP64 (x86-64, arm64): pointers and size_t are 8 bytes.
    /// </summary>
    internal static unsafe partial class LibcIo
    {
        private const string Libc = "libc";

        // errno values, include/uapi/asm-generic/errno-base.h and errno.h (identical on x86-64 and arm64).
        internal const int EPERM = 1;
        internal const int EINTR = 4;
        internal const int EIO = 5;
        internal const int EBADF = 9;
        internal const int EAGAIN = 11;
        internal const int ENOMEM = 12;
        internal const int EACCES = 13;
        internal const int EBUSY = 16;
        internal const int ENODEV = 19;
        internal const int EINVAL = 22;
        internal const int EBADFD = 77;
        internal const int EMSGSIZE = 90;
        internal const int EAFNOSUPPORT = 97;
        internal const int EADDRINUSE = 98;
        internal const int EADDRNOTAVAIL = 99;
        internal const int ENETDOWN = 100;
        internal const int ENETUNREACH = 101;
        internal const int ENOBUFS = 105;
        internal const int ECONNREFUSED = 111;
        internal const int EHOSTDOWN = 112;
        internal const int EHOSTUNREACH = 113;

        // include/uapi/asm-generic/fcntl.h
        internal const int O_RDWR = 0x2;
        internal const int O_NONBLOCK = 0x800;
        internal const int O_CLOEXEC = 0x80000;
        internal const int F_GETFL = 3;
        internal const int F_SETFL = 4;

        // include/uapi/asm-generic/poll.h
        internal const short POLLIN = 0x1;
        internal const short POLLOUT = 0x4;
        internal const short POLLERR = 0x8;
        internal const short POLLHUP = 0x10;
        internal const short POLLNVAL = 0x20;

        /// <summary>Bit set in <see cref="PollWithWake"/>'s result when the wake descriptor fired.</summary>
        internal const int PollWoken = 0x10000;

        // include/uapi/linux/eventfd.h (EFD_* share the O_* values).
        private const int EFD_NONBLOCK = O_NONBLOCK;
        private const int EFD_CLOEXEC = O_CLOEXEC;

        [StructLayout(LayoutKind.Sequential)]
        internal struct PollFd
        {
            public int Fd;
            public short Events;
            public short REvents;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal struct IoVec
        {
            public void* Base;
            public nuint Length;
        }

        [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial SafeFdHandle OpenNative(string path, int flags, int mode);

        [LibraryImport(Libc, SetLastError = true)]
        internal static partial int close(int fd);

        [LibraryImport(Libc, SetLastError = true)]
        private static partial nint read(SafeFdHandle fd, byte* buffer, nuint count);

        [LibraryImport(Libc, SetLastError = true)]
        private static partial nint write(SafeFdHandle fd, byte* buffer, nuint count);

        [LibraryImport(Libc, SetLastError = true)]
        private static partial nint readv(SafeFdHandle fd, IoVec* iov, int iovcnt);

        [LibraryImport(Libc, SetLastError = true)]
        private static partial nint writev(SafeFdHandle fd, IoVec* iov, int iovcnt);

        [LibraryImport(Libc, SetLastError = true)]
        private static partial int poll(PollFd* fds, nuint nfds, int timeout);

        [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
        private static partial SafeFdHandle EventFdNative(uint initval, int flags);

        // fcntl and ioctl are variadic in C. On the Linux x86-64 (SysV) and arm64 (AAPCS64) ABIs a variadic callee
        // takes integer/pointer arguments from the same registers as a fixed-argument one (on x86-64 %al only
        // bounds the vector registers the callee spills), so binding them with one fixed third argument is sound.
        [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
        private static partial int fcntl(SafeFdHandle fd, int cmd, nint arg);

        [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int ioctl(SafeFdHandle fd, nuint request, void* argp);

        [LibraryImport(Libc, EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int ioctl(SafeFdHandle fd, nuint request, nint value);

        [LibraryImport(Libc)]
        private static partial int gettid();

        [LibraryImport(Libc, EntryPoint = "getrandom", SetLastError = true)]
        private static partial nint getrandom(byte* buffer, nuint length, uint flags);

        /// <summary>
        /// Fills <paramref name="destination"/> from the kernel's CSPRNG with getrandom(2) (blocking only until the
        /// pool is first initialised, as RandomNumberGenerator). False if the call is unavailable (ENOSYS, seccomp):
        /// the caller falls back. The tunnel's randomness does not load OpenSSL this way (libssl and libcrypto were
        /// 3.6 MiB of an idle daemon's RSS).
        /// </summary>
        internal static bool TryGetRandom(Span<byte> destination)
        {
            fixed (byte* p = destination)
            {
                int done = 0;
                while (done < destination.Length)
                {
                    nint n = getrandom(p + done, (nuint)(destination.Length - done), 0);
                    if (n < 0)
                    {
                        if (LastErrno == EINTR) continue;
                        return false;
                    }
                    done += (int)n;
                }
            }
            return true;
        }

        /// <summary>errno of the last [LibraryImport] call made on this thread with SetLastError = true.</summary>
        internal static int LastErrno => Marshal.GetLastPInvokeError();

        /// <summary>Opens <paramref name="path"/>; on failure the handle is invalid and <paramref name="errno"/> set.</summary>
        internal static SafeFdHandle Open(string path, int flags, out int errno)
        {
            SafeFdHandle fd = OpenNative(path, flags, 0);
            errno = fd.IsInvalid ? LastErrno : 0;
            return fd;
        }

        /// <summary>Creates a non-blocking, close-on-exec eventfd with counter 0.</summary>
        internal static SafeFdHandle CreateEventFd(out int errno)
        {
            SafeFdHandle fd = EventFdNative(0, EFD_NONBLOCK | EFD_CLOEXEC);
            errno = fd.IsInvalid ? LastErrno : 0;
            return fd;
        }

        /// <summary>read(2) into <paramref name="buffer"/>: bytes read (the full length the kernel reports), or -errno.</summary>
        internal static long Read(SafeFdHandle fd, Span<byte> buffer)
        {
            // Sound: the fixed statement pins buffer for the call and the kernel writes at most buffer.Length bytes.
            fixed (byte* p = buffer)
            {
                nint n = read(fd, p, (nuint)buffer.Length);
                return n >= 0 ? n : -LastErrno;
            }
        }

        /// <summary>write(2) of <paramref name="data"/>: bytes written, or -errno.</summary>
        internal static long Write(SafeFdHandle fd, ReadOnlySpan<byte> data)
        {
            // Sound: data is pinned for the call and the kernel only reads data.Length bytes from it.
            fixed (byte* p = data)
            {
                nint n = write(fd, p, (nuint)data.Length);
                return n >= 0 ? n : -LastErrno;
            }
        }

        /// <summary>readv(2) into <paramref name="head"/> then <paramref name="body"/>: total bytes, or -errno.</summary>
        internal static long ReadV(SafeFdHandle fd, Span<byte> head, Span<byte> body)
        {
            // Sound: both spans are pinned for the call; each iovec carries its span's exact length, so the kernel
            // writes nothing outside them. The iovec array lives on this stack frame.
            fixed (byte* h = head)
            fixed (byte* b = body)
            {
                IoVec* iov = stackalloc IoVec[2];
                iov[0] = new IoVec { Base = h, Length = (nuint)head.Length };
                iov[1] = new IoVec { Base = b, Length = (nuint)body.Length };
                nint n = readv(fd, iov, 2);
                return n >= 0 ? n : -LastErrno;
            }
        }

        /// <summary>writev(2) of <paramref name="head"/> then <paramref name="body"/>: total bytes, or -errno.</summary>
        internal static long WriteV(SafeFdHandle fd, ReadOnlySpan<byte> head, ReadOnlySpan<byte> body)
        {
            // Sound: as ReadV; the kernel only reads the two pinned spans within their lengths.
            fixed (byte* h = head)
            fixed (byte* b = body)
            {
                IoVec* iov = stackalloc IoVec[2];
                iov[0] = new IoVec { Base = h, Length = (nuint)head.Length };
                iov[1] = new IoVec { Base = b, Length = (nuint)body.Length };
                nint n = writev(fd, iov, 2);
                return n >= 0 ? n : -LastErrno;
            }
        }

        /// <summary>Maximum parts of <see cref="WriteGather"/> (a coalesced super-packet: head plus merged segments).</summary>
        internal const int MaxGatherParts = 256;

        /// <summary>
        /// writev(2) of <paramref name="head"/> followed by each of <paramref name="parts"/> (buffer memory, offset,
        /// length): total bytes, or -errno. Buffer memory never moves (native, or a pinned-heap array), so no pin is
        /// needed per part.
        /// </summary>
        internal static long WriteGather(SafeFdHandle fd, ReadOnlySpan<byte> head, ReadOnlySpan<(NativeBufferMemory Memory, int Offset, int Length)> parts)
        {
            if (parts.Length + 1 > MaxGatherParts) throw new ArgumentException("too many parts", nameof(parts));
            IoVec* iov = stackalloc IoVec[parts.Length + 1];
            for (int i = 0; i < parts.Length; i++)
            {
                var (memory, offset, length) = parts[i];
                // Sound: Address checks the range; the memory never moves and stays mapped while its buffer is
                // rented, which the caller's packets are for the whole call (and `parts` references it).
                iov[i + 1] = new IoVec { Base = memory.Address(offset, length), Length = (nuint)length };
            }
            // Sound: head is pinned for the call; the kernel only reads the iovecs' bytes.
            fixed (byte* h = head)
            {
                iov[0] = new IoVec { Base = h, Length = (nuint)head.Length };
                nint n = writev(fd, iov, parts.Length + 1);
                return n >= 0 ? n : -LastErrno;
            }
        }

        /// <summary>
        /// Blocks in poll(2) until <paramref name="fd"/> reports one of <paramref name="events"/> (or an error/hang-up
        /// condition) or <paramref name="wake"/> becomes readable. Returns the revents of <paramref name="fd"/>, ORed
        /// with <see cref="PollWoken"/> when <paramref name="wake"/> fired; or -errno (EINTR included).
        /// </summary>
        internal static int PollWithWake(SafeFdHandle fd, short events, SafeFdHandle wake)
        {
            bool fdRef = false, wakeRef = false;
            try
            {
                // poll takes raw descriptor numbers, so hold both handles open across the call by hand.
                fd.DangerousAddRef(ref fdRef);
                wake.DangerousAddRef(ref wakeRef);
                PollFd* fds = stackalloc PollFd[2];
                fds[0] = new PollFd { Fd = (int)fd.DangerousGetHandle(), Events = events };
                fds[1] = new PollFd { Fd = (int)wake.DangerousGetHandle(), Events = POLLIN };
                // Sound: fds points at 2 initialised PollFd on this stack frame, and nfds says 2.
                int rc = poll(fds, 2, -1);
                if (rc < 0)
                {
                    return -LastErrno;
                }

                int result = (ushort)fds[0].REvents;
                if (fds[1].REvents != 0)
                {
                    result |= PollWoken;
                }

                return result;
            }
            finally
            {
                if (wakeRef)
                {
                    wake.DangerousRelease();
                }

                if (fdRef)
                {
                    fd.DangerousRelease();
                }
            }
        }

        /// <summary>Adds 1 to an eventfd counter, making it readable until someone reads it; 0 or -errno.</summary>
        internal static int SignalEventFd(SafeFdHandle eventFd)
        {
            ulong one = 1;
            // Sound: eventfd write(2) takes exactly one 8-byte counter value; "one" is a local on this frame.
            long n = Write(eventFd, new ReadOnlySpan<byte>(&one, sizeof(ulong)));
            return n < 0 ? (int)n : 0;
        }

        /// <summary>Adds O_NONBLOCK to the file status flags; 0 or -errno.</summary>
        internal static int SetNonBlocking(SafeFdHandle fd)
        {
            int flags = fcntl(fd, F_GETFL, 0);
            if (flags < 0)
            {
                return -LastErrno;
            }

            if ((flags & O_NONBLOCK) != 0)
            {
                return 0;
            }

            return fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -LastErrno : 0;
        }

        /// <summary>Kernel thread id of the calling thread (for /proc/self/task/TID lookups).</summary>
        internal static int CurrentThreadId() => gettid();

        /// <summary>Message for an errno value, e.g. "Operation not permitted (EPERM 1)"-like strerror text.</summary>
        internal static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

        /// <summary>
        /// Exception for a failed setup call: <see cref="UnauthorizedAccessException"/> for EPERM/EACCES, otherwise
        /// <see cref="IOException"/> whose HResult is the errno.
        /// </summary>
        internal static Exception ErrnoException(string operation, int errno) => errno is EPERM or EACCES
            ? new UnauthorizedAccessException($"{operation} failed: {Describe(errno)}")
            : new IOException($"{operation} failed: {Describe(errno)}", errno);
    }
}

/// <summary>
/// Owns a Linux file descriptor, closed with close(2) when the last in-flight syscall using it has returned.
/// Descriptor 0 is valid; -1 is the invalid value.
/// </summary>
internal sealed class SafeFdHandle : SafeHandle
{
    /// <summary>Used by the [LibraryImport] marshaller for returned descriptors.</summary>
    public SafeFdHandle()
        : base(new IntPtr(-1), ownsHandle: true)
    {
    }

    /// <summary>Wraps an existing descriptor; it is closed on release only if <paramref name="ownsHandle"/>.</summary>
    internal SafeFdHandle(int fd, bool ownsHandle)
        : base(new IntPtr(-1), ownsHandle)
    {
        SetHandle(fd);
    }

    public override bool IsInvalid => (int)handle < 0;

    // close(2) on Linux releases the descriptor even when it reports EINTR, so there is nothing to retry.
    protected override bool ReleaseHandle() => Interop.LibcIo.close((int)handle) == 0;
}
