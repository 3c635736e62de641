using System.Diagnostics;
using System.Text;
using Busbar.Benchmarks.Pipelines;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// (a) Queued throughput, one producer → one handler, every pipeline in one process. Rounds are
/// interleaved (each row once per round) so a noisy neighbour hurts every row alike; the table
/// reports the median round.
/// </summary>
public static class ThroughputScenario
{
    public const string Floor = "Channel.CreateBounded (raw)";

    public static async Task<string> RunAsync(DriverSettings settings, IReadOnlyList<(QueuedPipeline Pipeline, int Events)> rows)
    {
        var rates = rows.Select(_ => new List<double>()).ToArray();
        var bytes = rows.Select(_ => new List<double>()).ToArray();
        foreach (var (pipeline, events) in rows)
        {
            Console.WriteLine($"  starting {pipeline.Name}");
            await pipeline.StartAsync();
            using var limit = new CancellationTokenSource(settings.ScenarioLimit);
            await pipeline.RunAsync(Math.Max(1, events / 10), limit.Token);
        }

        for (var round = 0; round < settings.Rounds; round++)
        {
            for (var i = 0; i < rows.Count; i++)
            {
                var (pipeline, events) = rows[i];
                GC.Collect();
                GC.WaitForPendingFinalizers();
                using var limit = new CancellationTokenSource(settings.ScenarioLimit);
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var started = Stopwatch.GetTimestamp();
                await pipeline.RunAsync(events, limit.Token);
                var elapsed = Stopwatch.GetElapsedTime(started);
                allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
                rates[i].Add(events / elapsed.TotalSeconds);
                bytes[i].Add((double)allocated / events);
                Console.WriteLine($"  round {round + 1}: {pipeline.Name}: {MarkdownTable.Rate(events / elapsed.TotalSeconds)} events/s");
            }
        }

        foreach (var (pipeline, _) in rows)
        {
            await pipeline.DisposeAsync();
        }

        var medians = rates.Select(Median).ToArray();
        var floorIndex = rows.ToList().FindIndex(r => r.Pipeline.Name == Floor);
        var floor = floorIndex >= 0 ? medians[floorIndex] : double.NaN;

        var table = new MarkdownTable("Row", "Events per round", "Events/s (median)", "Min – max events/s", "Ratio vs raw channel", "Bytes/event (all threads)");
        for (var i = 0; i < rows.Count; i++)
        {
            table.Add(
                rows[i].Pipeline.Name,
                MarkdownTable.Count(rows[i].Events),
                MarkdownTable.Rate(medians[i]),
                $"{MarkdownTable.Rate(rates[i].Min())} – {MarkdownTable.Rate(rates[i].Max())}",
                MarkdownTable.Ratio(medians[i] / floor),
                MarkdownTable.Number(Median(bytes[i]), "0"));
        }

        var text = new StringBuilder();
        text.AppendLine("## (a) Queued throughput: 1 producer → 1 handler, capacity 10,000");
        text.AppendLine();
        text.AppendLine($"Median of {settings.Rounds} interleaved round(s) after a warm-up round of a tenth of the events. " +
            "MassTransit and Wolverine have no bounded mode here (their queues are unbounded) and get fewer events per round. " +
            "Bytes/event is `GC.GetTotalAllocatedBytes` over the round divided by the events, every thread included; the event itself is 24 bytes.");
        text.AppendLine();
        text.Append(table);
        text.AppendLine();

        var busbar = rows.ToList().FindIndex(r => r.Pipeline.Name.StartsWith("Busbar", StringComparison.Ordinal));
        if (busbar >= 0)
        {
            var vs = new MarkdownTable("Comparison", "Ratio (events/s)", "Goal", "Met");
            vs.Add("Busbar ÷ raw bounded channel", MarkdownTable.Ratio(medians[busbar] / floor), "≥ 0.7× (issue 16)", medians[busbar] / floor >= 0.7 ? "yes" : "no");
            foreach (var peer in new[] { "MassTransit", "Wolverine" })
            {
                var index = rows.ToList().FindIndex(r => r.Pipeline.Name.StartsWith(peer, StringComparison.Ordinal));
                if (index >= 0)
                {
                    var ratio = medians[busbar] / medians[index];
                    vs.Add($"Busbar ÷ {rows[index].Pipeline.Name}", MarkdownTable.Ratio(ratio), "≥ 10×", ratio >= 10 ? "yes" : "no");
                }
            }

            text.Append(vs);
            text.AppendLine();
        }

        return text.ToString();
    }

    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1
            ? sorted[sorted.Length / 2]
            : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
