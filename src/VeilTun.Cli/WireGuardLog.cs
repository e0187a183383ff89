using Microsoft.Extensions.Logging;
using VeilTun.Device;

namespace VeilTun.Cli;

/// <summary>
/// The daemon's log, as wireguard-go writes it: LOG_LEVEL <c>error</c> (the default: Error and Critical),
/// <c>verbose</c>/<c>debug</c> (everything) or <c>silent</c>; one line per event,
/// <c>DEBUG: (wg0) 2025/01/02 15:04:05 message</c> or <c>ERROR: (wg0) …</c> (an exception adds ": its message").
/// The interface is the <c>Interface</c> property of the scope a tunnel logs in (so a multihop pair's two devices
/// say which is which), else <see cref="InterfaceName"/>. Synchronous, on the caller's thread: no logging thread,
/// no queue. The category is not printed (wireguard-go has none).
/// </summary>
internal sealed class WireGuardLogProvider : ILoggerProvider, ILogger
{
    [ThreadStatic]
    private static string? t_scopeInterface;

    private readonly bool _verbose;
    private readonly bool _silent;
    private volatile string _interfaceName;

    public WireGuardLogProvider(string interfaceName, string logLevel)
    {
        _interfaceName = interfaceName;
        _verbose = logLevel is "verbose" or "debug";
        _silent = logLevel == "silent";
        _ = DaemonOutput.IsOpen; // open it now, before a flood of clients can use up the descriptors
    }

    /// <summary>The name printed for events logged outside a tunnel's scope (the daemon's own).</summary>
    public string InterfaceName
    {
        get => _interfaceName;
        set => _interfaceName = value;
    }

    public ILogger CreateLogger(string categoryName) => this;

    public bool IsEnabled(LogLevel logLevel) =>
        logLevel != LogLevel.None && !_silent && (_verbose || logLevel >= LogLevel.Error);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull
    {
        if (state is not IReadOnlyList<KeyValuePair<string, object?>> properties) return null;
        foreach (var (key, value) in properties)
        {
            if (key == "Interface" && value is string name)
            {
                var scope = new InterfaceScope(t_scopeInterface);
                t_scopeInterface = name;
                return scope;
            }
        }
        return null;
    }

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        var message = formatter(state, exception);
        if (exception is not null) message += ": " + exception.Message;
        DaemonOutput.WriteLine($"{(logLevel >= LogLevel.Error ? "ERROR" : "DEBUG")}: ({t_scopeInterface ?? _interfaceName}) {DateTime.Now:yyyy/MM/dd HH:mm:ss} {message}");
    }

    public void Dispose()
    {
    }

    private sealed class InterfaceScope(string? previous) : IDisposable
    {
        public void Dispose() => t_scopeInterface = previous;
    }
}

/// <summary>
/// The daemon's <see cref="ILoggerFactory"/>: every category goes to one <see cref="WireGuardLogProvider"/>. Smaller
/// than Microsoft.Extensions.Logging's factory (no options, filters or dependency injection) and nothing to configure.
/// </summary>
internal sealed class WireGuardLoggerFactory(WireGuardLogProvider provider) : ILoggerFactory
{
    public WireGuardLogProvider Provider => provider;

    public ILogger CreateLogger(string categoryName) => provider.CreateLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) =>
        throw new NotSupportedException("the daemon logs to standard error only");

    public void Dispose()
    {
    }
}

/// <summary>
/// Standard error, written with write(2) on descriptor 2 whatever it is when a line is written (the terminal, or
/// /dev/null once detached): System.Console would open a duplicate and terminal databases on first use, which fails
/// once a flood of clients has used up the descriptors, so the one error that matters would be lost.
/// </summary>
internal static class DaemonOutput
{
    private static readonly StreamWriter? s_stderr = OpenStderr();

    private static StreamWriter? OpenStderr()
    {
        try
        {
            // write(2) on descriptor 2, not a FileStream: on a regular file that writes at its own position (pwrite),
            // so the daemon after dropping privileges would overwrite what it wrote before.
            return new StreamWriter(ProcessHandover.OpenStandardError()) { AutoFlush = true };
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null; // no stderr at all: nothing to log to
        }
    }

    public static bool IsOpen => s_stderr is not null;

    public static void WriteLine(string line)
    {
        try
        {
            if (s_stderr is { } stderr)
                lock (stderr) stderr.WriteLine(line);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            // Logging must never stop the daemon (stderr closed, out of descriptors).
        }
    }
}
