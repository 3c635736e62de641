using System.Text.RegularExpressions;
using Spectre.Console.Testing;

namespace Busbar.Cli.Tests.Demo;

public sealed partial class DemoRunnerTests
{
    [Fact]
    public async Task Demo_PlainRun_SummaryAddsUpAndHasNoEscapeCodes()
    {
        var run = await CliRun.RunAsync("demo", "--duration", "2", "--no-live");

        Assert.Equal(0, run.ExitCode);
        Assert.DoesNotContain('\u001b', run.Output);
        Assert.Contains("graceful shutdown (run complete)", run.Output);
        Assert.Contains("write-ahead log", run.Output);
        Assert.Contains("pending in log", run.Output);
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

    [Fact]
    public async Task Demo_PacedToTheMachine_ReportsEachBurstAndRemovesItsTemporaryLog()
    {
        // Rate and capacity paced to the machine; interval flushes, so fsyncs of other tests running at the same time
        // cannot make the publisher too slow to fill the queue.
        var run = await CliRun.RunAsync("demo", "--duration", "6", "--no-live", "--flush", "interval");

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("measuring what the pipeline finishes per second", run.Output);
        Assert.Matches(@"pace\s+\d+\s+orders/s steady, queue capacity \d+; paced to this machine: it finished \d+ orders/s", run.Output);
        Assert.Matches(@"bursts\s+3\s+of \d+ orders at once, full-mode wait", run.Output);
        Assert.Contains("flush interval", run.Output);
        for (var burst = 1; burst <= 3; burst++)
            Assert.Matches($@"burst {burst} at\s+\d+\.\d s  publisher waited \d+ ms, nothing lost; queue ", run.Output);

        // Each burst fills the queue: some line's peak reaches the capacity, though a line a second rarely catches it full.
        var capacity = int.Parse(CapacityPattern().Match(run.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains(PeakPattern().Matches(run.Output), m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= capacity);

        // Steady flow between bursts: the queue recovers from at least one burst before the next (all three, on an idle machine).
        Assert.Matches(@"burst \d at\s+\d+\.\d s  [^\n]*queue under a quarter after \d+\.\d s", run.Output);
        CliRun.ParseInvariant(run.Output).AssertAddsUp();

        var log = TemporaryLogPattern().Match(run.Output);
        Assert.True(log.Success, "no temporary log line in:\n" + run.Output);
        Assert.False(Directory.Exists(log.Groups[1].Value), "the temporary log was not removed: " + log.Groups[1].Value);
    }

    [Fact]
    public async Task Demo_InterruptedWhilePublisherWaitsForRoom_RejectsNothing()
    {
        using var interrupt = new CliInterrupt();
        var console = new TestConsole().Width(160);

        // A rate far above what the handlers finish, into a small queue: the publisher is nearly always waiting for room.
        var running = CliRun.RunAsync(console, interrupt, "demo", "--duration", "60", "--no-live", "--rate", "5000", "--capacity", "8");
        await Eventually.TrueAsync(() => console.Output.Contains("publishing published=", StringComparison.Ordinal), "the demo printed progress");
        Assert.True(interrupt.Request("Ctrl+C"));
        var run = await running;

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("Ctrl+C: shutting down gracefully", run.Output);
        var invariant = CliRun.ParseInvariant(run.Output);
        invariant.AssertAddsUp();
        Assert.Equal(0, invariant.Rejected);

        // The bus may still count a billing publish that raced the stop as rejected (the core's exact accounting);
        // every such rejection is named on the line, and none comes from the publisher the Ctrl+C stopped.
        var lines = RejectedPattern().Matches(run.Output);
        Assert.NotEmpty(lines);
        Assert.All(lines, static m => Assert.Equal(m.Groups["rejected"].Value, m.Groups["raced"].Success ? m.Groups["raced"].Value : "0"));
    }

    [Fact]
    public async Task Demo_FullQueue_InFlightIncludesTheQueuedEvents()
    {
        // Invoices published from billing are observed without awaiting them in the handler: they queue, not jump.
        var run = await CliRun.RunAsync("demo", "--duration", "3", "--no-live", "--rate", "5000", "--capacity", "32", "--flush", "interval");

        Assert.Equal(0, run.ExitCode);
        var samples = ProgressPattern().Matches(run.Output);
        Assert.NotEmpty(samples);
        Assert.Contains(samples, static m => int.Parse(m.Groups["queue"].Value, System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.All(samples, static m => Assert.True(
            long.Parse(m.Groups["inflight"].Value, System.Globalization.CultureInfo.InvariantCulture) >= long.Parse(m.Groups["queue"].Value, System.Globalization.CultureInfo.InvariantCulture),
            "in flight below the queue depth: " + m.Value));
    }

    [Fact]
    public async Task Demo_ForcedBySecondSignal_RestoresCursorAndCountsWhatIsLeftInTheLog()
    {
        using var interrupt = new CliInterrupt();
        var console = new TestConsole().Width(120).Height(40).Interactive().SupportsAnsi(true);
        console.EmitAnsiSequences = true;
        var running = CliRun.RunAsync(console, interrupt, "demo", "--duration", "60", "--rate", "5000", "--capacity", "5000");
        await Eventually.TrueAsync(() => console.Output.Contains("backpressure:", StringComparison.Ordinal), "the live view showed a frame");

        Assert.True(interrupt.Request("Ctrl+C"));
        var forced = interrupt.Force("Ctrl+C");
        var output = console.Output;

        Assert.NotNull(forced);
        Assert.Equal(CliInterrupt.ForcedBySigint, forced.Value.ExitCode);
        Assert.Matches(@"^busbar: forced exit by a second Ctrl\+C: \d+ events pending in the write-ahead log \S+ \(kept\); a bus that opens it handles them", forced.Value.Line);
        Assert.EndsWith("\u001b[?25h\n", output.Replace("\r\n", "\n", StringComparison.Ordinal));
        Assert.Null(interrupt.Force("Ctrl+C"));
        await running;
    }

    [GeneratedRegex(@"queue-peak=(\d+)")]
    private static partial Regex PeakPattern();

    [GeneratedRegex(@", capacity (\d+),")]
    private static partial Regex CapacityPattern();

    [GeneratedRegex(@"rejected=(?<rejected>\d+) slow=\d+(?: rejected-racing-stop=(?<raced>\d+))?")]
    private static partial Regex RejectedPattern();

    [GeneratedRegex(@"write-ahead log  (\S+) \(temporary: removed")]
    private static partial Regex TemporaryLogPattern();

    [GeneratedRegex(@"queue=(?<queue>\d+)/\d+ queue-peak=\d+ handler-overflow=\d+ in-flight=(?<inflight>\d+)")]
    private static partial Regex ProgressPattern();
}
