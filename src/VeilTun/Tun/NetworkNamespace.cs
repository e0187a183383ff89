using System.Runtime.InteropServices;

namespace VeilTun.Tun;

/// <summary>
/// Runs code inside a named network namespace (<c>ip netns add NAME</c>) on a dedicated thread: sockets and TUN
/// devices created there belong to that namespace and keep working from any thread afterwards. For tests and
/// tools; the daemon itself runs in whatever namespace it was started in.
/// </summary>
internal static class NetworkNamespace
{
    /// <summary>Runs <paramref name="action"/> on a new thread that first enters /var/run/netns/<paramref name="name"/>.</summary>
    public static T Run<T>(string name, Func<T> action)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using var ns = File.OpenHandle(Path.Combine("/var/run/netns", name));
                if (Interop.Netns.setns(ns, Interop.Netns.CLONE_NEWNET) != 0)
                    throw new IOException($"setns({name}) failed: errno {Marshal.GetLastPInvokeError()}");
                result = action();
            }
            catch (Exception ex)
            {
                error = ex;
            }
        })
        { IsBackground = true, Name = "netns:" + name };
        thread.Start();
        thread.Join();
        if (error is not null) throw new InvalidOperationException($"in namespace {name}: {error.Message}", error);
        return result;
    }
}
