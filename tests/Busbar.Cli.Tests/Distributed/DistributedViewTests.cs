using Busbar.Cli.Broker;
using Busbar.Cli.Distributed;
using Spectre.Console.Testing;

namespace Busbar.Cli.Tests.Distributed;

/// <summary>The distributed demo's live frame and plain line, from a fixed snapshot.</summary>
public sealed class DistributedViewTests
{
    [Fact]
    public void Render_WorkerKilled_ShowsARowPerWorkerWithItsStateAndCountsAndTheKill()
    {
        var console = new TestConsole().Width(120).Height(30);

        console.Write(DistributedView.Render(Snapshot()));

        var text = console.Output;
        Assert.Contains("busbar demo · redis://127.0.0.1:6390 · settling · 4.2 s", text, StringComparison.Ordinal);
        Assert.Contains("orders published 600 · events not yet finished 3", text, StringComparison.Ordinal);
        Assert.Matches(@"│ 1\s+│\s+101 │ running\s+│\s+350 │\s+21 │\s+1 │\s+4 │\s+2 │", text);
        Assert.Matches(@"│ 2\s+│\s+102 │ killed \(SIGKILL\) │\s+184 │\s+13 │\s+1 │\s+0 │\s+3 │", text);
        Assert.Contains("worker 2 (pid 102) killed with SIGKILL at 2.0 s holding 3 unsettled events", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Line_WorkerKilled_IsOneLineWithEachWorkersCounts()
    {
        var line = DistributedView.Line(Snapshot());

        Assert.DoesNotContain('\n', line);
        Assert.Contains("settling   orders-published=600 unfinished=3", line, StringComparison.Ordinal);
        Assert.Contains("| worker1 running handled=350 failed=21 dead-lettered=1 redelivered=4 in-flight=2", line, StringComparison.Ordinal);
        Assert.Contains("| worker2 killed handled=184 failed=13 dead-lettered=1 redelivered=0 in-flight=3", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Header_KillAndEvents_SaysWhatTheRunDoes()
    {
        Assert.True(BrokerUrl.TryParse("nats://127.0.0.1:4223", out var url, out _));
        var request = new DistributedRequest { Broker = url!, Workers = 3, MaxOrders = 600, Rate = 150, KillWorkerAfter = TimeSpan.FromSeconds(2), PublishWindow = TimeSpan.FromSeconds(5) };

        var header = DistributedView.Header(request, "streams BUSBAR_DEMO_X and BUSBAR_DEMO_X_DEAD");

        Assert.Equal(
            "busbar demo: order pipeline on nats://127.0.0.1:4223 (streams BUSBAR_DEMO_X and BUSBAR_DEMO_X_DEAD), 3 worker processes, concurrency 4 each, 150 orders/s, 600 orders, one worker killed (SIGKILL) at 2.0 s",
            header);
    }

    private static DistributedSnapshot Snapshot() => new()
    {
        Broker = "redis://127.0.0.1:6390",
        Phase = "settling",
        Elapsed = TimeSpan.FromSeconds(4.2),
        OrdersPublished = 600,
        Unsettled = 3,
        Workers =
        [
            new WorkerRow(new WorkerTally(1) { Ready = true, Received = 377, Handled = 350, FailedAttempts = 21, DeadLettered = 1, Redelivered = 4, Released = 24 }, 101, "running"),
            new WorkerRow(new WorkerTally(2) { Ready = true, Received = 188, Handled = 184, FailedAttempts = 13, DeadLettered = 1 }, 102, "killed (SIGKILL)"),
        ],
        Kill = new KillReport(2, 102, TimeSpan.FromSeconds(2), 3),
    };
}
