using Microsoft.Extensions.Logging;

namespace VeilTun.Tests.Fakes;

/// <summary>One event as a provider received it: its structure, the formatted text and the scopes it ran in.</summary>
public sealed record LogRecord(
    string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception,
    IReadOnlyDictionary<string, object?> State, IReadOnlyDictionary<string, object?> Scope);

/// <summary>
/// A provider that records every event it is given (formatted, with its state's and scopes' properties) and counts
/// what the loggers were asked: IsEnabled, Log and BeginScope calls per level. Levels below <see cref="MinLevel"/>
/// are off. Scopes come from the factory's scope provider (<see cref="ISupportExternalScope"/>, as with
/// Microsoft.Extensions.Logging's LoggerFactory) or, used alone, from its own BeginScope.
/// </summary>
public sealed class RecordingLoggerProvider(LogLevel minLevel = LogLevel.Trace) : ILoggerProvider, ISupportExternalScope, ILoggerFactory
{
    private readonly List<LogRecord> _records = new();
    private readonly int[] _enabledAsked = new int[7], _logged = new int[7];
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();
    private int _scopesOpened;

    public LogLevel MinLevel { get; } = minLevel;

    public IReadOnlyList<LogRecord> Records
    {
        get
        {
            lock (_records) return _records.ToArray();
        }
    }

    public int EnabledAsked(LogLevel level) => Volatile.Read(ref _enabledAsked[(int)level]);

    public int Logged(LogLevel level) => Volatile.Read(ref _logged[(int)level]);

    public int ScopesOpened => Volatile.Read(ref _scopesOpened);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    void ILoggerFactory.AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose()
    {
    }

    private static Dictionary<string, object?> Properties(object? state, Dictionary<string, object?> into)
    {
        if (state is IEnumerable<KeyValuePair<string, object?>> properties)
            foreach (var (key, value) in properties) into[key] = value;
        return into;
    }

    private sealed class Logger(RecordingLoggerProvider provider, string category) : ILogger
    {
        public bool IsEnabled(LogLevel logLevel)
        {
            Interlocked.Increment(ref provider._enabledAsked[(int)logLevel]);
            return logLevel >= provider.MinLevel;
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            Interlocked.Increment(ref provider._scopesOpened);
            return provider._scopes.Push(state);
        }

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            Interlocked.Increment(ref provider._logged[(int)logLevel]);
            var scope = new Dictionary<string, object?>();
            provider._scopes.ForEachScope((s, into) => Properties(s, into), scope);
            var record = new LogRecord(category, logLevel, eventId, formatter(state, exception), exception,
                Properties(state, new Dictionary<string, object?>()), scope);
            lock (provider._records) provider._records.Add(record);
        }
    }
}
