using Xunit;

namespace VeilTun.Tests.Fakes;

/// <summary>
/// A [Fact] that needs root (CAP_NET_ADMIN for TUN devices, SO_MARK and network namespaces). When the test
/// process is not privileged it is reported as skipped with the reason below, so a non-root run shows clearly
/// what it did not cover. CI runs as root and executes them; with VEILTUN_REQUIRE_ROOT=1 (as for
/// RequiresRootFactAttribute) they are never skipped, so a CI run that lost root fails instead of skipping.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class RootFactAttribute : FactAttribute
{
    /// <summary>Reason given for the skip.</summary>
    public const string NotRootReason =
        "requires root (CAP_NET_ADMIN, network namespaces, /dev/net/tun): run the tests as root to execute it";

    public RootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess && Environment.GetEnvironmentVariable("VEILTUN_REQUIRE_ROOT") != "1")
        {
            Skip = NotRootReason;
        }
    }
}

/// <summary>The <see cref="RootFactAttribute"/> rule for a [Theory].</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class RootTheoryAttribute : TheoryAttribute
{
    public RootTheoryAttribute()
    {
        if (!Environment.IsPrivilegedProcess && Environment.GetEnvironmentVariable("VEILTUN_REQUIRE_ROOT") != "1")
        {
            Skip = RootFactAttribute.NotRootReason;
        }
    }
}
