using System.Net;
using System.Text;
using CsCheck;
using VeilTun.Packets;
using Xunit;

namespace VeilTun.Tests.Packets;

public sealed class IpAddressTextTests
{
    private static PrefixTextError Parse(string text, PrefixSyntax syntax, out string address, out int prefixLength,
        out string lengthText)
    {
        Span<byte> bytes = stackalloc byte[16];
        var error = IpAddressText.ParsePrefix(text, syntax, bytes, out int length, out prefixLength, out var bits, out _);
        address = length == 0 ? "" : new IPAddress(bytes[..length]).ToString();
        lengthText = bits.ToString();
        return error;
    }

    [Theory]
    [InlineData("10.0.0.1/24", "10.0.0.1", 24)] // not masked
    [InlineData("0.0.0.0/0", "0.0.0.0", 0)]
    [InlineData("255.255.255.255/32", "255.255.255.255", 32)]
    [InlineData("2001:db8::/32", "2001:db8::", 32)]
    [InlineData("::/0", "::", 0)]
    [InlineData("::ffff:1.2.3.4/96", "::ffff:1.2.3.4", 96)]
    [InlineData("1:2:3:4:5:6:7:8/128", "1:2:3:4:5:6:7:8", 128)]
    public void EverySyntaxReadsPlainPrefixes(string text, string address, int length)
    {
        foreach (var syntax in new[] { PrefixSyntax.Go, PrefixSyntax.WgConfig, PrefixSyntax.IpPrefix })
        {
            Assert.Equal(PrefixTextError.None, Parse(text, syntax, out string a, out int n, out _));
            Assert.Equal(IPAddress.Parse(address).ToString(), a);
            Assert.Equal(length, n);
        }
    }

    [Theory]
    // text, Go (UAPI), WgConfig, IpPrefix
    [InlineData("10.0.0.0", "MissingLength", "None", "None")]
    [InlineData("10.0.0.0/032", "None", "None", "None")]
    [InlineData("10.0.0.0/0032", "None", "None", "InvalidLength")]
    [InlineData("10.0.0.0/1000", "LengthTooLarge", "LengthTooLarge", "InvalidLength")]
    [InlineData("10.0.0.0/8/8", "InvalidAddress", "InvalidLength", "InvalidLength")]
    [InlineData("10.0.0.0/33", "LengthTooLarge", "LengthTooLarge", "LengthTooLarge")]
    [InlineData("::/129", "LengthTooLarge", "LengthTooLarge", "LengthTooLarge")]
    [InlineData("10.0.0.0/", "InvalidLength", "InvalidLength", "InvalidLength")]
    [InlineData("10.0.0.0/+8", "None", "InvalidLength", "InvalidLength")]
    [InlineData("10.0.0.0/-0", "None", "InvalidLength", "InvalidLength")]
    [InlineData("10.0.0.0/-1", "InvalidLength", "InvalidLength", "InvalidLength")]
    [InlineData("10.0.0.0/+", "InvalidLength", "InvalidLength", "InvalidLength")]
    [InlineData("10.0.0.0/ 8", "InvalidLength", "InvalidLength", "InvalidLength")]
    [InlineData("10.0.0.0/99999999999", "InvalidLength", "InvalidLength", "InvalidLength")]
    [InlineData("fe80::1%eth0/64", "ZoneNotAllowed", "ZoneNotAllowed", "ZoneNotAllowed")]
    [InlineData("010.0.0.1/32", "InvalidAddress", "InvalidAddress", "InvalidAddress")]
    [InlineData("10.0.0/8", "InvalidAddress", "InvalidAddress", "InvalidAddress")]
    [InlineData("[::1]/128", "InvalidAddress", "InvalidAddress", "InvalidAddress")]
    [InlineData("1:2:3:4::5:6:7:8/64", "InvalidAddress", "InvalidAddress", "InvalidAddress")]
    [InlineData("/8", "InvalidAddress", "InvalidAddress", "InvalidAddress")]
    [InlineData("", "MissingLength", "InvalidAddress", "InvalidAddress")]
    public void TheSyntaxesDifferOnlyWhereTheirToolsDo(string text, string go, string wgConfig, string ipPrefix)
    {
        // Error names rather than values: the enum is internal, a public test method cannot take it.
        Assert.Equal(go, Parse(text, PrefixSyntax.Go, out _, out _, out _).ToString());
        Assert.Equal(wgConfig, Parse(text, PrefixSyntax.WgConfig, out _, out _, out _).ToString());
        Assert.Equal(ipPrefix, Parse(text, PrefixSyntax.IpPrefix, out _, out _, out _).ToString());
    }

