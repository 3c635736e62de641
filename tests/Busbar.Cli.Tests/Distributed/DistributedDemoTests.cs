using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Spectre.Console.Testing;

namespace Busbar.Cli.Tests.Distributed;

/// <summary>
/// <c>busbar demo --transport URL --workers 2 --kill-worker-after …</c> against a real broker, with real worker processes
/// (the built <c>Busbar.Cli.dll</c>, started by the demo as it starts them for a user); subclassed per broker.
/// </summary>
public abstract class DistributedDemoTests
{
    /// <summary>
    /// Above the sum of the run's own bounds, so the demo ends by itself first and its summary says what was slow: worker
    /// start-up (up to 30 s for two .NET processes on a loaded 2-core machine), 2 s of publishing, the bus's stop (up to 5 s),
    /// the settle (up to 20 s, the lease included) and the workers' stop (up to 10 s). 60 s was below that sum.
    /// </summary>
    private static readonly TimeSpan s_runLimit = TimeSpan.FromSeconds(150);

    /// <summary>The broker URL the demo gets, e.g. <c>redis://127.0.0.1:40123</c>.</summary>
    protected abstract string Url { get; }

    [Fact]
    public async Task Demo_TwoWorkersOneKilledMidRun_EveryPublishedEventIsHandledOrDeadLettered()
    {
        var run = await RunAsync("demo", "--transport", Url, "--workers", "2", "--events", "300", "--rate", "150", "--kill-worker-after", "1s", "--json");

        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        var summary = JsonDocument.Parse(run.Output).RootElement;
        long N(string name) => summary.GetProperty(name).GetInt64();

        // The invariant, from its parts: every order and every invoice billing published was finished exactly once
        // (by distinct event id), handled or dead-lettered; nothing missing, nothing the demo did not publish.
        Assert.True(summary.GetProperty("invariantHolds").GetBoolean());
        Assert.Equal(300, N("orders"));
        Assert.Equal(300, N("invoices"));
        Assert.Equal(N("orders") + N("invoices"), N("published"));
        Assert.Equal(N("published"), N("handled") + N("deadLettered"));
        Assert.Empty(summary.GetProperty("missing").EnumerateArray());
        Assert.Empty(summary.GetProperty("unexpected").EnumerateArray());

        // Orders 37 and 287 carry the poison SKU: inventory fails them on every attempt, so both reach the broker's dead letters.
        Assert.Equal(2, N("deadLettered"));
        Assert.Equal(2, N("brokerDeadLetters"));
        Assert.True(summary.GetProperty("brokerDeadLettersMatch").GetBoolean());

        // One worker was killed while it held events; they came back to the other one (claimed or redelivered).
        var killed = summary.GetProperty("killed");
        var victim = killed.GetProperty("worker").GetInt32();
        var held = killed.GetProperty("heldUnsettled").GetInt64();
        Assert.True(held > 0, "the killed worker held no unsettled events");
        var workers = summary.GetProperty("workers").EnumerateArray().ToList();
        Assert.Equal(2, workers.Count);
        var dead = workers.Single(w => w.GetProperty("worker").GetInt32() == victim);
        var survivor = workers.Single(w => w.GetProperty("worker").GetInt32() != victim);
        Assert.True(dead.GetProperty("killed").GetBoolean());
        Assert.Equal("killed (SIGKILL)", dead.GetProperty("state").GetString());
        Assert.Equal("stopped", survivor.GetProperty("state").GetString());
        Assert.True(survivor.GetProperty("redelivered").GetInt64() >= held, $"the survivor received {survivor.GetProperty("redelivered")} redelivered events; the killed worker held {held}");

        // Duplicates are listed, each one an event finished more than once.
        foreach (var duplicate in summary.GetProperty("duplicates").EnumerateArray())
            Assert.True(duplicate.GetProperty("times").GetInt32() >= 2);
    }

    [Fact]
    public async Task Demo_TextSummary_ListsWorkersAndEndsWithTheInvariant()
    {
        // 30 orders: none of them poison (the first is order 37), so nothing is dead-lettered.
        var run = await RunAsync("demo", "--transport", Url, "--workers", "2", "--events", "30", "--rate", "100");

        Assert.True(run.ExitCode == 0, run.Error + run.Output);
        Assert.Matches(@"\| worker1 \w+ handled=\d+ failed=\d+ dead-lettered=0 redelivered=\d+ in-flight=\d+ \| worker2 ", run.Output);
        Assert.Matches(@"worker 1 \(pid \d+\): stopped; handled \d+, failed attempts \d+, dead-lettered \d+, redelivered/claimed \d+", run.Output);
        Assert.Contains("published:    60 events: 30 orders, 30 invoices", run.Output, StringComparison.Ordinal);

        // No worker is killed, but on a loaded machine a lease can still expire before a slow worker settles: at-least-once
        // allows a duplicate, listed, and the invariant counts it once.
        Assert.Matches(@"duplicates:   (none|\d+ events finished more than once)", run.Output);
        Assert.Matches(@"invariant: published 60 = handled 60 \+ dead-lettered 0: holds\s*$", run.Output);
    }

    [Fact]
    public async Task Demo_CtrlCWhilePublishing_StopsPublishingSettlesAndTheInvariantHolds()
    {
        using var interrupt = new CliInterrupt();
        var console = new TestConsole().Width(400);
        var io = new CliConsole(console, new StringWriter());
        var run = BusbarCli.RunAsync(["demo", "--transport", Url, "--workers", "2", "--rate", "100", "--duration", "60s"], io, interrupt);

        // The first progress line comes a second into publishing.
        await Eventually.TrueAsync(() => console.Output.Contains("orders-published=", StringComparison.Ordinal) || run.IsCompleted, "the demo published", s_runLimit);
        interrupt.Request("Ctrl+C");
        var exitCode = await run.WaitAsync(s_runLimit);

        var output = console.Output;
        Assert.True(exitCode == 0, io.Error.ToString() + output);
        Assert.Contains(", interrupted by Ctrl+C;", output, StringComparison.Ordinal);
        var orders = long.Parse(Regex.Match(output, @"published:    \d+ events: (\d+) orders").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(orders, 1, 59 * 100);
        Assert.Matches(@"invariant: published \d+ = handled \d+ \+ dead-lettered \d+: holds", output);
    }

    private static async Task<CliRun> RunAsync(params string[] args)
    {
        using var interrupt = new CliInterrupt();
        var io = new CliConsole(new TestConsole().Width(400), new StringWriter());
        var exitCode = await BusbarCli.RunAsync(args, io, interrupt).WaitAsync(s_runLimit);
        return new CliRun(exitCode, ((TestConsole)io.Console).Output, io.Error.ToString() ?? "");
    }
}
