using System.Text;
using VeilTun.Daita;

namespace VeilTun.Fuzz;

/// <summary>
/// Maybenot machines: byte 0 picks the form (even: a machine string for <see cref="MachineCodec.TryParse"/>; odd:
/// bare bincode for <see cref="MachineCodec.TryDecodeBincode"/>, which the fuzzer reaches far more easily than
/// through zlib). A machine that decodes must re-encode to the same bincode, its string must parse again, it must
/// serialize to JSON, and a valid one runs in a <see cref="Framework"/> for 64 events picked by byte 0.
/// </summary>
internal static class DaitaTarget
{
    public static void Run(byte[] input)
    {
        if (input.Length == 0) return;
        byte mode = input[0];
        Machine machine;
        if ((mode & 1) == 0)
        {
            if (!MachineCodec.TryParse(Encoding.Latin1.GetString(input, 1, input.Length - 1), out machine, out var error))
            {
                FuzzTargets.Check(machine is null && error.Length > 0, "a failed parse without a reason");
                return;
            }
        }
        else if (!MachineCodec.TryDecodeBincode(input.AsSpan(1), out machine, out var error))
        {
            FuzzTargets.Check(machine is null && error.Length > 0, "a failed decode without a reason");
            return;
        }

        byte[] bincode = MachineCodec.EncodeBincode(machine);
        FuzzTargets.Check(MachineCodec.TryDecodeBincode(bincode, out var again, out var againError), $"re-encoded bincode does not decode: {againError}");
        FuzzTargets.Check(MachineCodec.EncodeBincode(again).AsSpan().SequenceEqual(bincode), "bincode does not round-trip");
        _ = MachineJson.Serialize(machine);

        if (machine.Validate() is not null) return;
        string text = MachineCodec.Encode(machine);
        FuzzTargets.Check(MachineCodec.TryParse(text, out _, out var textError), $"an encoded valid machine does not parse: {textError}");

        // A short deterministic run: events of every kind, two machines (the second id is out of range half the time).
        if (!Framework.TryCreate([machine], 0.5, 0.5, TimeSpan.Zero, new SeededDaitaRandom(mode), out var framework, out var frameworkError))
            throw new FuzzCheckException($"a valid machine makes no framework: {frameworkError}");
        var rng = new SeededDaitaRandom(0x5eed ^ (ulong)mode);
        Span<TriggerEvent> events = stackalloc TriggerEvent[2];
        var now = TimeSpan.Zero;
        for (int i = 0; i < 64; i++)
        {
            ulong r = rng.NextUInt64();
            events[0] = new TriggerEvent((TriggerEventKind)(r % 10), (int)((r >> 8) % 2));
            events[1] = new TriggerEvent((TriggerEventKind)((r >> 16) % 10), 0);
            now += TimeSpan.FromTicks((long)((r >> 24) % 20_000));
            var actions = framework.TriggerEvents(events[..(1 + (int)((r >> 40) & 1))], now);
            FuzzTargets.Check(actions.Length <= framework.MachineCount, "more actions than machines");
        }
    }
}
