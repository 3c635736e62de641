using System.Diagnostics;
using System.Text;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// (b) Round-trip latency: sequential publish → await handled. The rows alternate in blocks so a
/// noisy neighbour hurts both alike; percentiles are over every measured sample of a row.
/// </summary>
public static class LatencyScenario
{
    private const int Blocks = 4;

    public static async Task<string> RunAsync(DriverSettings settings, IReadOnlyList<IRoundTrip> rows)
    {
        var samples = rows.Select(_ => new List<double>(settings.LatencySamples)).ToArray();
        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        var perBlock = Math.Max(1, settings.LatencySamples / Blocks);

        foreach (var row in rows)
        {
            Console.WriteLine($"  warming up {row.Name}");
            for (var i = 0; i < Math.Min(2_000, settings.LatencySamples); i++)
            {
                await row.RoundTripAsync(i, limit.Token);
            }
        }

        for (var block = 0; block < Blocks; block++)
        {
            for (var r = 0; r < rows.Count; r++)
            {
                for (var i = 0; i < perBlock; i++)
                {
                    var started = Stopwatch.GetTimestamp();
                    await rows[r].RoundTripAsync(i, limit.Token);
                    samples[r].Add(MicrosecondsSince(started));
                }
            }
        }

        foreach (var row in rows)
        {
            await row.DisposeAsync();
        }

        var p50 = samples.Select(s => Percentile(s, 0.50)).ToArray();
        var p99 = samples.Select(s => Percentile(s, 0.99)).ToArray();
        var table = new MarkdownTable("Row", "Samples", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "p50 ratio", "p99 ratio");
        for (var r = 0; r < rows.Count; r++)
        {
            table.Add(
                rows[r].Name,
                MarkdownTable.Count(samples[r].Count),
                MarkdownTable.Number(p50[r], "0.00"),
                MarkdownTable.Number(Percentile(samples[r], 0.90), "0.00"),
                MarkdownTable.Number(p99[r], "0.00"),
                MarkdownTable.Number(Percentile(samples[r], 0.999), "0.00"),
                MarkdownTable.Ratio(p50[r] / p50[0]),
                MarkdownTable.Ratio(p99[r] / p99[0]));
        }

        var text = new StringBuilder();
        text.AppendLine("## (b) Round-trip latency: publish, then await handled, sequential");
        text.AppendLine();
        text.AppendLine($"{MarkdownTable.Count(settings.LatencySamples)} samples per row after a warm-up, in {Blocks} alternating blocks. " +
            "Ratios are against the first row (the raw channel hand-off). Goal for Busbar: p50 and p99 within 2×.");
        text.AppendLine();
        text.Append(table);
        text.AppendLine();
        return text.ToString();
    }

    /// <summary>
    /// Microseconds since a <see cref="Stopwatch.GetTimestamp"/> reading, at the timestamp's own resolution
    /// (nanoseconds on Linux); <see cref="Stopwatch.GetElapsedTime(long)"/> rounds to 100 ns ticks, too coarse for
    /// round trips of about a microsecond.
    /// </summary>
    public static double MicrosecondsSince(long started) =>
        (Stopwatch.GetTimestamp() - started) * 1_000_000.0 / Stopwatch.Frequency;

    public static double Percentile(List<double> values, double quantile)
    {
        var sorted = values.Order().ToArray();
        var index = (int)Math.Ceiling(quantile * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }
}
