using System.Globalization;

namespace Busbar.Cli.Demo;

/// <summary>What one burst did: when it came, what the full mode did with it, and when the queue recovered.</summary>
internal sealed record BurstReport
{
    public required int Number { get; init; }

    /// <summary>When the burst began, from the start of publishing.</summary>
    public required TimeSpan At { get; init; }

    /// <summary>Orders published in the burst (fewer than the burst size when the window or the order limit ended it).</summary>
    public required int Orders { get; init; }

    public required BusFullMode FullMode { get; init; }

    /// <summary>Time the publisher spent in <c>PublishAsync</c> during the burst: under <see cref="BusFullMode.Wait"/>, waiting for room.</summary>
    public required TimeSpan Waited { get; init; }

    public required long Rejected { get; init; }

    public required long Dropped { get; init; }

    /// <summary>From the start of the burst until the queue was back under a quarter of its capacity; null if it never was before the next burst or the end.</summary>
    public TimeSpan? RecoveredAfter { get; init; }

    /// <summary>What the full mode did, e.g. <c>publisher waited 420 ms, nothing lost</c>.</summary>
    public string Effect => FullMode switch
    {
        BusFullMode.Wait => Invariant($"publisher waited {Waited.TotalMilliseconds:F0} ms, nothing lost"),
        BusFullMode.Reject => Invariant($"{Rejected} publishes rejected (BusFullException)"),
        BusFullMode.DropNewest => Invariant($"{Dropped} new orders dropped"),
        _ => Invariant($"{Dropped} queued events evicted"),
    };

    /// <summary>When the queue recovered, e.g. <c>queue under a quarter after 0.9 s</c>.</summary>
    public string Recovery => RecoveredAfter is { } after
        ? Invariant($"queue under a quarter after {after.TotalSeconds:F1} s")
        : "queue still over a quarter at the next burst or the end";

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
