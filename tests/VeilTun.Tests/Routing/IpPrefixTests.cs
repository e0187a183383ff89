using System.Net;
using VeilTun.Routing;
using Xunit;

namespace VeilTun.Tests.Routing;

public sealed class IpPrefixTests
{
    [Theory]
    [InlineData("10.0.0.0/24", "10.0.0.0", 24)]
    [InlineData("10.0.0.1/24", "10.0.0.1", 24)] // not masked by parsing
    [InlineData("0.0.0.0/0", "0.0.0.0", 0)]
    [InlineData("255.255.255.255/32", "255.255.255.255", 32)]
    [InlineData("192.168.4.4", "192.168.4.4", 32)] // bare address: wg(8) treats it as a host route
    [InlineData("2001:db8::/32", "2001:db8::", 32)]
    [InlineData("::/0", "::", 0)]
    [InlineData("::1", "::1", 128)]
    [InlineData("fd00::1/128", "fd00::1", 128)]
    [InlineData("::ffff:1.2.3.4/96", "::ffff:1.2.3.4", 96)]
    [InlineData("  10.0.0.0/8 ", "10.0.0.0", 8)]
    public void ValidPrefixesParse(string text, string address, int length)
    {
        Assert.True(IpPrefix.TryParse(text, out IpPrefix prefix, out string? error));
        Assert.Null(error);
        Assert.Equal(IPAddress.Parse(address), prefix.Address);
        Assert.Equal(length, prefix.PrefixLength);
    }

    [Theory]
    [InlineData("10.0.0.300/32", "'10.0.0.300/32' is not an address")]
    [InlineData("10.0.0.0/33", "prefix length 33 exceeds 32")]
    [InlineData("2001:db8::/129", "prefix length 129 exceeds 128")]
    [InlineData("10.0.0.0/", "'' is not a prefix length")]
    [InlineData("10.0.0.0/-1", "'-1' is not a prefix length")]
    [InlineData("10.0.0.0/+8", "'+8' is not a prefix length")]
    [InlineData("10.0.0.0/8/8", "'8/8' is not a prefix length")]
    [InlineData("10.0.0.0/1000", "'1000' is not a prefix length")]
    [InlineData("", "'' is not an address")]
    [InlineData("/8", "'/8' is not an address")]
    [InlineData("10.0.0/8", "'10.0.0/8' is not an address")] // inet_aton short form
    [InlineData("010.0.0.1", "'010.0.0.1' is not an address")] // octal in inet_aton, rejected by inet_pton
    [InlineData("0x0a.0.0.1", "'0x0a.0.0.1' is not an address")]
    [InlineData("10.0.0.1.5", "'10.0.0.1.5' is not an address")]
    [InlineData("10..0.1", "'10..0.1' is not an address")]
    [InlineData("fe80::1%eth0/64", "'fe80::1%eth0/64' is not an address")]
    [InlineData("[::1]/128", "'[::1]/128' is not an address")]
    [InlineData("1:2:3:4:5:6:7:8:9", "'1:2:3:4:5:6:7:8:9' is not an address")]
    [InlineData("example.com/24", "'example.com/24' is not an address")]
    public void InvalidPrefixesAreRejectedWithAReason(string text, string expectedError)
    {
        Assert.False(IpPrefix.TryParse(text, out IpPrefix prefix, out string? error));
        Assert.Equal(expectedError, error);
        Assert.Equal(default, prefix);
    }

    [Fact]
    public void ParseThrowsFormatExceptionWithTheReason()
    {
        FormatException e = Assert.Throws<FormatException>(() => IpPrefix.Parse("10.0.0.0/33"));
        Assert.Equal("prefix length 33 exceeds 32", e.Message);
    }

    [Theory]
    // Linux selftest/allowedips.c read-back cases.
    [InlineData("192.95.5.93/27", "192.95.5.64/27")]
    [InlineData("10.1.0.20/29", "10.1.0.16/29")]
    [InlineData("2607:5300:6d8a:6bf8:dab1:f1df:c05f:1523/83", "2607:5300:6d8a:6bf8:dab1:e000::/83")]
    [InlineData("2607:5300:6d8a:6bf8:dab1:f1df:c05f:1523/21", "2607:5000::/21")]
    [InlineData("2607:5300:6000:6b00::c05f:543/128", "2607:5300:6000:6b00::c05f:543/128")]
    [InlineData("255.255.255.255/0", "0.0.0.0/0")]
    [InlineData("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/0", "::/0")]
    [InlineData("10.255.255.255/9", "10.128.0.0/9")]
    [InlineData("1.2.3.4/32", "1.2.3.4/32")]
    public void MaskedClearsTheHostBits(string text, string expected)
    {
        Assert.Equal(expected, IpPrefix.Parse(text).Masked().ToString());
    }

    [Fact]
    public void MaskedRejectsAnOutOfRangeLength()
    {
        Assert.Throws<InvalidOperationException>(() => new IpPrefix(IPAddress.Loopback, 33).Masked());
        Assert.Throws<InvalidOperationException>(() => new IpPrefix(IPAddress.IPv6Loopback, -1).Masked());
    }

    [Fact]
    public void ToStringRoundTrips()
    {
        foreach (string text in new[] { "10.0.0.0/24", "2001:db8::/32", "::/0", "0.0.0.0/0", "fd00::1/128" })
        {
            Assert.Equal(text, IpPrefix.Parse(text).ToString());
        }
    }

    [Fact]
    public void EqualPrefixesCompareEqual()
    {
        Assert.Equal(IpPrefix.Parse("10.0.0.0/8"), IpPrefix.Parse("10.0.0.0/8"));
        Assert.NotEqual(IpPrefix.Parse("10.0.0.0/8"), IpPrefix.Parse("10.0.0.0/9"));
        Assert.Equal(IpPrefix.Parse("10.0.0.0/8"), IpPrefix.Parse("10.9.9.9/8").Masked());
    }
}
