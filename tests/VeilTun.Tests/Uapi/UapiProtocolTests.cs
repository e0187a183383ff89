using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using CsCheck;
using VeilTun.Uapi;
using Xunit;

namespace VeilTun.Tests.Uapi;

/// <summary>A handler that records what it is given.</summary>
internal sealed class RecordingHandler : IUapiHandler
{
    public ConcurrentQueue<SetRequest> Sets { get; } = new();
    public ConcurrentQueue<string> Errors { get; } = new();
    public Func<DeviceSnapshot> Snapshot { get; set; } = () => new DeviceSnapshot { ListenPort = 51820 };
    public Func<SetRequest, UapiError?> OnSet { get; set; } = _ => null;

    public DeviceSnapshot Get() => Snapshot();

    public UapiError? Set(SetRequest request)
    {
        // Keep a copy of what matters: the protocol clears the secrets after Set returns.
        Sets.Enqueue(request);
        return OnSet(request);
    }

    public bool IsExtensionPeerKey(string key) => key == "ext_peer";

    public void OnError(string message) => Errors.Enqueue(message);
}

/// <summary>A stream whose reads come from a fixed script and whose writes are captured.</summary>
internal sealed class ScriptedStream(byte[] input, int readChunk = 7) : Stream
{
    private readonly MemoryStream _input = new(input);
    public MemoryStream Output { get; } = new();
    public string OutputText => Encoding.UTF8.GetString(Output.ToArray());

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => _input.Read(buffer, offset, Math.Min(count, readChunk)); // small reads by default, to split lines
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Output.Write(buffer, offset, count);
}

public class UapiProtocolTests
{
    private const string Key = UapiParserTests.KeyA;

    private static async Task<(string Output, RecordingHandler Handler)> RunAsync(string input, RecordingHandler? handler = null)
    {
        handler ??= new RecordingHandler();
        var stream = new ScriptedStream(Encoding.UTF8.GetBytes(input));
        await UapiProtocol.HandleConnectionAsync(stream, handler, CancellationToken.None);
        return (stream.OutputText, handler);
    }

    [Fact]
    public async Task TwoRequestsShareOneConnection()
    {
        var (output, handler) = await RunAsync($"set=1\nlisten_port=1234\npublic_key={Key}\nallowed_ip=10.0.0.0/8\n\nget=1\n\n");
        Assert.Equal("errno=0\n\nlisten_port=51820\nerrno=0\n\n", output);
        var set = Assert.Single(handler.Sets);
        Assert.Equal(1234, set.ListenPort);
        Assert.Single(set.Peers[0].AllowedIps);
    }

    [Fact]
    public async Task BadSetIsAnsweredAndTheConnectionStaysInSync()
    {
        var (output, handler) = await RunAsync($"set=1\nlisten_port=99999\npublic_key={Key}\n\nget=1\n\n");
        Assert.Equal("errno=-22\n\nlisten_port=51820\nerrno=0\n\n", output);
        Assert.Empty(handler.Sets); // nothing applied
        Assert.Contains(handler.Errors, e => e.Contains("invalid listen_port \"99999\""));
    }

    [Fact]
    public async Task LineWithoutEqualsIsEproto()
    {
        var (output, _) = await RunAsync("set=1\ngarbage\n\n");
        Assert.Equal("errno=-71\n\n", output);
    }

    [Fact]
    public async Task HandlerErrorIsReported()
    {
        var handler = new RecordingHandler { OnSet = _ => UapiError.PortInUse("bind: address in use") };
        var (output, _) = await RunAsync("set=1\nlisten_port=1\n\n", handler);
        Assert.Equal("errno=-98\n\n", output);
    }

    [Fact]
    public async Task HandlerExceptionsBecomeErrnoUnknown()
    {
        var handler = new RecordingHandler
        {
            OnSet = _ => throw new InvalidOperationException("boom"),
            Snapshot = () => throw new InvalidOperationException("boom"),
        };
        var (output, _) = await RunAsync("set=1\nlisten_port=1\n\nget=1\n\n", handler);
        Assert.Equal("errno=-55\n\nerrno=-55\n\n", output);
    }

