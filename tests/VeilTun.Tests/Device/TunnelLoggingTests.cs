using System.Net;
using Microsoft.Extensions.Logging;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using VeilTun.Udp;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>
/// The library logs through Microsoft.Extensions.Logging: a handshake between two in-memory tunnels reaches a
/// provider as structured events (category, event id and name, level, the peer as a property, the interface as a
/// scope property), and with the level at Error nothing below it is formatted, scoped or even handed to the provider.
/// </summary>
public sealed class TunnelLoggingTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    // Two tunnels (interfaces logA and logB) logging to one factory; a ping from A to B, so both complete a handshake.
    private static (PublicKey A, PublicKey B) RunHandshake(ILoggerFactory logging, Func<bool>? until = null)
    {
        var network = new InMemoryNetwork();
        var tunA = new InMemoryTun("logA");
        var tunB = new InMemoryTun("logB");
        using var keyA = SecretKey.Generate();
        using var keyB = SecretKey.Generate();
        Tunnel Make(InMemoryTun tun, string address) => new(new TunnelOptions
        {
            Tun = tun,
            LoggerFactory = logging,
            BindUdp = port => network.Bind(NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse(address), port))),
        });
        using var a = Make(tunA, "198.51.100.1");
        using var b = Make(tunB, "198.51.100.2");
        TunnelPeers.ConfigureAndStart(a, b, keyA, keyB);
        Assert.True(tunA.Inject(Icmp.EchoRequest("192.0.2.1", "192.0.2.2", 9, 1)));
        Assert.True(tunB.TryTake(out _, Wait));
        var deadline = DateTime.UtcNow + Wait;
        while (until is not null && !until() && DateTime.UtcNow < deadline) Thread.Sleep(10);
        return (keyA.DerivePublicKey(), keyB.DerivePublicKey());
    }

    [Fact]
    public void AHandshakeReachesTheProviderAsStructuredEventsTaggedWithTheInterface()
    {
        var provider = new RecordingLoggerProvider(LogLevel.Trace);
        using var logging = new LoggerFactory([provider], new LoggerFilterOptions { MinLevel = LogLevel.Trace });
        bool Completed(string name) => provider.Records.Any(r => r.EventId.Id == 201 && Equals(r.Scope.GetValueOrDefault("Interface"), name));
        var (keyA, keyB) = RunHandshake(logging, () => Completed("logA") && Completed("logB"));
        var records = provider.Records;

        LogRecord One(int id, string name) =>
            records.FirstOrDefault(r => r.EventId.Id == id && Equals(r.Scope.GetValueOrDefault("Interface"), name))
            ?? throw new Xunit.Sdk.XunitException($"no event {id} for {name}; got: " +
                string.Join("; ", records.Select(r => $"{r.EventId} {r.Scope.GetValueOrDefault("Interface")} {r.Message}")));

        var initiation = One(200, "logA");
        Assert.Equal("HandshakeInitiationSent", initiation.EventId.Name);
        Assert.Equal(LogLevel.Debug, initiation.Level);
        Assert.Equal("VeilTun.Tunnel", initiation.Category);
        Assert.Equal(keyB, Assert.IsType<Peer>(initiation.State["Peer"]).PublicKey);

        foreach (var (name, peer) in new[] { ("logA", keyB), ("logB", keyA) })
        {
            var completed = One(201, name);
            Assert.Equal("HandshakeCompleted", completed.EventId.Name);
            Assert.Equal(LogLevel.Debug, completed.Level);
            Assert.Equal("VeilTun.Tunnel", completed.Category);
            Assert.Equal(peer, Assert.IsType<Peer>(completed.State["Peer"]).PublicKey);
            Assert.Equal("{Peer} - handshake completed", completed.State["{OriginalFormat}"]);
            Assert.EndsWith(" - handshake completed", completed.Message);
            Assert.DoesNotContain(name, completed.Message); // the interface is a property, not in the text

            var up = One(100, name);
            Assert.Equal(LogLevel.Information, up.Level);
            Assert.Equal("interface is up", up.Message);
        }
        // Every event a tunnel logged carries its interface.
        Assert.All(records.Where(r => r.Category == "VeilTun.Tunnel"),
            r => Assert.Contains(r.Scope.GetValueOrDefault("Interface"), new object[] { "logA", "logB" }));
    }

    [Fact]
    public void AtErrorLevelNothingBelowErrorIsFormattedOrScoped()
    {
        // The provider used as the factory itself, so every BeginScope and Log call reaches it and is counted.
        var provider = new RecordingLoggerProvider(LogLevel.Error);
        RunHandshake(provider, () => provider.EnabledAsked(LogLevel.Debug) >= 3);

        Assert.True(provider.EnabledAsked(LogLevel.Debug) >= 3, "the handshake events were not even considered");
        Assert.True(provider.EnabledAsked(LogLevel.Information) >= 2, "interface up was not considered");
        foreach (var level in new[] { LogLevel.Trace, LogLevel.Debug, LogLevel.Information, LogLevel.Warning })
            Assert.Equal(0, provider.Logged(level));
        Assert.Equal(0, provider.ScopesOpened);
        Assert.Empty(provider.Records);
    }

    [Fact]
    public void AnArgumentIsNotFormattedWhenItsLevelIsOff()
    {
        var provider = new RecordingLoggerProvider(LogLevel.Critical);
        var logger = provider.CreateLogger(VeilTun.Device.Log.Category);
        VeilTun.Device.Log.InternalError(logger, new FailsWhenFormatted()); // an Error event, below Critical
        Assert.Equal(0, provider.Logged(LogLevel.Error));
        Assert.Equal(1, provider.EnabledAsked(LogLevel.Error));
    }

    private sealed class FailsWhenFormatted
    {
        public override string ToString() => throw new Xunit.Sdk.XunitException("formatted although its level is off");
    }
}
