using System.Globalization;
using System.Text;

namespace VeilTun.Diagnostics;

/// <summary>
/// Writes <see cref="TunnelMetricsSnapshot"/>s in Prometheus' text exposition format (version 0.0.4): per metric
/// family one <c># HELP</c> and one <c># TYPE</c> line, then its samples for every snapshot, labelled
/// <c>interface</c> first. The names are the <c>VeilTun</c> meter's instruments as OpenTelemetry's Prometheus
/// exporters name them (<c>veiltun.peer.bytes</c> → <c>veiltun_peer_bytes_total</c>), so a dashboard works on either.
/// </summary>
public static class PrometheusText
{
    /// <summary>The Content-Type to serve this text with.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Writes the metrics of <paramref name="snapshots"/> (one per interface) to <paramref name="writer"/>.</summary>
    public static void Write(TextWriter writer, IReadOnlyList<TunnelMetricsSnapshot> snapshots)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(snapshots);
        var line = new StringBuilder();
        foreach (var d in MetricCatalog.All)
        {
            bool headed = false;
            foreach (var snapshot in snapshots)
            {
                foreach (var sample in d.Read(snapshot))
                {
                    if (!headed)
                    {
                        writer.Write($"# HELP {d.PrometheusName} {EscapeHelp(d.Description)}\n# TYPE {d.PrometheusName} {d.PrometheusType}\n");
                        headed = true;
                    }
                    line.Clear().Append(d.PrometheusName).Append("{interface=\"").Append(EscapeLabelValue(snapshot.Interface)).Append('"');
                    foreach (var (key, value) in sample.Tags) line.Append(',').Append(key).Append("=\"").Append(EscapeLabelValue(value)).Append('"');
                    line.Append("} ").Append(FormatValue(sample.Value, d.IsInteger)).Append('\n');
                    writer.Write(line);
                }
            }
        }
    }

    /// <summary>The text of <see cref="Write(TextWriter, IReadOnlyList{TunnelMetricsSnapshot})"/> as a string.</summary>
    public static string Format(params IReadOnlyList<TunnelMetricsSnapshot> snapshots)
    {
        var writer = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        Write(writer, snapshots);
        return writer.ToString();
    }

    /// <summary>A label value as the format wants it: backslash, double quote and line feed escaped.</summary>
    internal static string EscapeLabelValue(string value) =>
        value.Replace("\\", @"\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);

    /// <summary>HELP text: backslash and line feed escaped (a double quote stays).</summary>
    internal static string EscapeHelp(string text) =>
        text.Replace("\\", @"\\", StringComparison.Ordinal).Replace("\n", @"\n", StringComparison.Ordinal);

    internal static string FormatValue(double value, bool isInteger) =>
        isInteger ? ((long)value).ToString(CultureInfo.InvariantCulture)
        : double.IsNaN(value) ? "NaN"
        : double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : value.ToString("R", CultureInfo.InvariantCulture);
}
