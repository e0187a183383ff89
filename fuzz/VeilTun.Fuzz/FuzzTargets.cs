namespace VeilTun.Fuzz;

/// <summary>
/// A broken invariant found by a fuzz target: the library accepted, returned or left behind something it must
/// not. Thrown only by the targets' own checks; any exception at all that escapes a target is a crash.
/// </summary>
public sealed class FuzzCheckException(string message) : Exception(message);

/// <summary>
/// The fuzz targets, one per parser or state machine entry of VeilTun. Each takes the fuzzer's bytes, treats the
/// library's documented bad-input outcomes (false, null, an error value, a counted drop) as fine and throws on
/// everything else. Deterministic: no wall clock, no OS randomness, no state carried from one input to the next
/// that changes what the next input does.
/// </summary>
public static class FuzzTargets
{
    /// <summary>Every target by name, in the order the scripts run them.</summary>
    public static IReadOnlyList<(string Name, Action<byte[]> Run)> All { get; } =
    [
        ("engine", EngineTarget.Run),
        ("uapi", UapiTarget.Run),
        ("wgconfig", WgConfigTarget.Run),
        ("daita", DaitaTarget.Run),
        ("offload", OffloadTarget.Run),
        ("reassembly", ReassemblyTarget.Run),
        ("unwrap", UnwrapTarget.Run),
    ];

    /// <summary>The target called <paramref name="name"/>, or null.</summary>
    public static Action<byte[]>? Find(string name) => All.FirstOrDefault(t => t.Name == name).Run;

    internal static void Check(bool condition, string what)
    {
        if (!condition) throw new FuzzCheckException(what);
    }
}

/// <summary>Reads a fuzz input front to back; past its end every read returns zero.</summary>
internal ref struct FuzzReader(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _data = data;

    public readonly bool IsEmpty => _data.IsEmpty;

    public readonly int Remaining => _data.Length;

    public byte Byte()
    {
        if (_data.IsEmpty) return 0;
        byte b = _data[0];
        _data = _data[1..];
        return b;
    }

    public ushort UInt16() => (ushort)(Byte() | (Byte() << 8));

    /// <summary>Up to <paramref name="count"/> bytes (fewer at the end of the input).</summary>
    public ReadOnlySpan<byte> Bytes(int count)
    {
        int n = Math.Min(count, _data.Length);
        var result = _data[..n];
        _data = _data[n..];
        return result;
    }

    public ReadOnlySpan<byte> Rest()
    {
        var result = _data;
        _data = default;
        return result;
    }
}
