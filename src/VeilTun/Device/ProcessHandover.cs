using System.Globalization;
using Native = VeilTun.Interop.Privileges;

namespace VeilTun.Device;

/// <summary>
/// Process-level steps for handing a daemon's descriptors (TUN, UAPI listener) to a new program image: which
/// descriptors survive execve, a pipe, a file's identity, and execve itself. The daemon uses them to re-execute
/// itself through setpriv(1) as an unprivileged user (docs/privileges.md). Linux only.
/// </summary>
internal static class ProcessHandover
{
    /// <summary>The effective user id (geteuid).</summary>
    public static uint EffectiveUserId => Native.geteuid();

    /// <summary>
    /// Whether <paramref name="fd"/> stays open across execve and is inherited by started processes (FD_CLOEXEC
    /// clear) or not.
    /// </summary>
    /// <exception cref="IOException">fcntl failed (e.g. EBADF).</exception>
    public static void SetInheritable(int fd, bool inheritable)
    {
        int flags = Native.fcntl(fd, Native.F_GETFD, 0);
        if (flags < 0 || Native.fcntl(fd, Native.F_SETFD, inheritable ? flags & ~Native.FD_CLOEXEC : flags | Native.FD_CLOEXEC) < 0)
        {
            throw new IOException($"fcntl(FD_CLOEXEC) on descriptor {fd} failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>
    /// Marks every open descriptor above 2 close-on-exec, so that a process started next (or the image execve
    /// loads) inherits only what is made inheritable afterwards. Descriptors that vanish meanwhile are skipped.
    /// </summary>
    public static void CloseAllOnExec()
    {
        string[] entries;
        try
        {
            entries = Directory.GetFileSystemEntries("/proc/self/fd");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot list /proc/self/fd: {e.Message}", e);
        }
        foreach (string entry in entries)
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out int fd) || fd <= 2) continue;
            int flags = Native.fcntl(fd, Native.F_GETFD, 0);
            if (flags >= 0 && (flags & Native.FD_CLOEXEC) == 0) Native.fcntl(fd, Native.F_SETFD, flags | Native.FD_CLOEXEC);
        }
    }

    /// <summary>A pipe, both ends close-on-exec.</summary>
    /// <exception cref="IOException">pipe2 failed.</exception>
    public static unsafe (int Read, int Write) CreatePipe()
    {
        int* fds = stackalloc int[2];
        if (Native.pipe2(fds, Native.O_CLOEXEC) != 0)
        {
            throw new IOException($"pipe2 failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
        return (fds[0], fds[1]);
    }

    /// <summary>
    /// A write-only stream on descriptor 2 that calls write(2) for every write: it follows a later dup2 onto
    /// descriptor 2 (Daemon.Detach) and writes at the shared file offset, so two processes that hand stderr on to
    /// each other (the daemon before and after it drops privileges) append instead of overwriting each other, as
    /// a FileStream's positioned writes (pwrite) on a regular file would.
    /// </summary>
    public static Stream OpenStandardError() => new StandardErrorStream();

    private sealed class StandardErrorStream : Stream
    {
        private readonly SafeFdHandle _fd = new(2, ownsHandle: false);

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            while (!buffer.IsEmpty)
            {
                long n = Interop.LibcIo.Write(_fd, buffer);
                if (n == -Interop.LibcIo.EINTR) continue;
                if (n <= 0) throw new IOException($"write to stderr failed: errno {-n}");
                buffer = buffer[(int)n..];
            }
        }
    }

    /// <summary>Closes a descriptor (errors ignored).</summary>
    public static void Close(int fd) => Native.close(fd);

    /// <summary>
    /// The file's identity as "device:inode" in decimal, as stat(1) prints <c>%d:%i</c>, without following a final
    /// symlink; null if it does not exist or cannot be reached.
    /// </summary>
    public static string? FileId(string path) =>
        Native.TryGetFileId(path, out ulong device, out ulong inode) ? string.Create(CultureInfo.InvariantCulture, $"{device}:{inode}") : null;

    /// <summary>
    /// Replaces the process image (execve): <paramref name="path"/> with <paramref name="argv"/> (argv[0] included)
    /// and exactly the environment <paramref name="environment"/>. Every thread ends; descriptors not marked
    /// close-on-exec stay open. Returns only on failure.
    /// </summary>
    /// <exception cref="IOException">execve failed (the process is unchanged).</exception>
    public static void Exec(string path, IReadOnlyList<string> argv, IReadOnlyDictionary<string, string> environment)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(argv);
        ArgumentNullException.ThrowIfNull(environment);
        var env = environment.Select(kv => kv.Key + "=" + kv.Value).ToArray();
        int errno = Native.Execve(path, argv, env);
        throw new IOException($"execve({path}) failed: errno {errno}");
    }
}
