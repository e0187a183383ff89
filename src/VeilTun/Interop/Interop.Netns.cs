using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    internal static partial class Netns
    {
        internal const int CLONE_NEWNET = 0x40000000;

        // setns(2) moves the calling thread (only) into the namespace named by fd.
        [LibraryImport("libc", SetLastError = true)]
        internal static partial int setns(SafeHandle fd, int nstype);
    }
}
