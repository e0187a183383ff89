using System.Globalization;
using VeilTun.Daita;

namespace VeilTun.Uapi;

/// <summary>
/// GotaTun 0.8.1's per-peer DAITA keys (<c>device/uapi/command.rs</c>, feature <c>daita-uapi</c>):
/// set: <c>daita_enable</c> (1 = start from GotaTun's defaults, 0 = off; must come before the others),
/// <c>daita_machine</c> (repeatable, in order), <c>daita_max_decoy_frac</c>, <c>daita_max_delay_frac</c>,
/// <c>daita_max_delayed_packets</c> (non-zero), <c>daita_min_delay_capacity</c>.
/// get (only for a peer with DAITA): the settings echoed in that order plus <c>daita_rx_padding_bytes</c>,
/// <c>daita_tx_padding_bytes</c>, <c>daita_rx_decoy_packet_bytes</c>, <c>daita_tx_decoy_packet_bytes</c>.
/// Deliberate difference: an invalid value (a bad machine, a fraction outside [0, 1]) fails the whole set with
/// EINVAL and changes nothing (GotaTun closes the connection, or stores the settings and fails the device later).
/// Stateless; thread-safe.
/// </summary>
internal static class DaitaKeys
{
    /// <summary>True for the keys a <c>set</c> accepts.</summary>
    public static bool IsSetKey(string key) => key is "daita_enable" or "daita_machine" or "daita_max_decoy_frac"
        or "daita_max_delay_frac" or "daita_max_delayed_packets" or "daita_min_delay_capacity";

    /// <summary>
    /// Folds a peer section's DAITA keys (in order) into a change. <paramref name="touched"/> is false when there were
    /// none (keep the current settings); otherwise <paramref name="settings"/> is the new configuration, null = off.
    /// </summary>
    public static bool TryParse(IEnumerable<KeyValuePair<string, string>> keys, out bool touched, out DaitaSettings? settings, out string? error)
    {
        touched = false;
        settings = null;
        error = null;
        var machines = new List<Machine>();
        var strings = new List<string>();
        DaitaSettings? building = null;
        foreach (var (key, value) in keys)
        {
            if (!IsSetKey(key)) continue;
            touched = true;
            if (key == "daita_enable")
            {
                switch (value)
                {
                    case "1":
                        building = new DaitaSettings();
                        machines.Clear();
                        strings.Clear();
                        break;
                    case "0":
                        building = null;
                        break;
                    default:
                        error = $"The only valid value for key daita_enable is \"1\" and \"0\", got \"{value}\"";
                        return false;
                }
                continue;
            }
            if (building is null)
            {
                error = $"DAITA must be enabled with daita_enable=1 before {key}";
                return false;
            }
            switch (key)
            {
                case "daita_machine":
                    if (!MachineCodec.TryParse(value, out var machine, out var reason))
                    {
                        error = $"invalid daita_machine: {reason}";
                        return false;
                    }
                    machines.Add(machine);
                    strings.Add(value);
                    break;
                case "daita_max_decoy_frac":
                    if (!TryParseFraction(key, value, out double decoy, out error)) return false;
                    building = building with { MaxDecoyFrac = decoy };
                    break;
                case "daita_max_delay_frac":
                    if (!TryParseFraction(key, value, out double delay, out error)) return false;
                    building = building with { MaxDelayFrac = delay };
                    break;
                case "daita_max_delayed_packets":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int max) || max < 1)
                    {
                        error = $"daita_max_delayed_packets must be a positive integer, got \"{value}\"";
                        return false;
                    }
                    building = building with { MaxDelayedPackets = max };
                    break;
                case "daita_min_delay_capacity":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int min))
                    {
                        error = $"daita_min_delay_capacity must be a non-negative integer, got \"{value}\"";
                        return false;
                    }
                    building = building with { MinDelayCapacity = min };
                    break;
            }
        }
        if (building is not null)
        {
            building = building with { Machines = machines.ToArray(), MachineStrings = strings.ToArray() };
            error = building.Validate();
            if (error is not null) return false;
        }
        settings = building;
        return true;
    }

    private static bool TryParseFraction(string key, string value, out double result, out string? error)
    {
        error = null;
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out result) && result >= 0 && result <= 1)
            return true;
        error = $"{key} must be a number in [0, 1], got \"{value}\"";
        return false;
    }

    /// <summary>Appends the get keys for a peer with DAITA (GotaTun's order and number formats).</summary>
    public static void AppendSnapshot(List<KeyValuePair<string, string>> keys, DaitaPeer daita)
    {
        var s = daita.Settings;
        keys.Add(new("daita_enable", "1"));
        for (int i = 0; i < s.Machines.Count; i++)
            keys.Add(new("daita_machine", i < s.MachineStrings.Count ? s.MachineStrings[i] : MachineCodec.Encode(s.Machines[i])));
        keys.Add(new("daita_max_delayed_packets", s.MaxDelayedPackets.ToString(CultureInfo.InvariantCulture)));
        keys.Add(new("daita_min_delay_capacity", s.MinDelayCapacity.ToString(CultureInfo.InvariantCulture)));
        keys.Add(new("daita_max_decoy_frac", FormatRustF64(s.MaxDecoyFrac)));
        keys.Add(new("daita_max_delay_frac", FormatRustF64(s.MaxDelayFrac)));
        keys.Add(new("daita_rx_padding_bytes", daita.RxPaddingBytes.ToString(CultureInfo.InvariantCulture)));
        keys.Add(new("daita_tx_padding_bytes", daita.TxPaddingBytes.ToString(CultureInfo.InvariantCulture)));
        keys.Add(new("daita_rx_decoy_packet_bytes", daita.RxDecoyBytes.ToString(CultureInfo.InvariantCulture)));
        keys.Add(new("daita_tx_decoy_packet_bytes", daita.TxDecoyBytes.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// Rust's <c>Display</c> for f64: the shortest digits that round-trip, always positional (no exponent), no
    /// trailing ".0" (0.0 → "0", 1.0 → "1", 1e-7 → "0.0000001"). The digits come from the same exact shortest-
    /// decimal search as the machine JSON (.NET's own formatting does not always round-trip, e.g. 2^-25).
    /// </summary>
    public static string FormatRustF64(double value)
    {
        if (double.IsNaN(value)) return "NaN";
        if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
        bool negative = double.IsNegative(value);
        if (value == 0) return negative ? "-0" : "0";
        var (shortest, exp10) = MachineJson.ShortestF64(value);
        string digits = shortest.ToString(CultureInfo.InvariantCulture);
        int pointPos = digits.Length + exp10; // digits before the decimal point
        string body;
        if (pointPos <= 0) body = "0." + new string('0', -pointPos) + digits;
        else if (pointPos >= digits.Length) body = digits + new string('0', pointPos - digits.Length);
        else body = digits[..pointPos] + "." + digits[pointPos..];
        return negative ? "-" + body : body;
    }
}
