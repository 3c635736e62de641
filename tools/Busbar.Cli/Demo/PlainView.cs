using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>The demo's progress as one plain line per sample, for CI, logs and <c>--no-live</c>: no escape codes, never wrapped.</summary>
internal static class PlainView
{
    public static string Header(DemoSettings settings, string walDirectory) => Invariant(
        $"busbar demo: order pipeline for {settings.Duration.TotalSeconds:F1} s, {settings.Rate} orders/s with {DemoPublisher.BurstCount} bursts of {settings.BurstSize}, capacity {settings.Capacity}, full-mode {DemoCommand.Spelling(settings.FullMode)}, concurrency {settings.Concurrency}, flush {DemoCommand.Spelling(settings.FlushMode)}, write-ahead log {walDirectory}")
        + (settings.Pace is { } pace ? "; " + pace.Describe() : "");

    public static string Line(DemoSnapshot snapshot)
    {
        var s = snapshot.Statistics;
        var rate = snapshot.Phase == DemoPhase.Stopped
            ? Invariant($"average={snapshot.AverageThroughput:F0}/s")
            : Invariant($"rate={snapshot.Throughput:F0}/s");
        var line = Invariant(
            $"[{snapshot.Elapsed.TotalSeconds,5:F1}s] {DemoWords.Phase(snapshot),-10} published={s.Published} finished={s.Processed} {rate} queue={s.QueueDepth}/{s.Capacity} queue-peak={snapshot.QueuePeak} handler-overflow={snapshot.HandlerOverflow} in-flight={s.InFlight} retries={s.Retried} failures={s.Failed} dead-letters={s.DeadLettered} dropped={s.Dropped} rejected={s.Rejected} slow={s.SlowHandlers}");
        if (snapshot.RejectedRacingStop > 0)
            line += Invariant($" rejected-racing-stop={snapshot.RejectedRacingStop}");
        return line + Latencies(s);
    }

    /// <summary>One line per burst once its outcome is known, so a log shows each burst and its recovery.</summary>
    public static string Burst(BurstReport burst) => Invariant(
        $"         burst {burst.Number}/{DemoPublisher.BurstCount} at {burst.At.TotalSeconds:F1} s, {burst.Orders} orders: {burst.Effect}; {burst.Recovery}");

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
