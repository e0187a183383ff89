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
    private readonly Timer _pollTimer;
    private int _disposed;

    private UapiListener(Socket socket, string path)
    {
        _socket = socket;
        Path = path;
        try
        {
            // inotify on the directory gives prompt notice; the poll below is the fallback (e.g. queue overflow).
            string directory = System.IO.Path.GetDirectoryName(path) ?? ".";
            _watcher = new FileSystemWatcher(directory, System.IO.Path.GetFileName(path))
            {
                NotifyFilter = NotifyFilters.FileName,
                IncludeSubdirectories = false,
            };
            _watcher.Deleted += (_, _) => CheckRemoved();
            _watcher.Renamed += (_, _) => CheckRemoved();
            _watcher.Error += (_, _) => CheckRemoved();
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            _watcher?.Dispose();
            _watcher = null;
        }
        _pollTimer = new Timer(static state => ((UapiListener)state!).CheckRemoved(), this, s_pollInterval, s_pollInterval);
        CheckRemoved(); // wg-go starts with an lstat to close the race with a deletion before the watch existed
    }

    /// <summary>The socket file path.</summary>
    public string Path { get; }

    /// <summary>
    /// Completes when the socket file has been deleted or renamed away by someone else (noticed through inotify, or
    /// a 1 s poll as a fallback). Never faults. The unlink done by <see cref="Dispose"/> is not reported.
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
    /// Accepts connections and serves each one concurrently with <see cref="UapiProtocol.HandleConnectionAsync"/>
    /// until <paramref name="cancellationToken"/> fires or the listener is disposed (both end it normally), then
    /// waits for the connections in progress, which are cancelled too.
    /// </summary>
    /// <exception cref="IOException">Accepting failed for good (the listening socket is broken).</exception>
    public async Task RunAsync(IUapiHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handler);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposeCts.Token);
        var ct = linked.Token;
        var connections = new HashSet<Task>();
        Exception? failure = null;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await _socket.AcceptAsync(ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e) when (e is ObjectDisposedException or SocketException && Volatile.Read(ref _disposed) != 0)
                {
                    break;
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset
                                                    or SocketError.Interrupted or SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
                {
                    // Transient: the client went away before accept, or we are out of descriptors for now.
                    handler.OnError($"UAPI accept: {e.Message}");
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(100), ct).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                    continue;
                }
                catch (SocketException e)
                {
                    failure = new IOException($"UAPI listener on {Path} failed: {e.Message}", e);
                    break;
                }

                lock (connections)
                {
                    connections.RemoveWhere(t => t.IsCompleted);
                    connections.Add(ServeAsync(client, handler, ct));
                }
            }
        }
        finally
        {
            Task[] pending;
            lock (connections) pending = connections.ToArray();
            await Task.WhenAll(pending).ConfigureAwait(false);
        }
        if (failure is not null) throw failure;
    }

    private static async Task ServeAsync(Socket client, IUapiHandler handler, CancellationToken ct)
    {
        await Task.Yield(); // do not run the first read inline in the accept loop
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            await UapiProtocol.HandleConnectionAsync(stream, handler, ct).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // A bug in the handler must not take down the accept loop.
            try { handler.OnError($"UAPI connection failed: {e}"); } catch (Exception) { }
        }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>
    /// Closes the socket, stops watching, and unlinks the socket file unless it was already removed (then the
    /// name may belong to someone else). Idempotent.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _disposeCts.Cancel();
        _pollTimer.Dispose();
        _watcher?.Dispose();
        bool ours = !_removed.Task.IsCompleted;
        _socket.Dispose();
        if (ours) TryDelete(Path);
        // _disposeCts is not disposed: a RunAsync still unwinding may hold a token linked to it.
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
