using VeilTun.Multihop;
using Xunit;

namespace VeilTun.Tests.Multihop;

public sealed class MultihopMtuTests
{
    [Theory]
    // IPv4 20 + UDP 8 + WireGuard transport header 16 + Poly1305 tag 16 = 60; IPv6 40 instead of 20 = 80.
    // wg-quick's default of 1420 is 1500 - 80, the same sum.
    [InlineData(1500, false, 1440)]
    [InlineData(1500, true, 1420)]
    [InlineData(1420, false, 1360)]
    [InlineData(1420, true, 1340)]
    [InlineData(1280, true, 1200)]
    public void ExitMtuIsTheEntryMtuMinusTheWireGuardOverhead(int entry, bool ipv6Outer, int exit)
    {
        Assert.Equal(exit, MultihopMtu.ExitMtu(entry, ipv6Outer));
        Assert.True(MultihopMtu.TryValidate(entry, ipv6Outer, out int validated, out string? error));
        Assert.Equal(exit, validated);
        Assert.Null(error);
    }

    [Theory]
    [InlineData(636, false, true)] // exit 576: the IPv4 minimum reassembly size
    [InlineData(635, false, false)]
    [InlineData(656, true, true)]
    [InlineData(655, true, false)]
    public void ExitMtuBelow576IsRefused(int entry, bool ipv6Outer, bool ok)
    {
        Assert.Equal(ok, MultihopMtu.TryValidate(entry, ipv6Outer, out int exit, out string? error));
        Assert.Equal(entry - (ipv6Outer ? 80 : 60), exit);
        if (ok)
        {
            Assert.Null(error);
            return;
        }
        Assert.NotNull(error);
        Assert.Contains(entry.ToString(), error);
        Assert.Contains(exit.ToString(), error);
    }

    [Theory]
    [InlineData(67)]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(65536)]
    public void EntryMtuOutsideTheTunLimitsIsRefused(int entry)
    {
        Assert.False(MultihopMtu.TryValidate(entry, false, out int exit, out string? error));
        Assert.Equal(0, exit);
        Assert.Contains(entry.ToString(), error);
    }
}
