using System.Globalization;

namespace VeilTun.Daita;

/// <summary>
/// A peer's DAITA configuration: GotaTun 0.8.1's <c>DaitaSettings</c> (decoy = Maybenot padding, delay = Maybenot
/// blocking). Defaults as GotaTun's: no machines, fractions 0 (no framework-wide limit), 1024 delayed packets, a
/// minimum free delay capacity of 50. Immutable; thread-safe.
/// </summary>
public sealed record DaitaSettings
{
    /// <summary>The machines, in order (machine ids are indexes into this list).</summary>
    internal IReadOnlyList<Machine> Machines { get; init; } = [];

    /// <summary>The machine strings as configured (echoed by UAPI <c>get</c>); same order as <see cref="Machines"/>.</summary>
    public IReadOnlyList<string> MachineStrings { get; init; } = [];

    /// <summary>Framework-wide cap on the fraction of decoy packets (Maybenot max_padding_frac), in [0, 1]; 0 = none.</summary>
    public double MaxDecoyFrac { get; init; }

    /// <summary>Framework-wide cap on the fraction of time spent delaying (Maybenot max_blocking_frac), in [0, 1]; 0 = none.</summary>
    public double MaxDelayFrac { get; init; }

    /// <summary>Capacity of the delay queue (packets held while delaying); at least 1.</summary>
    public int MaxDelayedPackets { get; init; } = 1024;

    /// <summary>A delay ends early when fewer than this many free slots remain in the queue.</summary>
    public int MinDelayCapacity { get; init; } = 50;

    /// <summary>Builds settings from machine strings; false with the reason for the first invalid one.</summary>
    public static bool TryFromStrings(IEnumerable<string> machineStrings, out DaitaSettings settings, out string? error)
    {
        var machines = new List<Machine>();
        var strings = new List<string>();
        settings = new DaitaSettings();
        foreach (var s in machineStrings)
        {
            if (!MachineCodec.TryParse(s, out var m, out var reason))
            {
                error = $"invalid machine #{strings.Count + 1}: {reason}";
                return false;
            }
            machines.Add(m);
            strings.Add(s);
        }
        settings = new DaitaSettings { Machines = machines, MachineStrings = strings };
        error = null;
        return true;
    }

    /// <summary>Null if usable, else the reason (fractions in [0, 1] and not NaN, queue sizes in range).</summary>
    public string? Validate()
    {
        if (!(MaxDecoyFrac >= 0 && MaxDecoyFrac <= 1)) return $"daita_max_decoy_frac must be in [0, 1], got {MaxDecoyFrac.ToString(CultureInfo.InvariantCulture)}";
        if (!(MaxDelayFrac >= 0 && MaxDelayFrac <= 1)) return $"daita_max_delay_frac must be in [0, 1], got {MaxDelayFrac.ToString(CultureInfo.InvariantCulture)}";
        if (MaxDelayedPackets < 1 || MaxDelayedPackets > 1 << 20) return $"daita_max_delayed_packets must be in [1, {1 << 20}], got {MaxDelayedPackets}";
        if (MinDelayCapacity < 0) return $"daita_min_delay_capacity must not be negative, got {MinDelayCapacity}";
        if (MachineStrings.Count != 0 && MachineStrings.Count != Machines.Count) return "machine strings and machines differ in count";
        for (int i = 0; i < Machines.Count; i++)
            if (Machines[i].Validate() is { } reason) return $"machine #{i + 1}: {reason}";
        return null;
    }
}
