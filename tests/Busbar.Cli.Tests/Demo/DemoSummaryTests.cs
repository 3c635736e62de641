using Busbar.Cli.Demo;

namespace Busbar.Cli.Tests.Demo;

public sealed class DemoSummaryTests
{
    [Fact]
    public void Lines_NarrowTerminal_NoLineWiderAndNoWordSplit()
    {
        var summary = Summary();

        var wrapped = summary.Lines(60).ToList();

        Assert.All(wrapped, line => Assert.True(line.Length <= 60 || !line.TrimStart().Contains(' ', StringComparison.Ordinal), "too wide: " + line));
        Assert.Equal(Words(summary.Lines()), Words(wrapped));
    }

    [Fact]
    public void Lines_Redirected_OneLinePerRecordEvenWhenLong()
    {
        var lines = Summary().Lines().ToList();

        Assert.Contains(lines, line => line.Length > 100);
        Assert.Single(lines, line => line.StartsWith("invariant:", StringComparison.Ordinal));
    }

    [Fact]
    public void Lines_WordsMatchTheirCounts()
    {
        var lines = Summary().Lines().ToList();

        Assert.Contains(lines, line => line.StartsWith("  completed            3644  (every handler succeeded", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains("handled  ", StringComparison.Ordinal));
        Assert.Contains("invariant: published 3652 = completed 3644 + dropped 0 + rejected 0 + dead-lettered 8 + cancelled 0: holds", lines);
        Assert.Contains(lines, line => line.Contains("burst 2 at  4.0 s  publisher waited 300 ms, nothing lost; queue under a quarter after 0.8 s", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("(temporary: removed; --wal DIR keeps the log)", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.StartsWith("graceful shutdown (interrupted by SIGTERM) after 8.8 s, 415 events/s on average", StringComparison.Ordinal));
    }

    [Fact]
    public void Lines_PublishesRacingTheStop_ExplainedWithTheInvoicesNotPublished()
    {
        var lines = (Summary() with { RejectedRacingStop = 2 }).Lines().ToList();

        Assert.Contains(lines, line => line.EndsWith("invoices billing tried to publish while the bus was stopping; 2 raced the stop, and the bus counts them as published and rejected", StringComparison.Ordinal));
    }

    private static string[] Words(IEnumerable<string> lines) => string.Join(' ', lines).Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static DemoSummary Summary()
    {
        var settings = new DemoSettings { Rate = 88, Capacity = 55, Pace = new DemoPace(220) };
        return new DemoSummary
        {
            InterruptedBy = "SIGTERM",
            Published = 3652,
            Orders = 1895,
            Children = 1757,
            Completed = 3644,
            Dropped = 0,
            Rejected = 0,
            DeadLettered = 8,
            Cancelled = 0,
            Stop = new StopReport { Drained = 141, Completed = true, Elapsed = TimeSpan.FromSeconds(0.8) },
            Settings = settings,
            Bursts =
            [
                new BurstReport { Number = 1, At = TimeSpan.FromSeconds(2), Orders = 110, FullMode = BusFullMode.Wait, Waited = TimeSpan.FromMilliseconds(250), Rejected = 0, Dropped = 0, RecoveredAfter = TimeSpan.FromSeconds(0.7) },
                new BurstReport { Number = 2, At = TimeSpan.FromSeconds(4), Orders = 110, FullMode = BusFullMode.Wait, Waited = TimeSpan.FromMilliseconds(300), Rejected = 0, Dropped = 0, RecoveredAfter = TimeSpan.FromSeconds(0.8) },
            ],
            CorrelatedChildren = 1757,
            ChildrenNotPublished = 138,
            Retried = 206,
            WalDirectory = "/tmp/busbar-demo-605848f5",
            WalIsTemporary = true,
            Elapsed = TimeSpan.FromSeconds(8.8),
            AverageThroughput = 415,
        };
    }
}
