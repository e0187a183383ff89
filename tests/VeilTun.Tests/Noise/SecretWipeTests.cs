using System.Text;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Tests.Fakes;
using VeilTun.Tests.Uapi;
using VeilTun.Uapi;
using Xunit;

namespace VeilTun.Tests.Noise;

/// <summary>Buffers the code owns that held secrets are zeroed once done with (issue #14).</summary>
public class SecretWipeTests
{
    private static bool AllZero(ReadOnlySpan<byte> bytes) => bytes.IndexOfAnyExcept((byte)0) < 0;

    [Fact]
    public async Task UapiGetZeroesTheSnapshotKeysAfterTheReplyIsSent()
    {
        var privateKey = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        var psk = Enumerable.Range(101, 32).Select(i => (byte)i).ToArray();
        var snapshot = new DeviceSnapshot { PrivateKey = privateKey, ListenPort = 51820 };
        snapshot.Peers.Add(new PeerSnapshot { PublicKey = new byte[32], PresharedKey = psk });
        var handler = new RecordingHandler { Snapshot = () => snapshot };
        string privateHex = KeyEncoding.ToHex(privateKey), pskHex = KeyEncoding.ToHex(psk);

        var stream = new ScriptedStream(Encoding.ASCII.GetBytes("get=1\n\n"));
        await UapiProtocol.HandleConnectionAsync(stream, handler, CancellationToken.None);

        Assert.Contains("private_key=" + privateHex + "\n", stream.OutputText); // it was sent...
        Assert.Contains("preshared_key=" + pskHex + "\n", stream.OutputText);
        Assert.True(AllZero(privateKey), "the snapshot's private key copy was not zeroed"); // ...then wiped
        Assert.True(AllZero(psk), "the snapshot's preshared key copy was not zeroed");
    }

    [Fact]
    public void WipedTextBufferZeroesWhatItOutgrowsAndWhatItHolds()
    {
        var writer = new WipedTextBuffer(16);
        writer.Write("private_key=0123");
        var first = writer.BufferForTest;
        Assert.False(AllZero(first));
        writer.Write(new string('a', 100)); // grows
        Assert.NotSame(first, writer.BufferForTest);
        Assert.True(AllZero(first), "the outgrown array still holds the text");
        Assert.Equal("private_key=0123" + new string('a', 100), Encoding.UTF8.GetString(writer.Written.Span));
        var last = writer.BufferForTest;
        writer.Dispose();
        Assert.True(AllZero(last), "the array was not zeroed on dispose");
    }

    [Fact]
    public async Task UapiLineReaderZeroesWhatItOutgrowsAndWipes()
    {
        string line = "private_key=" + new string('e', 64) + new string(' ', 9000); // longer than the first buffer
        var reader = new UapiLineReader(new ScriptedStream(Encoding.ASCII.GetBytes(line + "\n"), readChunk: 4096), UapiProtocol.MaxLineLength);
        var first = reader.BufferForTest;
        var (kind, read) = await reader.ReadLineAsync(CancellationToken.None);
        Assert.Equal(UapiLineReader.Kind.Line, kind);
        Assert.Equal(line.Length, read.Length);
        Assert.NotSame(first, reader.BufferForTest);
        Assert.True(AllZero(first), "the outgrown line buffer still holds key text");
        var last = reader.BufferForTest;
        reader.Wipe();
        Assert.True(AllZero(last));
    }

    [Fact]
    public void RemovingAPeerZeroesTheCookieItHeld()
    {
        var pair = new TestPair();
        pair.B.Engine.UnderLoad = true;
        pair.A.Send(pair.PacketAtoB());
        pair.Pump(); // B answers with a cookie reply; A keeps the cookie
        var cookies = pair.PeerOfA.Cookies;
        Assert.True(cookies.HasFreshCookie(pair.Clock.Now));
        Assert.False(AllZero(cookies.CookieForTest));

        pair.A.Engine.RemovePeer(pair.PeerOfA);

        Assert.False(cookies.HasFreshCookie(pair.Clock.Now));
        Assert.True(AllZero(cookies.CookieForTest), "the removed peer's cookie was not zeroed");
    }
}
