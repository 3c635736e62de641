using System.Globalization;
using System.Text;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Busbar.Cli.Distributed;

/// <summary>The distributed demo's progress: a live table per worker on a terminal, one plain line a second otherwise.</summary>
internal static class DistributedView
{
    public static IRenderable Render(DistributedSnapshot snapshot)
    {
        var header = new Markup(Invariant(
            $"[bold]busbar demo[/] · {Markup.Escape(snapshot.Broker)} · [yellow]{Markup.Escape(snapshot.Phase)}[/] · {snapshot.Elapsed.TotalSeconds:F1} s"));
        var totals = new Markup(Invariant(
            $"orders published [bold]{snapshot.OrdersPublished}[/] · events not yet finished [bold]{snapshot.Unsettled}[/]"));
        var table = new Table().Border(TableBorder.Rounded).Title("workers (one consumer group)")
            .AddColumn("worker").AddColumn(new TableColumn("pid").RightAligned()).AddColumn("state")
            .AddColumn(new TableColumn("handled").RightAligned())
            .AddColumn(new TableColumn("failed").RightAligned())
            .AddColumn(new TableColumn("dead-lettered").RightAligned())
            .AddColumn(new TableColumn("redelivered").RightAligned())
            .AddColumn(new TableColumn("in flight").RightAligned());
        foreach (var row in snapshot.Workers)
        {
            var t = row.Tally;
            var state = row.State.StartsWith("killed", StringComparison.Ordinal) ? $"[red]{Markup.Escape(row.State)}[/]" : Markup.Escape(row.State);
            table.AddRow(
                new Text(N(t.Number)), new Text(N(row.Pid)), new Markup(state),
                new Text(N(t.Handled)), new Text(N(t.FailedAttempts)), new Text(N(t.DeadLettered)), new Text(N(t.Redelivered)), new Text(N(t.InFlight)));
        }

        return new Rows(header, totals, table, new Markup(Markup.Escape(KillText(snapshot))));
    }

    public static string Header(DistributedRequest request, string where)
    {
        var line = new StringBuilder(Invariant(
            $"busbar demo: order pipeline on {request.Broker.Display} ({where}), {request.Workers} worker processes, concurrency {request.Concurrency} each, {request.Rate} orders/s"));
        line.Append(request.MaxOrders is { } max ? Invariant($", {max} orders") : Invariant($" for {request.PublishWindow.TotalSeconds:F1} s"));
        if (request.KillWorkerAfter is { } kill)
            line.Append(Invariant($", one worker killed (SIGKILL) at {kill.TotalSeconds:F1} s"));
        return line.ToString();
    }

    /// <summary>One line per second: totals, then each worker; no escape codes, never wrapped.</summary>
    public static string Line(DistributedSnapshot snapshot)
    {
        var line = new StringBuilder(Invariant(
            $"[{snapshot.Elapsed.TotalSeconds,5:F1}s] {snapshot.Phase,-10} orders-published={snapshot.OrdersPublished} unfinished={snapshot.Unsettled}"));
        foreach (var row in snapshot.Workers)
        {
            var t = row.Tally;
            line.Append(Invariant(
                $" | worker{t.Number} {Word(row.State)} handled={t.Handled} failed={t.FailedAttempts} dead-lettered={t.DeadLettered} redelivered={t.Redelivered} in-flight={t.InFlight}"));
        }

        return line.ToString();
    }

    public static string KillLine(KillReport kill) => Invariant(
        $"         worker {kill.Worker} (pid {kill.Pid}) killed with SIGKILL at {kill.At.TotalSeconds:F1} s holding {kill.HeldUnsettled} unsettled events; the broker gives them to the other workers after the lease");

    private static string KillText(DistributedSnapshot snapshot) =>
        snapshot.Kill is { } kill ? KillLine(kill).Trim()
        : snapshot.KillDue is { } due ? Invariant($"one worker will be killed with SIGKILL at {due.TotalSeconds:F1} s")
        : "no worker is killed in this run (--kill-worker-after)";

    /// <summary>A state as one word for the plain line.</summary>
    private static string Word(string state) => state.Split(' ')[0];

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
