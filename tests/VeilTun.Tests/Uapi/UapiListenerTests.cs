using System.Net.Sockets;
using System.Text;
using VeilTun.Uapi;
using Xunit;

namespace VeilTun.Tests.Uapi;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // Unix sockets and file modes
public sealed class UapiListenerTests : IDisposable
{
    // Generous bound on waits so a broken implementation fails instead of hanging; not a timing assertion.
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(30);

    private readonly string _directory = Path.Combine(Directory.CreateTempSubdirectory("veiltun-uapi-").FullName, "wireguard");

    public void Dispose()
    {
        try { Directory.Delete(Path.GetDirectoryName(_directory)!, true); } catch (IOException) { }
    }

    private static async Task<string> WgStyleRequestAsync(string path, string request)
    {
        // What wg(8) does (tools:src/ipc-uapi-unix.h): stat for S_ISSOCK, connect, write, read lines up to errno=.
        Assert.True(File.Exists(path));
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await using var stream = new NetworkStream(socket);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        return await SocketPair.ReadReplyAsync(stream);
    }

    [Fact]
    public async Task WgStyleClientCanGetAndSet()
    {
        using var listener = UapiListener.Create("wg0", _directory);
        Assert.Equal(Path.Combine(_directory, "wg0.sock"), listener.Path);
        var handler = new RecordingHandler();
        using var cts = new CancellationTokenSource();
        var run = listener.RunAsync(handler, cts.Token);

        Assert.Equal("listen_port=51820\nerrno=0\n\n", await WgStyleRequestAsync(listener.Path, "get=1\n\n"));
        Assert.Equal("errno=0\n\n", await WgStyleRequestAsync(listener.Path, "set=1\nfwmark=7\n\n"));
        Assert.Equal(7u, Assert.Single(handler.Sets).Fwmark);

        await cts.CancelAsync();
        await run.WaitAsync(s_wait); // cancellation ends RunAsync normally
    }

    [Fact]
    public async Task RunServesOnTheCallingThreadWithNoPollWhileInotifyWatches()
    {
        using var listener = UapiListener.Create("wg1", _directory);
        Assert.False(listener.IsPolling); // inotify works here: nothing wakes every second
        var handler = new RecordingHandler();
        using var cts = new CancellationTokenSource();
        int servingThread = 0;
        var thread = new Thread(() =>
        {
            Volatile.Write(ref servingThread, Environment.CurrentManagedThreadId);
            listener.Run(handler, cts.Token);
        });
        thread.Start();

        Assert.Equal("listen_port=51820\nerrno=0\n\n", await WgStyleRequestAsync(listener.Path, "get=1\n\n"));
        await cts.CancelAsync();
        Assert.True(thread.Join(s_wait), "Run did not return after cancellation");
        Assert.NotEqual(0, servingThread);

        File.Delete(listener.Path); // still noticed without a poll
        await listener.SocketRemoved.WaitAsync(s_wait);
    }

