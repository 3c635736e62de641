using System.Diagnostics;
using System.Text;
using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// (d) Fan-out: every event goes to 8 handlers of equal priority, queued. Busbar runs the tier in
/// parallel and, for reference, serially; handlers increment one shared counter.
/// </summary>
public static class FanOutScenario
{
    public const int Handlers = 8;

    public static async Task<string> RunAsync(DriverSettings settings)
    {
        // Rounds interleave the tiers so neither is always measured first in a fresh process (still tiering its
        // code up) or always last; each row is its median round.
        var tiers = new[] { HandlerConcurrency.Parallel, HandlerConcurrency.Serial };
        var rounds = settings.Dry ? 1 : 3;
        var measured = tiers.ToDictionary(t => t, _ => new List<(TimeSpan Elapsed, long Bytes)>());
        foreach (var tier in tiers)
        {
            // Warm-up run per tier.
            await MeasureAsync(settings, tier, Math.Max(1, settings.FanOutEvents / 10));
        }

        for (var round = 0; round < rounds; round++)
        {
            foreach (var tier in round % 2 == 0 ? tiers : tiers.Reverse())
                measured[tier].Add(await MeasureAsync(settings, tier, settings.FanOutEvents));
        }

        var table = new MarkdownTable("Row", "Events", "Events/s", "Handler invocations/s", "Bytes/event (all threads)");
        foreach (var tier in tiers)
        {
            var (elapsed, bytes) = measured[tier].OrderBy(m => m.Elapsed).ElementAt(rounds / 2);
            var eventsPerSecond = settings.FanOutEvents / elapsed.TotalSeconds;
            table.Add(
                $"Busbar, 8 handlers, {tier} tier",
                MarkdownTable.Count(settings.FanOutEvents),
                MarkdownTable.Rate(eventsPerSecond),
                MarkdownTable.Rate(eventsPerSecond * Handlers),
                MarkdownTable.Number((double)bytes / settings.FanOutEvents, "0"));
        }

        var text = new StringBuilder();
        text.AppendLine("## (d) Fan-out: 8 handlers per event, queued");
        text.AppendLine();
        text.AppendLine("One producer, `PublishAsync` into capacity 10,000 (Wait); 8 subscriptions of equal priority. " +
            "The Parallel tier starts the 8 handlers of an event together; the Serial row is the same bus with the default tier, for reference. " +
            "Median of 3 rounds that alternate the tiers' order.");
        text.AppendLine();
        text.Append(table);
        text.AppendLine();
        return text.ToString();
    }

    private static async Task<(TimeSpan Elapsed, long Bytes)> MeasureAsync(DriverSettings settings, HandlerConcurrency tier, int events)
    {
        long invocations = 0;
        long target = (long)events * Handlers;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bus = EventBus.Create(new EventBusOptions
        {
            Name = $"bench-fanout-{tier}",
            Capacity = settings.Capacity,
            FullMode = BusFullMode.Wait,
            HandlerConcurrency = tier,
        });
        for (var h = 0; h < Handlers; h++)
        {
            bus.Subscribe<Ping>((_, _, _) =>
            {
                if (Interlocked.Increment(ref invocations) == target)
                {
                    done.TrySetResult();
                }

                return ValueTask.CompletedTask;
            });
        }

        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        GC.Collect();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < events; i++)
        {
            await bus.PublishAsync(new Ping(i), cancellationToken: limit.Token);
        }

        await done.Task.WaitAsync(limit.Token);
        var elapsed = Stopwatch.GetElapsedTime(started);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        await bus.StopAsync(TimeSpan.FromSeconds(30));
        await bus.DisposeAsync();
        return (elapsed, allocated);
    }
}
