namespace VeilTun.Tests.Fakes;

/// <summary>
/// One network namespace per test class (xunit IClassFixture), created on first use so that classes whose tests
/// are all skipped (not root) never run <c>ip netns add</c>. Deleted when the class is done, pass or fail.
/// </summary>
public sealed class NetnsFixture : IDisposable
{
    private readonly Lazy<NetnsThread> _namespace = new(() => NetnsThread.Create(), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The class's namespace (created now if needed).</summary>
    public NetnsThread Namespace => _namespace.Value;

    public void Dispose()
    {
        if (_namespace.IsValueCreated)
        {
            _namespace.Value.Dispose();
        }
    }
}