    [Fact]
    public async Task ConnectionsAreServedConcurrently()
    {
        using var listener = UapiListener.Create("wg0", _directory);
        using var cts = new CancellationTokenSource();
        var run = listener.RunAsync(new RecordingHandler(), cts.Token);

        // An idle client that never sends anything must not block another one.
        using var idle = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await idle.ConnectAsync(new UnixDomainSocketEndPoint(listener.Path));
        var replies = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => WgStyleRequestAsync(listener.Path, "get=1\n\n"))).WaitAsync(s_wait);
        Assert.All(replies, r => Assert.Equal("listen_port=51820\nerrno=0\n\n", r));

        await cts.CancelAsync();
        await run.WaitAsync(s_wait); // and the idle connection is cancelled too
    }

    // End of stream, or a reset (the daemon closed it with our unread bytes still queued).
    private static async Task<bool> ClosedByPeerAsync(Socket socket)
    {
        try
        {
            return await socket.ReceiveAsync(new byte[16]).WaitAsync(s_wait) == 0;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    [Fact]
    public async Task IdleClientsBeyondTheBoundAreClosedOldestFirstAndCannotLockOthersOut()
    {
        using var listener = UapiListener.Create("wg0", _directory);
        listener.MaxConnections = 4;
        using var cts = new CancellationTokenSource();
        var run = listener.RunAsync(new RecordingHandler(), cts.Token);
        var idle = new List<Socket>();
        try
        {
            for (int i = 0; i < 20; i++)
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                idle.Add(s);
                await s.ConnectAsync(new UnixDomainSocketEndPoint(listener.Path));
                Assert.Equal(3, await s.SendAsync("get"u8.ToArray())); // half a request, never finished
            }

            Assert.Equal("listen_port=51820\nerrno=0\n\n", await WgStyleRequestAsync(listener.Path, "get=1\n\n").WaitAsync(s_wait));
            // The oldest idle clients were closed by the daemon (end of stream), not left holding descriptors.
            Assert.True(await ClosedByPeerAsync(idle[0]));
            Assert.True(await ClosedByPeerAsync(idle[10]));
        }
        finally
        {
            foreach (var s in idle) s.Dispose();
        }

        await cts.CancelAsync();
        await run.WaitAsync(s_wait);
    }

    [Fact]
    public async Task AConnectionIsClosedAtTheEndOfItsLifetime()
    {
        using var listener = UapiListener.Create("wg0", _directory);
        listener.ConnectionLifetime = TimeSpan.FromMilliseconds(200);
        using var cts = new CancellationTokenSource();
        var run = listener.RunAsync(new RecordingHandler(), cts.Token);
        using var stuck = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await stuck.ConnectAsync(new UnixDomainSocketEndPoint(listener.Path));

        Assert.True(await ClosedByPeerAsync(stuck));

        await cts.CancelAsync();
        await run.WaitAsync(s_wait);
    }

    [Fact]
    public void SocketFileIsPrivateAndDirectoryIsNotWritableByOthers()
    {
        using var listener = UapiListener.Create("wg0", _directory);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(listener.Path));
        var dirMode = File.GetUnixFileMode(_directory);
        Assert.True(dirMode.HasFlag(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
        Assert.False(dirMode.HasFlag(UnixFileMode.GroupWrite) || dirMode.HasFlag(UnixFileMode.OtherWrite));
    }

    [Fact]
    public void LiveSocketIsRefused()
    {
        using var first = UapiListener.Create("wg0", _directory);
        var e = Assert.Throws<IOException>(() => UapiListener.Create("wg0", _directory));
        Assert.Equal("unix socket in use", e.Message);
        Assert.True(File.Exists(first.Path)); // the live socket was left alone
    }

    [Fact]
    public async Task StaleSocketFileIsReplaced()
    {
        Directory.CreateDirectory(_directory);
        string path = Path.Combine(_directory, "wg0.sock");
        // A socket file whose process is gone, so connect() is refused. .NET unlinks the path a socket was bound to
        // when it is disposed, so bind under another name and rename the file into place first.
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            stale.Bind(new UnixDomainSocketEndPoint(path + ".tmp"));
            stale.Listen(1);
            File.Move(path + ".tmp", path);
        }
        Assert.True(File.Exists(path));

        using var listener = UapiListener.Create("wg0", _directory);
        using var cts = new CancellationTokenSource();
        var run = listener.RunAsync(new RecordingHandler(), cts.Token);
        Assert.Equal("listen_port=51820\nerrno=0\n\n", await WgStyleRequestAsync(path, "get=1\n\n"));
        await cts.CancelAsync();
        await run.WaitAsync(s_wait);
    }

    [Fact]
    public async Task DeletingTheSocketFileIsObserved()
    {
        using var listener = UapiListener.Create("wg0", _directory);
        Assert.False(listener.SocketRemoved.IsCompleted);
        File.Delete(listener.Path);
        await listener.SocketRemoved.WaitAsync(s_wait);
    }

    [Fact]
    public void DisposeUnlinksOnlyItsOwnSocket()
    {
        var listener = UapiListener.Create("wg0", _directory);
        string path = listener.Path;
        listener.Dispose();
        Assert.False(File.Exists(path));
        listener.Dispose(); // idempotent
    }

    [Fact]
    public async Task DisposeLeavesAReplacementFileAlone()
    {
        var listener = UapiListener.Create("wg0", _directory);
        File.Delete(listener.Path);
        await listener.SocketRemoved.WaitAsync(s_wait);
        File.WriteAllText(listener.Path, "someone else's");
        listener.Dispose();
        Assert.True(File.Exists(listener.Path));
    }

    [Fact]
    public async Task InheritedFileDescriptorIsServed()
    {
        // Stand-in for WG_UAPI_FD: a listening socket whose descriptor is handed over.
        Directory.CreateDirectory(_directory);
        string path = Path.Combine(_directory, "wg1.sock");
        var parent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        parent.Bind(new UnixDomainSocketEndPoint(path));
        parent.Listen(8);
        int fd = (int)parent.SafeHandle.DangerousGetHandle();
        parent.SafeHandle.SetHandleAsInvalid(); // ownership moves to the listener below
        GC.SuppressFinalize(parent);             // and the husk must never be disposed (that would wait forever)

        using var listener = UapiListener.FromFileDescriptor(fd, path);
        using var cts = new CancellationTokenSource();
        var run = listener.RunAsync(new RecordingHandler(), cts.Token);
        Assert.Equal("listen_port=51820\nerrno=0\n\n", await WgStyleRequestAsync(path, "get=1\n\n"));
        await cts.CancelAsync();
        await run.WaitAsync(s_wait);
    }

    [Fact]
    public async Task ADetachedDescriptorStillListensAndTheSocketFileStays()
    {
        // The daemon's privilege drop: created as root, detached, adopted by the re-executed image (WG_UAPI_FD).
        var created = UapiListener.Create("wg2", _directory);
        int fd = created.DetachFileDescriptor();
        Assert.Throws<ObjectDisposedException>(() => created.DetachFileDescriptor());
        created.Dispose(); // a no-op now: neither closes the descriptor nor unlinks the file
        Assert.True(File.Exists(created.Path));

        using var adopted = UapiListener.FromFileDescriptor(fd, created.Path);
        using var cts = new CancellationTokenSource();
        var run = adopted.RunAsync(new RecordingHandler(), cts.Token);
        Assert.Equal("listen_port=51820\nerrno=0\n\n", await WgStyleRequestAsync(created.Path, "get=1\n\n"));
        await cts.CancelAsync();
        await run.WaitAsync(s_wait);
    }

    [Fact]
    public async Task DisposeEndsRunAsync()
    {
        var listener = UapiListener.Create("wg0", _directory);
        var run = listener.RunAsync(new RecordingHandler(), CancellationToken.None);
        listener.Dispose();
        await run.WaitAsync(s_wait);
        Assert.True(run.IsCompletedSuccessfully);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("..")]
    public void BadInterfaceNamesAreRejected(string name) =>
        Assert.ThrowsAny<ArgumentException>(() => UapiListener.Create(name, _directory));
}
