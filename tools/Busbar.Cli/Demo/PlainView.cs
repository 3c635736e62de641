using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>The demo's progress as one plain line per sample, for CI, logs and <c>--no-live</c>: no escape codes.</summary>
internal static class PlainView
{
    public static string Header(DemoSettings settings, string walDirectory) => Invariant(
        $"busbar demo: order pipeline for {settings.Duration.TotalSeconds:F0} s, {settings.Rate} orders/s with 3 bursts of {settings.Capacity * 2}, capacity {settings.Capacity}, FullMode {settings.FullMode}, concurrency {settings.Concurrency}, write-ahead log {walDirectory}");

    public static string Line(DemoSnapshot snapshot)
    {
        var s = snapshot.Statistics;
        var line = Invariant(
            $"[{snapshot.Elapsed.TotalSeconds,5:F1}s] {snapshot.Phase,-10} published={s.Published} handled={s.Processed} rate={snapshot.Throughput:F0}/s queue={s.QueueDepth}/{s.Capacity} inflight={s.InFlight} retries={s.Retried} failures={s.Failed} dead-letters={s.DeadLettered} dropped={s.Dropped} rejected={s.Rejected} slow={s.SlowHandlers}");
        return line + Latencies(s);
    }

    private static string Latencies(BusStatistics s)
    {
        var parts = new List<string>();
        foreach (var (name, _) in OrderPipeline.Handlers)
        {
            if (s.Handlers.TryGetValue(name, out var latency) && latency.Count > 0)
                parts.Add(Invariant($"{name}={latency.P50.TotalMilliseconds:F1}/{latency.P99.TotalMilliseconds:F1}"));
        }

        return parts.Count == 0 ? "" : " p50/p99ms " + string.Join(' ', parts);
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
