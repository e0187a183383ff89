using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Uapi;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>
/// A whole session logged through Microsoft.Extensions.Logging at the most verbose level (Trace) — configuration, handshakes, traffic, rejected configuration that
/// carries keys, stats and snapshots — and no private or preshared key appears in any log message, logged
/// property, scope or exception, event, error message or <c>ToString()</c>, in base64 or hex.
/// </summary>
public sealed class NoSecretsInLogsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public void NoKeyOfTheSessionAppearsInAnyLogLineOrText()
    {
        var text = new List<string>();
        void Capture(string s)
        {
            lock (text) text.Add(s);
        }

        var provider = new RecordingLoggerProvider(LogLevel.Trace);
        using var logging = new LoggerFactory([provider], new LoggerFilterOptions { MinLevel = LogLevel.Trace });
        var network = new InMemoryNetwork();
        var tunA = new InMemoryTun("secA");
        var tunB = new InMemoryTun("secB");
        using var keyA = SecretKey.Generate();
        using var keyB = SecretKey.Generate();
        byte[] psk = RandomNumberGenerator.GetBytes(32);
        Tunnel Make(InMemoryTun tun, string address) => new(new TunnelOptions
        {
            Tun = tun,
            LoggerFactory = logging,
            BindUdp = port => network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(address), port))),
        });
        using var a = Make(tunA, "198.51.100.1");
        using var b = Make(tunB, "198.51.100.2");
        a.EventRaised += e => Capture(e.ToString());
        b.EventRaised += e => Capture(e.ToString());
        string ConfigA(string extra = "") => $"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(keyA.Bytes)}
            ListenPort = 51820
            {extra}
            [Peer]
            PublicKey = {keyB.DerivePublicKey()}
            PresharedKey = {Convert.ToBase64String(psk)}
            AllowedIPs = 192.0.2.2/32
            Endpoint = 198.51.100.2:51821
            """;
        a.Configure(ConfigA());
        b.Configure($"""
            [Interface]
            PrivateKey = {Convert.ToBase64String(keyB.Bytes)}
            ListenPort = 51821
            [Peer]
            PublicKey = {keyA.DerivePublicKey()}
            PresharedKey = {Convert.ToBase64String(psk)}
            AllowedIPs = 192.0.2.1/32
            """);
        a.Start();
        b.Start();
        for (int i = 0; i < 5; i++)
        {
            Assert.True(tunA.Inject(Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 9, (ushort)i)));
            Assert.True(tunB.TryTake(out _, Wait));
        }

        // Rejected configuration that carries the keys: the errors must not echo them.
        foreach (var bad in new[] { ConfigA("ListenPort = nope"), ConfigA("Fwmark = 0x1x"), ConfigA().Replace("AllowedIPs = 192.0.2.2/32", "AllowedIPs = 192.0.2.300/32") })
            Capture(Assert.ThrowsAny<Exception>(() => a.Configure(bad)).Message);
        var badKey = new SetRequest { PrivateKey = new byte[31] };
        Capture(a.Configure(badKey)?.ToString() ?? "");
        Assert.True(UapiParser.TryParseSet("private_key=zz\n"u8, out _, out var parseError) is false);
        Capture(parseError.ToString());
        Assert.False(UapiParser.TryParseSet(System.Text.Encoding.ASCII.GetBytes($"private_key={Convert.ToHexString(keyA.Bytes)}x\n"), out _, out parseError));
        Capture(parseError.ToString());

        // Everything a user may print.
        Capture(keyA.ToString()!);
        Capture(keyB.ToString()!);
        foreach (var s in a.GetPeerStats()) Capture(s.ToString());
        Capture(string.Join(",", a.GetDropCounts()));
        var snapshot = a.GetSnapshot();
        Capture(snapshot.ToString()!);
        foreach (var p in snapshot.Peers) Capture(p.ToString()!);
        Assert.True(UapiParser.TryParseSet(System.Text.Encoding.ASCII.GetBytes($"private_key={Convert.ToHexString(keyA.Bytes).ToLowerInvariant()}\n"), out var request, out _));
        Capture(request!.ToString()!);

        // Everything the loggers received: the text, every property of the event and its scopes, the exception.
        foreach (var record in provider.Records)
        {
            Capture($"{record.Level} {record.EventId}: {record.Message} {record.Exception}");
            foreach (var (key, value) in record.State.Concat(record.Scope)) Capture($"{key}={value}");
        }
        Assert.True(provider.Logged(LogLevel.Debug) > 0, "no Debug event was logged");

        string all;
        lock (text) all = string.Join("\n", text);
        Assert.Contains("handshake completed", all); // the verbose log really ran
        foreach (var secret in new[] { keyA.Bytes.ToArray(), keyB.Bytes.ToArray(), psk })
        {
            foreach (var form in new[] { Convert.ToBase64String(secret), Convert.ToHexString(secret), Convert.ToHexString(secret).ToLowerInvariant() })
                Assert.False(all.Contains(form, StringComparison.Ordinal), $"a secret appears in the output as {form[..6]}…");
        }
    }
}
