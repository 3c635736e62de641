using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Busbar.Cli.Demo;

/// <summary>
/// Renders a <see cref="DemoSnapshot"/> as the live terminal view: bus counters, queue, and per-handler
/// latency. It fits the console: when the whole view is taller than the console, the handler table goes
/// first, then the log's path, so the header and the bus counters always show.
/// </summary>
internal static class LiveView
{
    private const int QueueBarWidth = 16;

    /// <summary>Below this width the handler table leaves out the role column.</summary>
    private const int RoleColumnWidth = 90;

    /// <summary>Renders for a console of <paramref name="width"/> by <paramref name="height"/>.</summary>
    public static IRenderable Render(DemoSnapshot snapshot, int width, int height)
    {
        var header = Header(snapshot);
        var bus = BusTable(snapshot);
        var handlers = HandlerTable(snapshot, width >= RoleColumnWidth);
        var backpressure = new Markup("[grey]backpressure:[/] " + Markup.Escape(DemoWords.Backpressure(snapshot)));
        var wal = new Markup("[grey]write-ahead log:[/] " + Markup.Escape(snapshot.WalDirectory));

        // A live view leaves the console's last line to the cursor.
        var available = height - 1;
        var options = new RenderOptions(new FixedCapabilities(), new Size(width, height));
        IRenderable[] full = [.. header, bus, handlers, backpressure, wal];
        if (Height(full, options, width) <= available)
            return new Rows(full);
        IRenderable[] withoutHandlers = [.. header, bus, backpressure, wal];
        if (Height(withoutHandlers, options, width) <= available)
            return new Rows(withoutHandlers);
        return new Rows([.. header, bus, backpressure]);
    }

    private static IRenderable[] Header(DemoSnapshot snapshot)
    {
        var settings = snapshot.Settings;
        var line = new Markup(Invariant(
            $"[bold]busbar demo[/] · [yellow]{Markup.Escape(DemoWords.Phase(snapshot))}[/] · {snapshot.Elapsed.TotalSeconds:F1}/{settings.Duration.TotalSeconds:F0} s"));
        if (snapshot.InterruptedBy is { } signal && snapshot.Phase != DemoPhase.Stopped)
            return [line, new Markup(Invariant($"[yellow]{Markup.Escape(signal)}: shutting down gracefully; Ctrl+C again forces the exit[/]"))];
        return [line];
    }

    private static Table BusTable(DemoSnapshot snapshot)
    {
        var s = snapshot.Statistics;
        var throughput = snapshot.Phase == DemoPhase.Stopped
            ? ("average", Invariant($"{snapshot.AverageThroughput:F0} events/s"))
            : ("throughput", Invariant($"{snapshot.Throughput:F0} events/s"));
        var settings = snapshot.Settings;
        var title = Invariant($"bus · full-mode {DemoCommand.Spelling(settings.FullMode)} · concurrency {settings.Concurrency}");
        var bus = new Table().Border(TableBorder.Rounded).Title(title).HideHeaders()
            .AddColumn("metric").AddColumn(new TableColumn("value").RightAligned())
            .AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        bus.AddRow(new Text(throughput.Item1), new Text(throughput.Item2), new Text("queue"), QueueBar(s.QueueDepth, s.Capacity));
        bus.AddRow("published", N(s.Published), "handler overflow", Invariant($"{snapshot.HandlerOverflow} (up to {s.Capacity})"));
        bus.AddRow("finished", N(s.Processed), "in flight", N(s.InFlight));
        bus.AddRow("retries", N(s.Retried), "failures", N(s.Failed));
        bus.AddRow("dead letters", N(s.DeadLettered), "dropped", N(s.Dropped));
        var rejected = snapshot.RejectedRacingStop > 0 ? Invariant($"{s.Rejected} ({snapshot.RejectedRacingStop} raced the stop)") : N(s.Rejected);
        bus.AddRow("rejected", rejected, "slow handlers", N(s.SlowHandlers));
        bus.AddRow("orders", N(snapshot.Orders), "child invoices", Invariant($"{snapshot.Children} ({snapshot.CorrelatedChildren} correlated)"));
        bus.AddRow("publisher waited", Invariant($"{snapshot.PublisherWaited.TotalMilliseconds:F0} ms"), "", "");
        return bus;
    }

    private static Table HandlerTable(DemoSnapshot snapshot, bool withRole)
    {
        var s = snapshot.Statistics;
        var handlers = new Table().Border(TableBorder.Rounded).Title("handlers, by tier").AddColumn("handler");
        if (withRole)
            handlers.AddColumn("role");
        handlers.AddColumn(new TableColumn("calls").RightAligned())
            .AddColumn(new TableColumn("p50").RightAligned())
            .AddColumn(new TableColumn("p99").RightAligned())
            .AddColumn(new TableColumn("max").RightAligned());
        foreach (var (name, role) in OrderPipeline.Handlers)
        {
            string[] cells = s.Handlers.TryGetValue(name, out var latency)
                ? [N(latency.Count), Ms(latency.P50), Ms(latency.P99), Ms(latency.Max)]
                : ["0", "-", "-", "-"];
            handlers.AddRow(withRole ? [name, role, .. cells] : [name, .. cells]);
        }

        return handlers;
    }

    private static int Height(IEnumerable<IRenderable> rows, RenderOptions options, int width) =>
        Segment.SplitLines(((IRenderable)new Rows(rows)).Render(options, width)).Count;

    private static Markup QueueBar(int depth, int capacity)
    {
        var filled = capacity <= 0 ? 0 : (int)Math.Round(Math.Min(1.0, (double)depth / capacity) * QueueBarWidth);
        var color = filled >= QueueBarWidth ? "red" : filled > QueueBarWidth / 2 ? "yellow" : "green";
        return new Markup(Invariant($"[{color}]{new string('█', filled)}[/][grey]{new string('░', QueueBarWidth - filled)}[/] {depth}/{capacity}"));
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Ms(TimeSpan value) => Invariant($"{value.TotalMilliseconds:F1} ms");

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Line counts do not depend on colour or links: measure as a plain Unicode terminal.</summary>
    private sealed class FixedCapabilities : IReadOnlyCapabilities
    {
        public ColorSystem ColorSystem => ColorSystem.NoColors;

        public bool Ansi => false;

        public bool Links => false;

        public bool Legacy => false;

        public bool IsTerminal => true;

        public bool Interactive => false;

        public bool Unicode => true;

        public bool AlternateBuffer => false;
    }
}
