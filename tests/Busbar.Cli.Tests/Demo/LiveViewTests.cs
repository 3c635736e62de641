using Busbar.Cli.Demo;
using Spectre.Console.Testing;

namespace Busbar.Cli.Tests.Demo;

public sealed class LiveViewTests
{
    [Fact]
    public void Render_Frame_ShowsKeyFieldsInFixedSizeConsole()
    {
        var console = new TestConsole().Width(120).Height(40);

        console.Write(LiveView.Render(Snapshot(DemoPhase.Publishing), 120, 40));
        var frame = console.Output;

        Assert.Contains("456 events/s", frame);
        Assert.Contains("128/256", frame);
        Assert.Matches(@"finished\s*│\s*1234", frame);
        Assert.Matches(@"in flight\s*│\s*130", frame);
        Assert.Matches(@"retries\s*│\s*17", frame);
        Assert.Matches(@"dead letters\s*│\s*2", frame);
        Assert.Matches(@"dropped\s*│\s*42", frame);
        Assert.Matches(@"handler overflow\s*│\s*0 \(up to 256\)", frame);
        Assert.Matches(@"inventory\s*│[^\n]*│\s*1200\s*│\s*1\.5 ms\s*│\s*9\.4 ms", frame);
        Assert.Contains("251.0 ms", frame);
        Assert.Contains("burst 1/3 at 2.0 s: 42 queued events evicted; queue under a quarter after 0.9 s", frame);
        Assert.Contains("full-mode drop-oldest", frame);
        Assert.Contains("/tmp/busbar-demo-test", frame);
        Assert.DoesNotContain("handled", frame);
        Assert.All(frame.Split('\n'), line => Assert.True(line.TrimEnd().Length <= 120, "line wider than the console: " + line));
    }

    [Fact]
    public void Render_80x24_KeepsHeaderAndBusCountersAndDropsHandlerTable()
    {
        var console = new TestConsole().Width(80).Height(24);

        console.Write(LiveView.Render(Snapshot(DemoPhase.Publishing) with { InterruptedBy = "Ctrl+C", Phase = DemoPhase.Draining }, 80, 24));
        var lines = console.Output.TrimEnd('\n').Split('\n');

        Assert.StartsWith("busbar demo · draining after Ctrl+C", lines[0]);
        Assert.Contains("Ctrl+C again forces the exit", lines[1]);
        Assert.Contains(lines, line => line.Contains("in flight", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("backpressure:", StringComparison.Ordinal));
        Assert.DoesNotContain("handlers, by tier", console.Output);
        Assert.True(lines.Length <= 23, $"{lines.Length} lines do not fit 24 rows with the cursor line:\n{console.Output}");
        Assert.All(lines, line => Assert.True(line.TrimEnd().Length <= 80, "line wider than 80 columns: " + line));
    }

    [Fact]
    public void Render_80x40_ShowsHandlerTableWithoutRoleColumn()
    {
        var console = new TestConsole().Width(80).Height(40);

        console.Write(LiveView.Render(Snapshot(DemoPhase.Publishing), 80, 40));

        Assert.Contains("handlers, by tier", console.Output);
        Assert.DoesNotContain("projection, poison", console.Output);
        Assert.All(console.Output.Split('\n'), line => Assert.True(line.TrimEnd().Length <= 80, "line wider than 80 columns: " + line));
    }

    [Fact]
    public void Render_Stopped_ShowsAverageAndAllBurstsNotTheLastOne()
    {
        var console = new TestConsole().Width(120).Height(40);
        var snapshot = Snapshot(DemoPhase.Stopped) with
        {
            Bursts =
            [
                Burst(1, 2.0, 0.9),
                Burst(2, 4.0, 0.7),
                Burst(3, 6.0, null),
            ],
        };

        console.Write(LiveView.Render(snapshot, 120, 40));

        Assert.Matches(@"average\s*│\s*400 events/s", console.Output);
        Assert.DoesNotContain("throughput", console.Output);
        Assert.Contains("3 bursts of 512 orders: 42/42/42 evicted; queue under a quarter after 0.9/0.7/- s", console.Output);
    }

    [Fact]
    public void Render_QueueOverCapacity_ShowsTheHandlerOverflow()
    {
        var console = new TestConsole().Width(120).Height(40);
        var snapshot = Snapshot(DemoPhase.Publishing);
        snapshot = snapshot with { Statistics = snapshot.Statistics with { QueueDepth = 258, InFlight = 262 } };

        console.Write(LiveView.Render(snapshot, 120, 40));

        Assert.Contains("258/256", console.Output);
        Assert.Matches(@"handler overflow\s*│\s*2 \(up to 256\)", console.Output);
    }

    [Fact]
    public void Render_PublishesRacingTheStop_NamedInTheRejectedRow()
    {
        var console = new TestConsole().Width(120).Height(40);
        var snapshot = Snapshot(DemoPhase.Draining);
        snapshot = snapshot with { Statistics = snapshot.Statistics with { Rejected = 2 }, RejectedRacingStop = 2 };

        console.Write(LiveView.Render(snapshot, 120, 40));

        Assert.Matches(@"rejected\s*│\s*2 \(2 raced the stop\)", console.Output);
    }

    private static BurstReport Burst(int number, double at, double? recovered) => new()
    {
        Number = number,
        At = TimeSpan.FromSeconds(at),
        Orders = 512,
        FullMode = BusFullMode.DropOldest,
        Waited = TimeSpan.Zero,
        Rejected = 0,
        Dropped = 42,
        RecoveredAfter = recovered is { } r ? TimeSpan.FromSeconds(r) : null,
    };

    private static DemoSnapshot Snapshot(DemoPhase phase) => new()
    {
        Settings = new DemoSettings { Capacity = 256, FullMode = BusFullMode.DropOldest, Concurrency = 4 },
        Elapsed = TimeSpan.FromSeconds(3.2),
        Phase = phase,
        Statistics = new BusStatistics
        {
            Name = "demo",
            QueueDepth = 128,
            Capacity = 256,
            InFlight = 130,
            Published = 1500,
            Processed = 1234,
            Failed = 2,
            Retried = 17,
            Dropped = 42,
            Rejected = 0,
            DeadLettered = 2,
            SlowHandlers = 3,
            Handlers = new Dictionary<string, HandlerLatency>
            {
                ["inventory"] = new(1200, TimeSpan.FromMilliseconds(1.5), TimeSpan.FromMilliseconds(9.4), TimeSpan.FromMilliseconds(12)),
                ["analytics"] = new(1200, TimeSpan.FromMilliseconds(1.4), TimeSpan.FromMilliseconds(251.0), TimeSpan.FromMilliseconds(260)),
            },
        },
        Throughput = 456,
        AverageThroughput = 400,
        Orders = 1000,
        Children = 500,
        Bursts = [Burst(1, 2.0, 0.9)],
        PublisherWaited = TimeSpan.Zero,
        CorrelatedChildren = 500,
        WalDirectory = "/tmp/busbar-demo-test",
    };
}
