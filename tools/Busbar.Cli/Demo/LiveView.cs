using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Busbar.Cli.Demo;

/// <summary>Renders a <see cref="DemoSnapshot"/> as the live terminal view: bus counters, queue, and per-handler latency.</summary>
internal static class LiveView
{
    private const int QueueBarWidth = 16;

    public static IRenderable Render(DemoSnapshot snapshot)
    {
        var s = snapshot.Statistics;
        var settings = snapshot.Settings;
        var header = new Markup(Invariant(
            $"[bold]busbar demo[/] · [yellow]{snapshot.Phase}[/] · {snapshot.Elapsed.TotalSeconds:F1}/{settings.Duration.TotalSeconds:F0} s · FullMode [bold]{settings.FullMode}[/] · concurrency {settings.Concurrency}"));

        var bus = new Table().Border(TableBorder.Rounded).Title("bus")
            .AddColumn("metric").AddColumn(new TableColumn("value").RightAligned())
            .AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        bus.AddRow(new Text("throughput"), new Text(Invariant($"{snapshot.Throughput:F0} events/s")), new Text("queue"), QueueBar(s.QueueDepth, s.Capacity));
        bus.AddRow("published", N(s.Published), "in flight", N(s.InFlight));
        bus.AddRow("handled", N(s.Processed), "retries", N(s.Retried));
        bus.AddRow("failures", N(s.Failed), "dead letters", N(s.DeadLettered));
        bus.AddRow("dropped", N(s.Dropped), "rejected", N(s.Rejected));
        bus.AddRow("slow handlers", N(s.SlowHandlers), "publisher waited", Invariant($"{snapshot.PublisherWaited.TotalMilliseconds:F0} ms"));
        bus.AddRow("orders", N(snapshot.Orders), "child invoices", Invariant($"{snapshot.Children} ({snapshot.CorrelatedChildren} correlated)"));

        var handlers = new Table().Border(TableBorder.Rounded).Title("handlers, by tier")
            .AddColumn("handler").AddColumn("role")
            .AddColumn(new TableColumn("calls").RightAligned())
            .AddColumn(new TableColumn("p50").RightAligned())
            .AddColumn(new TableColumn("p99").RightAligned())
            .AddColumn(new TableColumn("max").RightAligned());
        foreach (var (name, role) in OrderPipeline.Handlers)
        {
            if (s.Handlers.TryGetValue(name, out var latency))
                handlers.AddRow(name, role, N(latency.Count), Ms(latency.P50), Ms(latency.P99), Ms(latency.Max));
            else
                handlers.AddRow(name, role, "0", "-", "-", "-");
        }

        var burst = snapshot.LastBurst is { } text
            ? new Markup("[grey]backpressure:[/] " + Markup.Escape(text))
            : new Markup(Invariant($"[grey]backpressure:[/] first burst of {snapshot.BurstSize} orders is coming"));
        var wal = new Markup("[grey]write-ahead log:[/] " + Markup.Escape(snapshot.WalDirectory));
        return new Rows(header, bus, handlers, burst, wal);
    }

    private static Markup QueueBar(int depth, int capacity)
    {
        var filled = capacity <= 0 ? 0 : (int)Math.Round(Math.Min(1.0, (double)depth / capacity) * QueueBarWidth);
        var color = filled >= QueueBarWidth ? "red" : filled > QueueBarWidth / 2 ? "yellow" : "green";
        return new Markup(Invariant($"[{color}]{new string('█', filled)}[/][grey]{new string('░', QueueBarWidth - filled)}[/] {depth}/{capacity}"));
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Ms(TimeSpan value) => Invariant($"{value.TotalMilliseconds:F1} ms");

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
