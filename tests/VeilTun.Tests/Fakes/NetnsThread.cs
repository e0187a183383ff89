using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using LibcIo = VeilTun.Interop.LibcIo;
using Netns = VeilTun.Interop.Netns;

namespace VeilTun.Tests.Fakes;

/// <summary>
/// A fresh network namespace (<c>ip netns add vt-t-XXXXXXXX</c>) plus a dedicated thread that has entered it with
/// setns(2). Work passed to <see cref="Invoke{T}"/> runs on that thread, so sockets and TUN devices it creates
/// belong to the namespace (file descriptors keep their namespace when used from other threads later).
/// <see cref="Dispose"/> stops the thread and deletes the namespace, which also deletes every interface in it.
/// Needs root.
/// </summary>
public sealed class NetnsThread : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;
    private Exception? _startError;

    private NetnsThread(string name)
    {
        Name = name;
        using var ready = new ManualResetEventSlim();
        _thread = new Thread(() => ThreadMain(ready)) { IsBackground = true, Name = "netns " + name };
        _thread.Start();
        ready.Wait();
        if (_startError is not null)
        {
            _work.CompleteAdding();
            _thread.Join();
            throw new InvalidOperationException($"setns into {name} failed", _startError);
        }
    }

    /// <summary>Namespace name as used by <c>ip -n</c>.</summary>
    public string Name { get; }

    /// <summary>Creates a namespace named <paramref name="prefix"/> + 8 random hex digits and enters it.</summary>
    public static NetnsThread Create(string prefix = "vt-t-")
    {
        string name = prefix + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        Run("ip", $"netns add {name}");
        try
        {
            return new NetnsThread(name);
        }
        catch
        {
            Run("ip", $"netns del {name}", throwOnError: false);
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/> on the namespace thread and returns its result (or rethrows).</summary>
    public T Invoke<T>(Func<T> work)
    {
        T result = default!;
        Exception? error = null;
        using var done = new ManualResetEventSlim();
        _work.Add(() =>
        {
            try
            {
                result = work();
            }
            catch (Exception e)
            {
                error = e;
            }
            finally
            {
                done.Set();
            }
        });
        done.Wait();
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        }

        return result;
    }

    /// <summary>Runs <paramref name="work"/> on the namespace thread (or rethrows).</summary>
    public void Invoke(Action work) => Invoke(() =>
    {
        work();
        return 0;
    });

    /// <summary>Runs <c>ip -n NAME args</c>; returns stdout, throws with stderr on a non-zero exit.</summary>
    public string Ip(string args) => Run("ip", $"-n {Name} {args}");

    /// <summary>
    /// Waits (at most <see cref="BlockingCall.HangGuard"/>) until <paramref name="address"/> has its local route,
    /// i.e. the kernel accepts packets to it. IPv6 addresses finish configuring asynchronously (addrconf's DAD
    /// work, which runs even with nodad) after "addr add" / "link set up" return; until then a reply to the
    /// address is dropped (Ip6InAddrErrors) and sources may not be chosen from it.
    /// </summary>
    public void WaitForLocalAddress(string address)
    {
        DateTime deadline = DateTime.UtcNow + BlockingCall.HangGuard;
        string family = address.Contains(':') ? "-6" : "-4"; // ip lists IPv4 only unless told
        while (Ip($"{family} route show table local {address}").Trim().Length == 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{address} never became local in {Name}");
            }

            Thread.Sleep(5);
        }
    }

    /// <summary>Starts <c>ip netns exec NAME file args</c> with redirected output (caller waits and disposes).</summary>
    public Process Start(string file, string args)
    {
        var info = new ProcessStartInfo("ip", $"netns exec {Name} {file} {args}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        return Process.Start(info) ?? throw new InvalidOperationException("could not start ip netns exec");
    }

    /// <summary>Runs a command to completion; returns stdout, throws with stderr on a non-zero exit.</summary>
    public static string Run(string file, string args, bool throwOnError = true)
    {
        var info = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using Process process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (throwOnError && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"`{file} {args}` exited {process.ExitCode}: {stderr.Result.Trim()}");
        }

        return stdout;
    }

    public void Dispose()
    {
        if (!_work.IsAddingCompleted)
        {
            _work.CompleteAdding();
        }

        _thread.Join();
        _work.Dispose();
        Run("ip", $"netns del {Name}", throwOnError: false);
    }

    private void ThreadMain(ManualResetEventSlim ready)
    {
        try
        {
            using var ns = LibcIo.Open($"/var/run/netns/{Name}", LibcIo.O_CLOEXEC, out int errno);
            if (ns.IsInvalid)
            {
                throw new IOException($"open /var/run/netns/{Name}: {LibcIo.Describe(errno)}");
            }

            // setns(2) moves only this thread; the rest of the test process stays where it was.
            if (Netns.setns(ns, Netns.CLONE_NEWNET) != 0)
            {
                throw new IOException($"setns: {LibcIo.Describe(LibcIo.LastErrno)}");
            }
        }
        catch (Exception e)
        {
            _startError = e;
            ready.Set();
            return;
        }

        ready.Set();
        foreach (Action work in _work.GetConsumingEnumerable())
        {
            work();
        }
    }
}
