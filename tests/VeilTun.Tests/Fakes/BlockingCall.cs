using System.Runtime.InteropServices;
using Xunit;
using LibcIo = VeilTun.Interop.LibcIo;

namespace VeilTun.Tests.Fakes;

/// <summary>
/// Runs a blocking call on its own thread and returns once that thread is asleep in poll(2), so a test can
/// check that something (Close, interface deletion) really wakes a blocked call rather than one not yet started.
/// </summary>
public static class BlockingCall
{
    /// <summary>Upper bound for waits in these tests; only a hang guard, never a pass/fail timing criterion.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);

    /// <summary>Starts <paramref name="call"/> and waits (at most <see cref="HangGuard"/>) until it sleeps in poll.</summary>
    public static Task<T> StartAndWaitUntilBlocked<T>(Func<T> call)
    {
        var threadId = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            threadId.SetResult(LibcIo.CurrentThreadId());
            try
            {
                result.SetResult(call());
            }
            catch (Exception e)
            {
                result.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "blocking call",
        };
        thread.Start();
        int tid = threadId.Task.Result;
        Assert.True(WaitUntilInPoll(tid, result.Task), "the call never blocked in poll(2)");
        return result.Task;
    }

    /// <summary>
    /// /proc/self/task/TID/syscall holds the number of the syscall the thread sleeps in ("running" otherwise).
    /// True once it is poll/ppoll; also true if the call already finished (the caller then sees its result).
    /// </summary>
    private static bool WaitUntilInPoll(int tid, Task finished)
    {
        // x86-64: poll 7, ppoll 271; arm64 has only ppoll (73).
        int[] pollSyscalls = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? [73] : [7, 271];
        DateTime deadline = DateTime.UtcNow + HangGuard;
        string path = $"/proc/self/task/{tid}/syscall";
        while (DateTime.UtcNow < deadline)
        {
            if (finished.IsCompleted)
            {
                return true;
            }

            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (IOException)
            {
                return true; // thread gone: the call finished
            }

            int space = text.IndexOf(' ');
            if (space > 0 && int.TryParse(text.AsSpan(0, space), out int nr) && pollSyscalls.Contains(nr))
            {
                return true;
            }

            Thread.Sleep(5);
        }

        return false;
    }
}
