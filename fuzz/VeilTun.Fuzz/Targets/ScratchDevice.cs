using VeilTun.Device;
using VeilTun.Tun;
using VeilTun.Uapi;

namespace VeilTun.Fuzz;

/// <summary>
/// One tunnel that is never started (no sockets, no threads reading), on an in-memory TUN with a fixed clock, to
/// apply parsed requests to and read back. <see cref="Reset"/> returns it to the same state before every input.
/// </summary>
internal static class ScratchDevice
{
    private static readonly byte[] s_privateKey = Convert.FromHexString("e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a");

    public static Tunnel Tunnel { get; } = new(new TunnelOptions
    {
        Tun = new InMemoryTun("fuzz0"),
        MonotonicClock = () => TimeSpan.FromSeconds(1000),
        WallClock = new FixedClock(),
        Random = new FixedRandom(),
        CryptoWorkers = 1,
        MaxBuffers = 64,
        MaxSmallBuffers = 64,
    });

    public static void Reset()
    {
        var reset = new SetRequest { PrivateKey = (byte[])s_privateKey.Clone(), ListenPort = 0, Fwmark = 0, ReplacePeers = true };
        FuzzTargets.Check(Tunnel.Configure(reset) is null, "resetting the scratch device failed");
    }

    /// <summary>Applies <paramref name="request"/> (an error value is fine) and returns the UAPI get text.</summary>
    public static string ApplyAndGet(SetRequest request, out DeviceSnapshot snapshot)
    {
        Reset();
        try
        {
            _ = Tunnel.Configure(request);
        }
        finally
        {
            request.ClearSecrets();
        }
        snapshot = Tunnel.GetSnapshot();
        var writer = new StringWriter();
        UapiWriter.WriteGet(snapshot, writer);
        string text = writer.ToString();
        foreach (var line in text.Split('\n'))
            FuzzTargets.Check(line.Length == 0 || line.IndexOf('=') > 0, $"get line without key=value: '{line}'");
        return text;
    }
}

internal sealed class FixedClock : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
}

internal sealed class FixedRandom : Noise.IRandomSource
{
    private ulong _state = 0x9E3779B97F4A7C15;

    public void Fill(Span<byte> destination)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            _state ^= _state << 13;
            _state ^= _state >> 7;
            _state ^= _state << 17;
            destination[i] = (byte)_state;
        }
    }

    public void Reseed(ulong seed) => _state = seed | 1;
}
