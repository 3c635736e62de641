using System.Diagnostics;
using System.Text;
using Busbar.Benchmarks.Events;
using Busbar.Benchmarks.Routing;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// (e) What the routing benchmark's setup costs: adding 10,000 non-matching pattern subscriptions
/// to one bus, timed in steps, so the growth of the per-subscribe cost shows.
/// </summary>
public static class SubscribeScenario
{
    public static async Task<string> RunAsync(DriverSettings settings)
    {
        var total = settings.Dry ? 1_000 : RoutingBenchmarks.ManyPatterns;
        var step = total / 5;
        var table = new MarkdownTable("Subscriptions so far", "Last step (s)", "Per subscribe in last step (µs)");
        var bus = EventBus.Create(new EventBusOptions { Name = "bench-subscribe" });
        bus.Subscribe<Ping>(static (_, _, _) => ValueTask.CompletedTask);
        var limit = Stopwatch.StartNew();
        var added = 0;
        while (added < total && limit.Elapsed < settings.ScenarioLimit)
        {
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < step; i++, added++)
            {
                bus.Subscribe($"other{added}.*", static (_, _, _) => ValueTask.CompletedTask);
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            table.Add(MarkdownTable.Count(added), MarkdownTable.Number(elapsed.TotalSeconds, "0.00"),
                MarkdownTable.Number(elapsed.TotalMicroseconds / step, "0.0"));
        }

        await bus.DisposeAsync();
        var text = new StringBuilder();
        text.AppendLine("## (e) Cost of subscribing many patterns (the routing benchmark's setup)");
        text.AppendLine();
        text.AppendLine($"Adds {MarkdownTable.Count(total)} non-matching `other{{i}}.*` pattern subscriptions to one bus in 5 steps " +
            $"(stops early after {settings.ScenarioLimit.TotalSeconds:0} s). A per-subscribe cost that grows with the count means each subscribe rebuilds the whole index.");
        text.AppendLine();
        text.Append(table);
        text.AppendLine();
        return text.ToString();
    }
}
