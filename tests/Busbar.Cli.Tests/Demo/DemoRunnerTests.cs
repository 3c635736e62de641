using Spectre.Console.Testing;

namespace Busbar.Cli.Tests.Demo;

public sealed class DemoRunnerTests
{
    [Fact]
    public async Task Demo_PlainRun_SummaryAddsUpAndHasNoEscapeCodes()
    {
        var run = await CliRun.RunAsync("demo", "--duration", "2", "--no-live");

        Assert.Equal(0, run.ExitCode);
        Assert.DoesNotContain('\u001b', run.Output);
        Assert.Contains("graceful shutdown (run complete)", run.Output);
        Assert.Contains("write-ahead log", run.Output);
        Assert.Contains("left in the log", run.Output);
        var invariant = CliRun.ParseInvariant(run.Output);
        invariant.AssertAddsUp();
        Assert.True(invariant.DeadLettered >= 1, "the poison order should end in the dead letters");
        Assert.Equal(0, invariant.Dropped);
        Assert.Equal(0, invariant.Rejected);
    }

    [Fact]
    public async Task Demo_DropOldestWithSmallQueue_DropsAndStillAddsUp()
    {
        var run = await CliRun.RunAsync("demo", "--duration", "2", "--no-live", "--full-mode", "drop-oldest", "--capacity", "16");

        Assert.Equal(0, run.ExitCode);
        var invariant = CliRun.ParseInvariant(run.Output);
        invariant.AssertAddsUp();
        Assert.True(invariant.Dropped > 0, "bursts of twice the capacity must evict queued orders");
        Assert.Contains("full-mode drop-oldest", run.Output);
        Assert.Contains("queued events evicted", run.Output);
    }

    [Fact]
    public async Task Demo_RejectWithSmallQueue_RejectsAndStillAddsUp()
    {
        var run = await CliRun.RunAsync("demo", "--duration", "2", "--no-live", "--full-mode", "reject", "--capacity", "16");

        Assert.Equal(0, run.ExitCode);
        var invariant = CliRun.ParseInvariant(run.Output);
        invariant.AssertAddsUp();
        Assert.True(invariant.Rejected > 0, "bursts of twice the capacity must be rejected in part");
    }

    [Fact]
    public async Task Demo_EventLimit_PublishesThatManyOrders()
    {
        var run = await CliRun.RunAsync("demo", "--events", "300", "--rate", "500", "--no-live");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("(300 orders,", run.Output);
        CliRun.ParseInvariant(run.Output).AssertAddsUp();
    }

    [Fact]
    public async Task Demo_Interrupted_ShutsDownGracefullyWithSummary()
    {
        using var interrupt = new CliInterrupt();
        var console = new TestConsole().Width(160);
        var running = CliRun.RunAsync(console, interrupt, "demo", "--duration", "60", "--no-live", "--rate", "100", "--capacity", "32");

        // Interrupt once the first progress line shows the bus at work.
        await Eventually.TrueAsync(() => console.Output.Contains("publishing published=", StringComparison.Ordinal), "the demo printed progress");
        Assert.True(interrupt.Request("Ctrl+C"));
        var run = await running;

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("interrupted by Ctrl+C", run.Output);
        CliRun.ParseInvariant(run.Output).AssertAddsUp();
    }

    [Fact]
    public async Task Demo_InteractiveConsole_RendersLiveViewThenSummary()
    {
        var console = new TestConsole().Width(160).Height(40).Interactive().SupportsAnsi(true);
        using var interrupt = new CliInterrupt();
        var run = await CliRun.RunAsync(console, interrupt, "demo", "--duration", "1.5", "--rate", "100", "--capacity", "32");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("handlers, by tier", run.Output);
        Assert.Contains("throughput", run.Output);
        CliRun.ParseInvariant(run.Output).AssertAddsUp();
    }
}