    [Fact]
    public async Task UnknownOperationClosesWithoutReply()
    {
        var (output, handler) = await RunAsync("hello\nget=1\n\n");
        Assert.Equal("", output);
        Assert.Contains(handler.Errors, e => e.Contains("invalid UAPI operation"));
    }

    [Theory]
    [InlineData("get=1\r\n\n")] // the op line must match exactly
    [InlineData("GET=1\n\n")]
    [InlineData("\n")]
    [InlineData("get=2\n\n")]
    public async Task OtherOperationLinesCloseTheConnection(string input) => Assert.Equal("", (await RunAsync(input)).Output);

    [Fact]
    public async Task TrailingByteAfterGetIsEinval()
    {
        // wg-go consumes the byte, answers -EINVAL, then reads "\n" as the next operation line, which is unknown.
        var (output, handler) = await RunAsync("get=1\nx\n");
        Assert.Equal("errno=-22\n\n", output);
        Assert.Contains(handler.Errors, e => e.Contains("trailing character in UAPI get: x"));
    }

    [Fact]
    public async Task SetWithoutFinalEmptyLineIsAppliedAtEndOfStream()
    {
        // As in wg-go: bufio.Scanner stops at EOF without error, and the request is applied.
        var (output, handler) = await RunAsync("set=1\nlisten_port=7\nfwmark=3");
        Assert.Equal("errno=0\n\n", output);
        var set = Assert.Single(handler.Sets);
        Assert.Equal(7, set.ListenPort);
        Assert.Equal(3u, set.Fwmark);
    }

    [Fact]
    public async Task CarriageReturnsInSetLinesAreIgnored()
    {
        var (output, handler) = await RunAsync("set=1\nlisten_port=7\r\n\r\nget=1\n\n");
        Assert.Equal("errno=0\n\nlisten_port=51820\nerrno=0\n\n", output);
        Assert.Equal(7, Assert.Single(handler.Sets).ListenPort);
    }

    [Fact]
    public async Task OversizedLineIsEioAndTheRestOfTheRequestIsSkipped()
    {
        string huge = "private_key=" + new string('a', UapiProtocol.MaxLineLength + 10);
        var (output, handler) = await RunAsync($"set=1\n{huge}\nlisten_port=1\n\nget=1\n\n");
        Assert.Equal("errno=-5\n\nlisten_port=51820\nerrno=0\n\n", output);
        Assert.Empty(handler.Sets);
    }

    [Fact]
    public async Task LineOfExactlyTheMaximumLengthIsAccepted()
    {
        string value = new string('v', UapiProtocol.MaxLineLength - "ext_peer=".Length);
        var (output, handler) = await RunAsync($"set=1\npublic_key={Key}\next_peer={value}\n\n");
        Assert.Equal("errno=0\n\n", output);
        Assert.Equal(value, Assert.Single(handler.Sets).Peers[0].ExtensionKeys[0].Value);
    }

    [Fact]
    public async Task OversizedOperationLineClosesTheConnection()
    {
        var (output, _) = await RunAsync(new string('g', UapiProtocol.MaxLineLength + 1) + "\nget=1\n\n");
        Assert.Equal("", output);
    }

