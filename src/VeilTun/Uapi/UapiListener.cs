using System.Net.Sockets;

namespace VeilTun.Uapi;

/// <summary>
/// The UAPI Unix socket <c>/var/run/wireguard/&lt;IF&gt;.sock</c> (https://www.wireguard.com/xplatform/; wg-go <c>ipc/uapi_unix.go</c>,
/// <c>ipc/uapi_linux.go</c>): creates or adopts the listening socket, serves connections with
/// <see cref="UapiProtocol"/>, and reports when the socket file is deleted (the daemon then shuts down, which is how
/// <c>wg-quick down</c> stops a userspace implementation on FreeBSD and macOS).
/// <see cref="RunAsync"/> may run once at a time; <see cref="Dispose"/> is thread-safe.
/// </summary>
public sealed class UapiListener : IDisposable
{
    /// <summary>The default socket directory, as in wg-go and wg(8).</summary>
    public const string DefaultDirectory = "/var/run/wireguard";

    private static readonly TimeSpan s_pollInterval = TimeSpan.FromSeconds(1);

    private readonly Socket _socket;
    private readonly TaskCompletionSource _removed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _disposeCts = new();
    private readonly FileSystemWatcher? _watcher;
    private Timer? _pollTimer; // only without a working inotify watch
    private readonly object _pollLock = new();
    private int _disposed;

    private UapiListener(Socket socket, string path)
    {
        // Accepts block in the kernel on the serving thread (Run/RunAsync), never through .NET's socket engine.
        socket.Blocking = true;
        _socket = socket;
        Path = path;
        try
        {
            // inotify on the directory gives prompt notice and costs no wake-up while nothing happens; a 1 s poll is
            // the fallback when it cannot be set up or reports an error (e.g. queue overflow).
            string directory = System.IO.Path.GetDirectoryName(path) ?? ".";
            _watcher = new FileSystemWatcher(directory, System.IO.Path.GetFileName(path))
            {
                NotifyFilter = NotifyFilters.FileName,
                IncludeSubdirectories = false,
            };
            _watcher.Deleted += (_, _) => CheckRemoved();
            _watcher.Renamed += (_, _) => CheckRemoved();
            _watcher.Error += (_, _) =>
            {
                StartPolling();
                CheckRemoved();
            };
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            _watcher?.Dispose();
            _watcher = null;
        }
        if (_watcher is null) StartPolling();
        CheckRemoved(); // wg-go starts with an lstat to close the race with a deletion before the watch existed
    }

    private void StartPolling()
    {
        lock (_pollLock)
        {
            if (_pollTimer is not null || Volatile.Read(ref _disposed) != 0) return;
            _pollTimer = new Timer(static state => ((UapiListener)state!).CheckRemoved(), this, s_pollInterval, s_pollInterval);
        }
    }

    private void StopPolling()
    {
        lock (_pollLock) _pollTimer?.Dispose();
    }

    /// <summary>Whether the 1 s poll runs (a test hook: not while inotify works).</summary>
    internal bool IsPolling
    {
        get
        {
            lock (_pollLock) return _pollTimer is not null;
        }
    }

    /// <summary>The socket file path.</summary>
    public string Path { get; }

    /// <summary>
    /// Completes when the socket file has been deleted or renamed away by someone else (noticed through inotify, or
    /// a 1 s poll as a fallback where inotify cannot watch or reported an error). Never faults. The unlink done by <see cref="Dispose"/> is not reported.
    /// </summary>
    public Task SocketRemoved => _removed.Task;

