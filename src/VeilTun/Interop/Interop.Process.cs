using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    internal static partial class Process
    {
        [LibraryImport("libc", SetLastError = true)]
        internal static partial int setsid();

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int dup2(int oldfd, int newfd);

        [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int open(string path, int flags);

        [LibraryImport("libc", SetLastError = true)]
        internal static partial int close(int fd);

        internal const int O_RDWR = 2;
    }
}