    [Fact]
    public void FailuresReportThePartsAMessageNeeds()
    {
        Assert.Equal(PrefixTextError.LengthTooLarge, Parse("10.0.0.0/33", PrefixSyntax.Go, out _, out int n, out string bits));
        Assert.Equal(33, n);
        Assert.Equal("33", bits);
        Assert.Equal(PrefixTextError.InvalidLength, Parse("10.0.0.0/8/8", PrefixSyntax.IpPrefix, out _, out _, out bits));
        Assert.Equal("8/8", bits);
        Assert.Equal(PrefixTextError.None, Parse("fd00::1", PrefixSyntax.WgConfig, out string a, out n, out bits));
        Assert.Equal(("fd00::1", 128, ""), (a, n, bits));

        Span<byte> bytes = stackalloc byte[16];
        Assert.Equal(PrefixTextError.InvalidAddress, IpAddressText.ParsePrefix("10.0.0.300/8", PrefixSyntax.Go, bytes,
            out _, out _, out _, out string? reason));
        Assert.Equal("IPv4 field is greater than 255", reason);
        Assert.Equal(PrefixTextError.InvalidAddress, IpAddressText.ParsePrefix("1.2.3.\u00e9/8", PrefixSyntax.Go, bytes,
            out _, out _, out _, out reason));
        Assert.Equal("unexpected character '\\u00e9' in IPv4 address", reason);
    }

    [Theory]
    [InlineData("192.95.5.93", 27, "192.95.5.64")]
    [InlineData("10.255.255.255", 9, "10.128.0.0")]
    [InlineData("255.255.255.255", 0, "0.0.0.0")]
    [InlineData("1.2.3.4", 32, "1.2.3.4")]
    [InlineData("2607:5300:6d8a:6bf8:dab1:f1df:c05f:1523", 83, "2607:5300:6d8a:6bf8:dab1:e000::")]
    [InlineData("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    public void MaskClearsTheHostBits(string address, int prefixLength, string expected)
    {
        byte[] bytes = IPAddress.Parse(address).GetAddressBytes();
        IpAddressText.Mask(bytes, prefixLength);
        Assert.Equal(IPAddress.Parse(expected), new IPAddress(bytes));
    }

    [Fact]
    public void EscapingKeepsLogLinesSafe()
    {
        var sb = new StringBuilder();
        foreach (char c in "a\"\\\t\r\n\u0001\u007f\u00e9") IpAddressText.AppendEscaped(sb, c);
        Assert.Equal("a\\\"\\\\\\t\\r\\n\\x01\\x7f\\u00e9", sb.ToString());
    }

    [Fact]
    public void FormattedAddressesParseBackInEverySyntax()
    {
        Gen.Select(Gen.Bool, Gen.Byte.Array[16], Gen.Int[0, 128]).Sample((v6, raw, n) =>
        {
            byte[] address = v6 ? raw : raw[..4];
            int length = Math.Min(n, address.Length * 8);
            string text = $"{new IPAddress(address)}/{length}";
            Span<byte> bytes = stackalloc byte[16];
            foreach (var syntax in new[] { PrefixSyntax.Go, PrefixSyntax.WgConfig, PrefixSyntax.IpPrefix })
            {
                Assert.Equal(PrefixTextError.None, IpAddressText.ParsePrefix(text, syntax, bytes, out int parsedLength,
                    out int prefixLength, out _, out _));
                Assert.Equal(address, bytes[..parsedLength].ToArray());
                Assert.Equal(length, prefixLength);
            }
        });
    }
}