    /// <summary>
    /// Creates <c>directory/interfaceName.sock</c> the way wg-go's <c>UAPIOpen</c> does: the directory is created
    /// with mode 0755; if a socket file already exists and accepts a connection, fails with "unix socket in use";
    /// otherwise the stale file is removed and the socket bound again. The socket file gets mode 0600: its mode is
    /// set after bind() but before listen(), so no client can connect while it is still more open.
    /// </summary>
    /// <exception cref="ArgumentException">The name is empty or contains '/', or the path is too long for a Unix
    /// socket address (107 bytes).</exception>
    /// <exception cref="IOException">"unix socket in use", or the directory or socket could not be created.</exception>
    public static UapiListener Create(string interfaceName, string directory = DefaultDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(interfaceName);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("the UAPI Unix socket needs a Unix system");
        if (interfaceName.Contains('/') || interfaceName is "." or "..")
            throw new ArgumentException($"invalid interface name \"{IpText.Escape(interfaceName)}\"", nameof(interfaceName));

        Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        string path = System.IO.Path.Combine(directory, interfaceName + ".sock");
        var endPoint = new UnixDomainSocketEndPoint(path);
        var bindEndPoint = new UnownedPathEndPoint(endPoint);

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        bool bound = false;
        try
        {
            try
            {
                socket.Bind(bindEndPoint);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                if (IsLive(endPoint)) throw new IOException("unix socket in use");
                File.Delete(path);
                socket.Bind(bindEndPoint);
            }
            bound = true;
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            socket.Listen(128);
        }
        catch (Exception e)
        {
            socket.Dispose();
            if (bound) TryDelete(path); // the file is ours; .NET does not unlink it (see UnownedPathEndPoint)
            if (e is SocketException se) throw new IOException($"cannot listen on {path}: {se.Message}", se);
            throw;
        }
        return new UapiListener(socket, path);
    }

