using Busbar.Diagnostics;

namespace Busbar.Tests.Diagnostics;

/// <summary>
/// A subscription's latency reservoir holds its last 1,024 durations; <see cref="IEventBus.GetStatistics"/> summarizes each one,
/// and a summary is made again only when the subscription recorded something since the last.
/// </summary>
public class LatencyReservoirTests
{
    [Fact]
    public void Summarize_MoreRecordsThanItHolds_PercentilesOfTheLast1024()
    {
        var reservoir = new LatencyReservoir();
        // 1 ms … 2,000 ms in a shuffled order: the reservoir keeps the last 1,024 recorded, whatever their values.
        var durations = Enumerable.Range(1, 2000).Select(ms => TimeSpan.FromMilliseconds(ms)).ToArray();
        new Random(20261201).Shuffle(durations);
        foreach (var duration in durations)
            reservoir.Record(duration);

        var held = durations[^1024..].Order().ToArray();
        var summary = reservoir.Summarize();

        Assert.Equal(2000, summary.Count);
        Assert.Equal(held[511], summary.P50);
        Assert.Equal(held[1013], summary.P99); // the 1,014th of 1,024: ceil(1024 × 0.99)
        Assert.Equal(held[^1], summary.Max);
    }

    [Fact]
    public void Summarize_NothingRecordedSince_SameSummaryUntilTheNextRecord()
    {
        var reservoir = new LatencyReservoir();
        Assert.Equal(0, reservoir.Summarize().Count);
        reservoir.Record(TimeSpan.FromMilliseconds(3));
        reservoir.Record(TimeSpan.FromMilliseconds(5));

        var first = reservoir.Summarize();
        Assert.Same(first, reservoir.Summarize());

        reservoir.Record(TimeSpan.FromMilliseconds(40));
        var next = reservoir.Summarize();
        Assert.NotSame(first, next);
        Assert.Equal(3, next.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(5), next.P50);
        Assert.Equal(TimeSpan.FromMilliseconds(40), next.Max);
    }
}