    [Fact]
    public async Task NetnsBigDumpOf130560AllowedIpsWorks()
    {
        // netns.sh "big UAPI dumps": one peer with 130,560 allowed IPs, half IPv4 /16... here 65,280 v4 and 65,280 v6.
        var sb = new StringBuilder($"set=1\npublic_key={Key}\nreplace_allowed_ips=true\n");
        int count = 0;
        for (int a = 0; a < 255 && count < 65280; a++)
        {
            for (int b = 0; b < 256 && count < 65280; b++, count++)
                sb.Append($"allowed_ip={a}.{b}.0.0/16\n");
        }

        for (int i = 0; i < 65280; i++)
            sb.Append($"allowed_ip=abcd:23::{i / 256:x}:{i % 256:x}/128\n");
        sb.Append("\nget=1\n\n");

        var handler = new RecordingHandler();
        var snapshotPeer = new PeerSnapshot { PublicKey = new byte[32] };
        handler.Snapshot = () =>
        {
            var s = new DeviceSnapshot();
            s.Peers.Add(snapshotPeer);
            return s;
        };
        handler.OnSet = r =>
        {
            foreach (var change in r.Peers[0].AllowedIps) snapshotPeer.AllowedIps.Add((change.Address, change.PrefixLength));
            return null;
        };
        var (output, _) = await RunAsync(sb.ToString(), handler);
        Assert.Equal(130560, Assert.Single(handler.Sets).Peers[0].AllowedIps.Count);
        Assert.StartsWith("errno=0\n\npublic_key=", output);
        Assert.EndsWith("allowed_ip=abcd:23::fe:ff/128\nerrno=0\n\n", output);
        Assert.Equal(130560, output.Split('\n').Count(l => l.StartsWith("allowed_ip=")));
    }

    [Fact]
    public async Task OversizedSetRequestIsEioAndNothingIsApplied()
    {
        // protocol_version=1 lines are validated but not stored, so only the byte bound can stop this request.
        var sb = new StringBuilder($"set=1\npublic_key={Key}\n");
        const string line = "protocol_version=1\n";
        for (long n = 0; n <= UapiProtocol.MaxSetRequestBytes / line.Length; n++) sb.Append(line);
        sb.Append("\nget=1\n\n");
        var handler = new RecordingHandler();
        var stream = new ScriptedStream(Encoding.ASCII.GetBytes(sb.ToString()), readChunk: 1 << 20);
        await UapiProtocol.HandleConnectionAsync(stream, handler, CancellationToken.None);
        Assert.Equal("errno=-5\n\nlisten_port=51820\nerrno=0\n\n", stream.OutputText);
        Assert.Empty(handler.Sets);
    }

    [Fact]
    public void ProtocolAndParserAgreeOnRandomBodies()
    {
        // The socket and UapiParser.TryParseSet share one parser: any body gives the same errno and request.
        var keys = Gen.OneOf("private_key", "listen_port", "fwmark", "public_key", "remove", "endpoint",
            "allowed_ip", "replace_allowed_ips", "ext_peer", "x", "");
        var values = Gen.OneOf(Gen.String[Gen.Char["0123456789abcdef:.[]/-\r"], 0, 20], Gen.Const(Key), Gen.Const("true"),
            Gen.Const("10.0.0.0/8"), Gen.Const("1.2.3.4:5"), Gen.String);
        var line = Gen.Frequency((6, Gen.Select(keys, values, (k, v) => k + "=" + v)), (1, Gen.String), (1, Gen.Const("")));
        line.Array[0, 8].Select(Gen.Bool).Sample((lines, finalNewline) =>
        {
            string text = string.Join('\n', lines) + (finalNewline ? "\n" : "");
            byte[] body = Encoding.UTF8.GetBytes(text);
            bool ok = UapiParser.TryParseSet(body, out var parsed, out var error, k => k == "ext_peer");

            var handler = new RecordingHandler();
            var stream = new ScriptedStream([.. "set=1\n"u8, .. body]);
            UapiProtocol.HandleConnectionAsync(stream, handler, CancellationToken.None).GetAwaiter().GetResult();
            string reply = stream.OutputText;
            Assert.StartsWith($"errno={error.Errno}\n\n", reply);
            Assert.Equal(ok, !handler.Sets.IsEmpty);
            if (!ok) return;
            var applied = handler.Sets.First();
            Assert.NotNull(parsed);
            Assert.Equal(parsed.ListenPort, applied.ListenPort);
            Assert.Equal(parsed.Peers.Count, applied.Peers.Count);
            for (int i = 0; i < parsed.Peers.Count; i++)
            {
                Assert.Equal(parsed.Peers[i].PublicKey, applied.Peers[i].PublicKey);
                Assert.Equal(parsed.Peers[i].Remove, applied.Peers[i].Remove);
                Assert.Equal(parsed.Peers[i].Endpoint, applied.Peers[i].Endpoint);
                Assert.Equal(parsed.Peers[i].AllowedIps, applied.Peers[i].AllowedIps);
                Assert.Equal(parsed.Peers[i].ExtensionKeys, applied.Peers[i].ExtensionKeys);
            }
        }, iter: 2000);
    }

