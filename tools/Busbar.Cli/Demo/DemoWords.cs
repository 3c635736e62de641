using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>
/// The phrases the live view, the plain lines and the summary share, so one count has one word
/// everywhere: "finished" is the bus's <see cref="BusStatistics.Processed"/> (every status but dropped
/// or rejected); "completed" is an event whose handle completed <see cref="EventStatus.Completed"/>.
/// </summary>
internal static class DemoWords
{
    public static string Phase(DemoSnapshot snapshot) => snapshot.Phase switch
    {
        DemoPhase.Publishing => "publishing",
        DemoPhase.Draining => snapshot.InterruptedBy is { } signal ? "draining after " + signal : "draining",
        _ => "stopped",
    };

    /// <summary>What the bursts did: the one running now, the last one with its recovery, or all of them once stopped.</summary>
    public static string Backpressure(DemoSnapshot snapshot)
    {
        var bursts = snapshot.Bursts;
        if (snapshot.CurrentBurst is { } current)
            return current;
        if (snapshot.Phase == DemoPhase.Stopped)
            return Bursts(bursts, snapshot.Settings);
        if (bursts.Count == 0)
        {
            var first = snapshot.Settings.BurstGap;
            return Invariant($"first burst of {snapshot.Settings.BurstSize} orders at {first.TotalSeconds:F1} s");
        }

        var last = bursts[^1];
        var recovery = last.RecoveredAfter is null ? "queue recovering..." : last.Recovery;
        return Invariant($"burst {last.Number}/{DemoPublisher.BurstCount} at {last.At.TotalSeconds:F1} s: {last.Effect}; {recovery}");
    }

    /// <summary>All bursts in one line, e.g. <c>3 bursts of 112 orders: publisher waited 420/380/400 ms; queue under a quarter after 0.9/0.8/- s</c>.</summary>
    public static string Bursts(IReadOnlyList<BurstReport> bursts, DemoSettings settings)
    {
        if (bursts.Count == 0)
            return "no bursts: the run ended before the first";
        var recovered = string.Join('/', bursts.Select(static b => b.RecoveredAfter is { } t ? t.TotalSeconds.ToString("F1", CultureInfo.InvariantCulture) : "-"));
        var effect = settings.FullMode switch
        {
            BusFullMode.Wait => "publisher waited " + string.Join('/', bursts.Select(static b => b.Waited.TotalMilliseconds.ToString("F0", CultureInfo.InvariantCulture))) + " ms",
            BusFullMode.Reject => string.Join('/', bursts.Select(static b => b.Rejected.ToString(CultureInfo.InvariantCulture))) + " rejected",
            BusFullMode.DropNewest => string.Join('/', bursts.Select(static b => b.Dropped.ToString(CultureInfo.InvariantCulture))) + " dropped",
            _ => string.Join('/', bursts.Select(static b => b.Dropped.ToString(CultureInfo.InvariantCulture))) + " evicted",
        };
        return Invariant($"{bursts.Count} {(bursts.Count == 1 ? "burst" : "bursts")} of {settings.BurstSize} orders: {effect}; queue under a quarter after {recovered} s");
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