    /// <summary>
    /// Adopts an inherited listening socket (<c>WG_UAPI_FD</c>, set up by the parent process before it re-executed
    /// the daemon). Takes ownership of <paramref name="fd"/>. <paramref name="path"/> is the socket file to watch
    /// and to unlink on <see cref="Dispose"/>.
    /// </summary>
    public static UapiListener FromFileDescriptor(int fd, string path)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var socket = new Socket(new SafeSocketHandle((IntPtr)fd, ownsHandle: true));
        return new UapiListener(socket, path);
    }

    /// <summary>
    /// Most connections served at once (default 64). A new connection beyond it closes the oldest one, so clients
    /// that connect and never send (or never read) cannot lock others out, nor use up the process's descriptors.
    /// </summary>
    public int MaxConnections { get; set; } = 64;

    /// <summary>
    /// How long one connection may last (default 30 s; <c>wg</c> and <c>wg-quick</c> need milliseconds). A client
    /// that stops sending or reading mid-request is closed then.
    /// </summary>
    public TimeSpan ConnectionLifetime { get; set; } = TimeSpan.FromSeconds(30);

    private sealed class Connection(Socket client, CancellationTokenSource cts)
    {
        public readonly Socket Client = client;
        public readonly CancellationTokenSource Cts = cts;
        public Task Task = Task.CompletedTask;
    }

    /// <summary>
    /// Accepts connections and serves each one concurrently with <see cref="UapiProtocol.HandleConnectionAsync"/>
    /// until <paramref name="cancellationToken"/> fires or the listener is disposed (both end it normally), then
    /// waits for the connections in progress, which are cancelled too. A failing accept never ends it: it reports
    /// the error (at most once a second), closes the oldest connection when descriptors ran out, and tries again
    /// after a delay that grows to a second.
    /// </summary>
    /// <remarks>
    /// Blocking I/O on threads of its own: one that accepts, and one per open connection (wg(8) holds one for
    /// milliseconds). Nothing runs on the thread pool and no timer is armed, so an idle daemon keeps no thread-pool or
    /// timer thread and nothing here wakes while no client comes (bench/idle.sh). A connection's
    /// lifetime is enforced by its socket timeouts.
    /// </remarks>
    public Task RunAsync(IUapiHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Serve(handler, cancellationToken);
                done.TrySetResult();
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        })
        { IsBackground = true, Name = "VeilTun UAPI" };
        thread.Start();
        return done.Task;
    }

    /// <summary>
    /// <see cref="RunAsync"/> on the calling thread: accepts and serves until <paramref name="cancellationToken"/>
    /// fires or the listener is disposed, and returns once the connections in progress have ended. A daemon's main
    /// thread, which would only wait otherwise, can be the one that accepts.
    /// </summary>
    public void Run(IUapiHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Serve(handler, cancellationToken);
    }

    private void Serve(IUapiHandler handler, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposeCts.Token);
        var ct = linked.Token;
        // Cancellation wakes the blocking accept: a connection to ourselves (dropped), or failing that a shutdown.
        using var wake = ct.Register(WakeAccept);
        var connections = new LinkedList<Connection>(); // oldest first
        var backoff = TimeSpan.Zero;
        long lastReport = Environment.TickCount64 - 1000;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = _socket.Accept();
                    backoff = TimeSpan.Zero;
                }
                catch (Exception) when (ct.IsCancellationRequested || Volatile.Read(ref _disposed) != 0)
                {
                    break;
                }
                catch (Exception e)
                {
                    // Out of descriptors or memory, a client gone before accept, or anything else: report, free what
                    // we can, wait, try again. The daemon must outlive whatever a client does to it.
                    long now = Environment.TickCount64;
                    if (now - lastReport >= 1000)
                    {
                        lastReport = now;
                        try
                        {
                            handler.OnError($"UAPI accept: {e.Message}");
                        }
                        catch (Exception)
                        {
                            // A failing log must not end the loop either.
                        }
                    }
                    if (e is SocketException { SocketErrorCode: SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable })
                        EvictOldest(connections);
                    backoff = backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(10) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.TicksPerSecond));
                    if (ct.WaitHandle.WaitOne(backoff)) break;
                    continue;
                }
                if (ct.IsCancellationRequested)
                {
                    client.Dispose(); // our own wake-up call, or a client at the very end
                    break;
                }

                var connection = new Connection(client, CancellationTokenSource.CreateLinkedTokenSource(ct));
                var deadline = Environment.TickCount64 + (long)ConnectionLifetime.TotalMilliseconds;
                lock (connections)
                {
                    for (var node = connections.First; node is not null;)
                    {
                        var next = node.Next;
                        if (node.Value.Task.IsCompleted) connections.Remove(node);
                        node = next;
                    }
                    if (connections.Count >= MaxConnections) EvictOldest(connections);
                    connections.AddLast(connection);
                }
                var finished = new TaskCompletionSource();
                connection.Task = finished.Task;
                new Thread(() =>
                {
                    try
                    {
                        Serve(connection, handler, deadline);
                    }
                    finally
                    {
                        finished.TrySetResult();
                    }
                })
                { IsBackground = true, Name = "VeilTun UAPI conn" }.Start();
            }
        }
        finally
        {
            Connection[] open;
            lock (connections) open = connections.ToArray();
            foreach (var c in open)
            {
                try
                {
                    c.Cts.Cancel();
                    c.Client.Shutdown(SocketShutdown.Both);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }
            }
            Task.WaitAll(open.Select(c => c.Task).ToArray());
        }
    }

    // Wakes a thread blocked in accept(2) on the listening socket.
    private void WakeAccept()
    {
        try
        {
            using var self = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            self.Connect(new UnixDomainSocketEndPoint(Path));
            return;
        }
        catch (Exception e) when (e is SocketException or IOException or ArgumentException)
        {
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    // Closes the oldest connection still open (its task completes once its handler sees the cancellation).
    private static void EvictOldest(LinkedList<Connection> connections)
    {
        lock (connections)
        {
            for (var node = connections.First; node is not null; node = node.Next)
            {
                if (node.Value.Task.IsCompleted || node.Value.Cts.IsCancellationRequested) continue;
                try
                {
                    node.Value.Cts.Cancel();
                    node.Value.Client.Shutdown(SocketShutdown.Both); // wakes a blocked read or write at once
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // It ended meanwhile.
                }
                return;
            }
        }
    }

    // On the connection's own thread: the protocol over blocking I/O, so every await completes at once.
    private static void Serve(Connection connection, IUapiHandler handler, long deadline)
    {
        try
        {
            using var stream = new BlockingSocketStream(connection.Client, deadline);
            UapiProtocol.HandleConnectionAsync(stream, handler, connection.Cts.Token).GetAwaiter().GetResult();
        }
        catch (Exception) when (connection.Cts.IsCancellationRequested || Environment.TickCount64 >= deadline)
        {
            // Closed by us (evicted, lifetime over, shutdown): nothing to report.
        }
        catch (Exception e)
        {
            // A bug in the handler must not take down the accept loop.
            try { handler.OnError($"UAPI connection failed: {e}"); } catch (Exception) { }
        }
        finally
        {
            connection.Client.Dispose();
            connection.Cts.Dispose();
        }
    }

    /// <summary>
    /// A connected socket as a stream with blocking reads and writes, their async forms included (they complete
    /// before returning), each bounded by what is left of the connection's lifetime (socket timeouts).
    /// </summary>
    private sealed class BlockingSocketStream(Socket socket, long deadline) : Stream
    {
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        private void Bound(bool send)
        {
            long left = deadline - Environment.TickCount64;
            if (left <= 0) throw new IOException("UAPI connection lifetime over");
            int ms = (int)Math.Min(left, int.MaxValue);
            if (send) socket.SendTimeout = ms;
            else socket.ReceiveTimeout = ms;
        }

        public override int Read(Span<byte> buffer)
        {
            Bound(send: false);
            return socket.Receive(buffer);
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            while (!buffer.IsEmpty)
            {
                Bound(send: true);
                buffer = buffer[socket.Send(buffer)..];
            }
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                return ValueTask.FromResult(Read(buffer.Span));
            }
            catch (Exception e)
            {
                return ValueTask.FromException<int>(e);
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                Write(buffer.Span);
                return ValueTask.CompletedTask;
            }
            catch (Exception e)
            {
                return ValueTask.FromException(e);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>
    /// Closes the socket, stops watching, and unlinks the socket file unless it was already removed (then the
    /// name may belong to someone else). Idempotent.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _disposeCts.Cancel();
        StopPolling();
        _watcher?.Dispose();
        bool ours = !_removed.Task.IsCompleted;
        _socket.Dispose();
        if (ours) TryDelete(Path);
        // _disposeCts is not disposed: a RunAsync still unwinding may hold a token linked to it.
    }

    /// <summary>
    /// Stops this listener without closing the socket or unlinking its file, and returns the listening descriptor
    /// (close-on-exec): the caller owns it from then on, e.g. to hand it to another process that adopts it with
    /// <see cref="FromFileDescriptor"/> (WG_UAPI_FD). Only before <see cref="RunAsync"/>.
    /// </summary>
    /// <exception cref="ObjectDisposedException">Already disposed or detached.</exception>
    public int DetachFileDescriptor()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) throw new ObjectDisposedException(nameof(UapiListener));
        _disposeCts.Cancel();
        StopPolling();
        _watcher?.Dispose();
        int fd = (int)_socket.SafeHandle.DangerousGetHandle();
        _socket.SafeHandle.SetHandleAsInvalid();
        GC.SuppressFinalize(_socket); // the husk must never be disposed: with its handle invalidated that would hang
        return fd;
    }

    private void CheckRemoved()
    {
        if (_removed.Task.IsCompleted || Volatile.Read(ref _disposed) != 0) return;
        bool exists;
        try
        {
            // File.Exists is true for any non-directory, sockets included (lstat semantics are close enough: a
            // symlink in place of the socket would not be ours either way).
            exists = File.Exists(Path);
        }
        catch (Exception)
        {
            exists = false;
        }
        if (!exists) _removed.TrySetResult();
    }

    /// <summary>
    /// The socket path as an endpoint that is not a <see cref="UnixDomainSocketEndPoint"/>: .NET deletes the file of
    /// a socket bound to a UnixDomainSocketEndPoint when the socket is disposed, even if the file has since been
    /// replaced by someone else's. Binding through this wrapper leaves unlinking to <see cref="Dispose"/>.
    /// </summary>
    private sealed class UnownedPathEndPoint(UnixDomainSocketEndPoint inner) : System.Net.EndPoint
    {
        public override AddressFamily AddressFamily => AddressFamily.Unix;

        public override System.Net.SocketAddress Serialize() => inner.Serialize();

        public override System.Net.EndPoint Create(System.Net.SocketAddress socketAddress) => inner.Create(socketAddress);

        public override string ToString() => inner.ToString();
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static bool IsLive(UnixDomainSocketEndPoint endPoint)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(endPoint);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
