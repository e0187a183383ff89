namespace VeilTun.Device;

/// <summary>Process-level helpers for running as a daemon (the CLI's detach step).</summary>
internal static class Daemon
{
    /// <summary>
    /// Detaches the current process from its terminal: a new session (setsid) and, unless
    /// <paramref name="keepStdio"/>, stdin/stdout/stderr on /dev/null (wireguard-go does the same for its child
    /// unless LOG_LEVEL asks for output).
    /// </summary>
    public static void Detach(bool keepStdio)
    {
        Interop.Process.setsid();
        if (keepStdio) return;
        int devNull = Interop.Process.open("/dev/null", Interop.Process.O_RDWR);
        if (devNull < 0) return;
        for (int fd = 0; fd <= 2; fd++) Interop.Process.dup2(devNull, fd);
        if (devNull > 2) Interop.Process.close(devNull);
    }
}
