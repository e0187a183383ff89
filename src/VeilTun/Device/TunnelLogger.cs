using System.Collections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace VeilTun.Device;

/// <summary>
/// A logger that tags what it logs with the interface it is about: each event written (only those whose level is on)
/// runs inside a scope whose state is the one property <c>Interface</c> = the interface name, the way ASP.NET tags a
/// request. Structured sinks (OpenTelemetry, Serilog, the console formatter with scopes) record it as a property; the
/// daemon's provider prints it as wireguard-go's <c>(wg0)</c> prefix. Nothing is opened when a level is off.
/// </summary>
internal sealed class TunnelLogger : ILogger
{
    /// <summary>The scope property that names the interface.</summary>
    public const string InterfaceProperty = "Interface";

    private readonly ILogger _inner;
    private readonly InterfaceScope _scope;

    private TunnelLogger(ILogger inner, string interfaceName)
    {
        _inner = inner;
        _scope = new InterfaceScope(interfaceName);
    }

    /// <summary>A logger of <paramref name="category"/> from <paramref name="factory"/> (none: the null logger).</summary>
    public static ILogger Create(ILoggerFactory? factory, string category, string interfaceName) =>
        factory is null ? NullLogger.Instance : new TunnelLogger(factory.CreateLogger(category), interfaceName);

    public bool IsEnabled(LogLevel logLevel) => _inner.IsEnabled(logLevel);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => _inner.BeginScope(state);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!_inner.IsEnabled(logLevel)) return;
        using (_inner.BeginScope(_scope))
            _inner.Log(logLevel, eventId, state, exception, formatter);
    }

    private sealed class InterfaceScope(string name) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        private readonly KeyValuePair<string, object?> _entry = new(InterfaceProperty, name);

        public int Count => 1;

        public KeyValuePair<string, object?> this[int index] =>
            index == 0 ? _entry : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return _entry;
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"{InterfaceProperty}:{name}";
    }
}
