using Xunit;

namespace VeilTun.Tests.Fakes;

/// <summary>
/// A test that needs root (namespaces, TUN) and the apt tools (wireguard-go, wg). Skipped with a reason for a
/// developer without root; in CI (VEILTUN_REQUIRE_ROOT=1, set by the test command) it is never skipped: without
/// root it runs and fails.
/// </summary>
public sealed class RequiresRootFactAttribute : FactAttribute
{
    public RequiresRootFactAttribute()
    {
        if (!Environment.IsPrivilegedProcess && Environment.GetEnvironmentVariable("VEILTUN_REQUIRE_ROOT") != "1")
            Skip = "needs root for network namespaces (run as root, or via the README test command)";
    }
}