    [Fact]
    public async Task SecretsAreClearedAfterSet()
    {
        var (_, handler) = await RunAsync($"set=1\nprivate_key={UapiParserTests.KeyB}\npublic_key={Key}\npreshared_key={UapiParserTests.Psk}\n\n");
        var set = Assert.Single(handler.Sets);
        Assert.Equal(new byte[32], set.PrivateKey);
        Assert.Equal(new byte[32], set.Peers[0].PresharedKey);
    }

    [Fact]
    public async Task InteractiveClientGetsEachReplyBeforeSendingTheNextRequest()
    {
        // A real socket pair: the client waits for every reply, so the server must flush after each one.
        using var pair = await SocketPair.CreateAsync();
        var handler = new RecordingHandler();
        using var cts = new CancellationTokenSource();
        var server = UapiProtocol.HandleConnectionAsync(pair.Server, handler, cts.Token);

        Assert.Equal("listen_port=51820\nerrno=0\n\n", await pair.RequestAsync("get=1\n\n"));
        Assert.Equal("errno=0\n\n", await pair.RequestAsync("set=1\nlisten_port=5\n\n"));
        Assert.Equal("errno=-22\n\n", await pair.RequestAsync("set=1\nlisten_port=x\n\n"));
        Assert.Equal("listen_port=51820\nerrno=0\n\n", await pair.RequestAsync("get=1\n\n"));

        pair.Client.Socket.Shutdown(SocketShutdown.Send);
        await server; // ends at end of stream without throwing
    }

    [Fact]
    public async Task CancellationEndsAnIdleConnectionQuietly()
    {
        using var pair = await SocketPair.CreateAsync();
        using var cts = new CancellationTokenSource();
        var server = UapiProtocol.HandleConnectionAsync(pair.Server, new RecordingHandler(), cts.Token);
        await cts.CancelAsync();
        await server;
        Assert.True(server.IsCompletedSuccessfully);
    }
}

/// <summary>A connected pair of Unix stream sockets in a temporary directory.</summary>
internal sealed class SocketPair : IDisposable
{
    private readonly string _directory;
    public required NetworkStream Client { get; init; }
    public required NetworkStream Server { get; init; }

    private SocketPair(string directory) => _directory = directory;

    public static async Task<SocketPair> CreateAsync()
    {
        string dir = Directory.CreateTempSubdirectory("veiltun-uapi-").FullName;
        var endPoint = new UnixDomainSocketEndPoint(Path.Combine(dir, "pair.sock"));
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(endPoint);
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(endPoint);
        var server = await listener.AcceptAsync();
        return new SocketPair(dir) { Client = new NetworkStream(client, true), Server = new NetworkStream(server, true) };
    }

    /// <summary>Sends a request and reads until the reply's final empty line after errno=.</summary>
    public async Task<string> RequestAsync(string request)
    {
        await Client.WriteAsync(Encoding.ASCII.GetBytes(request));
        return await ReadReplyAsync(Client);
    }

    /// <summary>Reads lines the way wg(8) does: until "errno=N" followed by an empty line.</summary>
    public static async Task<string> ReadReplyAsync(Stream stream)
    {
        var sb = new StringBuilder();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // only to avoid hanging forever
        while (true)
        {
            int n = await stream.ReadAsync(one, timeout.Token);
            if (n == 0) throw new EndOfStreamException(sb.ToString());
            sb.Append((char)one[0]);
            string s = sb.ToString();
            int errno = s.LastIndexOf("errno=", StringComparison.Ordinal);
            if (errno >= 0 && (errno == 0 || s[errno - 1] == '\n') && s.EndsWith("\n\n")) return s;
        }
    }

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
        try { Directory.Delete(_directory, true); } catch (IOException) { }
    }
}
