using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    internal static partial class Clock
    {
        internal const int CLOCK_BOOTTIME = 7;

        [StructLayout(LayoutKind.Sequential)]
        internal struct Timespec
        {
            public long Seconds;
            public long Nanoseconds;
        }

        // clock_gettime(2) writes one timespec through the pointer; the struct is a local on the caller's stack.
        [LibraryImport("libc", SetLastError = true)]
        internal static partial int clock_gettime(int clockId, out Timespec time);
    }
}
