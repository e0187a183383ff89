using Microsoft.Extensions.Logging;

namespace VeilTun.Native;

/// <summary>Where log lines go: the host's callback (Exports.cs wraps the C function pointer in one).</summary>
internal interface ILogSink
{
    /// <summary>Writes one line. Must not throw.</summary>
    void Write(int level, string message);
}

/// <summary>
/// The process-wide log callback of <c>veiltun_set_logger</c>: every tunnel's lines and every failed call's. Swapped
/// atomically (one immutable pair of sink and level), and <see cref="Set"/> returns only once no line is being written
/// to the sink it replaced, so a host may free that callback's context as soon as <c>veiltun_set_logger</c> returns.
/// </summary>
internal static class NativeLog
{
    private sealed class Target(ILogSink sink, int minLevel)
    {
        public readonly ILogSink Sink = sink;
        public readonly int MinLevel = minLevel;
        public int InFlight; // lines being written to Sink right now
    }

    private static volatile Target? s_target;

    /// <summary>Replaces the sink; returns once the old one is idle. Must not be called from inside a sink.</summary>
    public static void Set(ILogSink? sink, int minLevel)
    {
        var old = Interlocked.Exchange(ref s_target, sink is null || minLevel >= (int)LogLevel.None ? null : new Target(sink, minLevel));
        if (old is null) return;
        var spin = new SpinWait();
        while (Volatile.Read(ref old.InFlight) != 0) spin.SpinOnce();
    }

    public static bool IsEnabled(int level) => s_target is { } t && level >= t.MinLevel && level < (int)LogLevel.None;

    /// <summary>Writes one line (newlines become spaces) if its level is on. Never throws.</summary>
    public static void Write(int level, string message)
    {
        if (s_target is not { } t || level < t.MinLevel || level >= (int)LogLevel.None) return;
        Interlocked.Increment(ref t.InFlight);
        try
        {
            // Replaced between the read and the increment: Set may already have seen InFlight == 0 and returned.
            if (s_target != t) return;
            t.Sink.Write(level, message.ReplaceLineEndings(" ").Replace('\0', ' '));
        }
        catch (Exception)
        {
            // A log line must never take the tunnel (or the host) down.
        }
        finally
        {
            Interlocked.Decrement(ref t.InFlight);
        }
    }

    public static void Error(string message) => Write((int)LogLevel.Error, message);
}

/// <summary>
/// A tunnel's <see cref="ILoggerFactory"/>: every category goes to <see cref="NativeLog"/>, as one line prefixed with the
/// interface name as wireguard-go's are (<c>(tun0) peer(AbCd…wXyZ) - handshake completed</c>); an exception adds
/// ": its message". Synchronous, on the caller's thread: no logging thread, no queue. Scopes are not kept (the
/// interface is known).
/// </summary>
internal sealed class CallbackLoggerFactory(string interfaceName) : ILoggerFactory, ILogger
{
    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider) =>
        throw new NotSupportedException("libveiltun logs through veiltun_set_logger only");

    public bool IsEnabled(LogLevel logLevel) => NativeLog.IsEnabled((int)logLevel);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!NativeLog.IsEnabled((int)logLevel)) return;
        var message = formatter(state, exception);
        if (exception is not null) message += ": " + exception.Message;
        NativeLog.Write((int)logLevel, $"({interfaceName}) {message}");
    }

    public void Dispose()
    {
    }
}
