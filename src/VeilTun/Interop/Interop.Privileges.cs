using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>
    /// What the daemon needs to hand its descriptors to an unprivileged copy of itself: close-on-exec control,
    /// a pipe, lstat's device and inode numbers, the effective user id and execve. Layouts assume Linux LP64.
    /// </summary>
    internal static unsafe partial class Privileges
    {
        private const string Libc = "libc";

        internal const int F_GETFD = 1;
        internal const int F_SETFD = 2;
        internal const int FD_CLOEXEC = 1;
        internal const int O_CLOEXEC = 0x80000;

        // fcntl is variadic in C; on x86-64 and arm64 an int argument passes like the fixed ones (see LibcIo).
        [LibraryImport(Libc, EntryPoint = "fcntl", SetLastError = true)]
        internal static partial int fcntl(int fd, int cmd, nint arg);

        [LibraryImport(Libc, EntryPoint = "pipe2", SetLastError = true)]
        internal static partial int pipe2(int* fds, int flags);

        [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
        internal static partial int close(int fd);

        [LibraryImport(Libc, EntryPoint = "geteuid")]
        internal static partial uint geteuid();

        // glibc ≥ 2.33 exports lstat. struct stat starts with st_dev (8 bytes) then st_ino (8 bytes) on both x86-64
        // and arm64 (asm-generic); the whole struct is 144 (x86-64) or 128 (arm64) bytes: 256 covers both.
        [LibraryImport(Libc, EntryPoint = "lstat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        private static partial int lstat(string path, byte* buf);

        [LibraryImport(Libc, EntryPoint = "execve", SetLastError = true)]
        private static partial int execve(byte* path, byte** argv, byte** envp);

        /// <summary>(st_dev, st_ino) of <paramref name="path"/> without following a final symlink; false if absent.</summary>
        internal static bool TryGetFileId(string path, out ulong device, out ulong inode)
        {
            byte* buf = stackalloc byte[256];
            if (lstat(path, buf) != 0)
            {
                device = inode = 0;
                return false;
            }
            device = *(ulong*)buf;
            inode = *(ulong*)(buf + 8);
            return true;
        }

        /// <summary>execve(2); returns only on failure, with errno.</summary>
        internal static int Execve(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
        {
            var allocations = new List<nint>();
            byte* Utf8(string s)
            {
                nint p = Marshal.StringToCoTaskMemUTF8(s);
                allocations.Add(p);
                return (byte*)p;
            }
            byte** args = (byte**)NativeMemory.AllocZeroed((nuint)(argv.Count + 1), (nuint)sizeof(byte*));
            byte** env = (byte**)NativeMemory.AllocZeroed((nuint)(envp.Count + 1), (nuint)sizeof(byte*));
            try
            {
                for (int i = 0; i < argv.Count; i++) args[i] = Utf8(argv[i]);
                for (int i = 0; i < envp.Count; i++) env[i] = Utf8(envp[i]);
                execve(Utf8(path), args, env);
                return Marshal.GetLastPInvokeError();
            }
            finally
            {
                foreach (nint p in allocations) Marshal.FreeCoTaskMem(p);
                NativeMemory.Free(args);
                NativeMemory.Free(env);
            }
        }
    }
}
