using System.CommandLine;
using System.Globalization;
using Busbar.Durability;
using Spectre.Console;

namespace Busbar.Cli.Wal;

/// <summary>
/// <c>busbar wal inspect &lt;dir&gt; [--json]</c>: segments, record counts, pending events and damage.
/// Exits <see cref="ExitCodes.Damaged"/> when the log has damage, so a script can tell. Damage is what
/// <see cref="WriteAheadLogInspection.HasDamage"/> calls so: any problem but a torn tail, which is the
/// normal trace of a crash mid-write (or, on a log a bus is writing, a record being written).
/// </summary>
internal static class WalInspectCommand
{
    private const int MaxUnfinishedShown = 20;

    public static Command Create(CliConsole io)
    {
        var directory = WalCommand.DirectoryArgument();
        var json = WalCommand.JsonOption();
        var command = new Command(
            "inspect",
            $"Show segments, records, pending events and damage, without locking or changing the log. Exits {ExitCodes.Damaged} when the log is damaged (any problem but a torn tail).")
        {
            directory, json,
        };
        command.SetAction(result =>
        {
            var inspection = WalDirectory.Inspect(result.GetRequiredValue(directory));
            var exitCode = ExitCodeOf(inspection);
            if (result.GetValue(json))
                io.Out.WriteLine(WalJson.Inspection(inspection, exitCode));
            else
                Render(io.Console, inspection);
            return exitCode;
        });
        return command;
    }

    /// <summary><see cref="ExitCodes.Damaged"/> when the log has damage (a torn tail alone is not), else success.</summary>
    public static int ExitCodeOf(WalInspection inspection) => inspection.HasDamage ? ExitCodes.Damaged : ExitCodes.Success;

    public static void Render(IAnsiConsole console, WalInspection inspection)
    {
        var totalBytes = inspection.Segments.Sum(static s => s.SizeBytes);
        console.WriteLine(Invariant($"write-ahead log {inspection.Directory}"));
        console.WriteLine(Invariant(
            $"segments: {inspection.Segments.Count} ({totalBytes} bytes); pending events: {inspection.UnfinishedEvents.Count}; dead letters: {inspection.DeadLetters.Count}; problems: {inspection.Problems.Count}"));

        // Record counts by type: how many records of each kind the segment holds, not events.
        var segments = new Table().Border(TableBorder.Simple).Title("segments (records by type)")
            .AddColumn(new TableColumn("file").NoWrap()).AddColumn(new TableColumn("bytes").RightAligned())
            .AddColumn(new TableColumn("events").RightAligned()).AddColumn(new TableColumn("handler finished").RightAligned())
            .AddColumn(new TableColumn("dead-lettered").RightAligned()).AddColumn(new TableColumn("re-driven").RightAligned());
        foreach (var s in inspection.Segments)
            segments.AddRow(Text(s.FileName), N(s.SizeBytes), N(s.EventRecords), N(s.HandlerFinishedRecords), N(s.DeadLetterRecords), N(s.DeadLetterRedrivenRecords));
        console.Write(segments);
        console.WriteLine("handler finished: one record each time a subscription finished with an event (succeeded, or failed for good).");

        if (inspection.UnfinishedEvents.Count > 0)
        {
            var unfinished = new Table().Border(TableBorder.Simple).Title("pending events (re-dispatched when a bus opens this log)")
                .AddColumn(new TableColumn("event id").NoWrap()).AddColumn(new TableColumn("name").NoWrap())
                .AddColumn(new TableColumn("created (UTC)").NoWrap()).AddColumn("pending subscriptions");
            foreach (var pending in inspection.UnfinishedEvents.Take(MaxUnfinishedShown))
            {
                unfinished.AddRow(
                    Text(pending.Event.EventId.ToString()),
                    Text(pending.Event.Name),
                    Text(pending.Event.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)),
                    Text(string.Join(", ", pending.PendingSubscriptions)));
            }

            console.Write(unfinished);
            if (inspection.UnfinishedEvents.Count > MaxUnfinishedShown)
                console.WriteLine(Invariant($"... and {inspection.UnfinishedEvents.Count - MaxUnfinishedShown} more pending events (all of them with --json)"));
        }

        if (inspection.DeadLetters.Count > 0)
            console.WriteLine(Invariant($"{inspection.DeadLetters.Count} dead letters: list them with 'busbar wal dead-letters {inspection.Directory}'"));

        if (inspection.Problems.Count == 0)
        {
            console.WriteLine("damage: none (every record's checksum verified)");
            return;
        }

        var problems = new Table().Border(TableBorder.Simple).Title("problems (what a bus opening this log does about each)")
            .AddColumn(new TableColumn("kind").NoWrap()).AddColumn(new TableColumn("segment").NoWrap()).AddColumn(new TableColumn("offset").RightAligned())
            .AddColumn(new TableColumn("bytes").RightAligned()).AddColumn(new TableColumn("action").NoWrap()).AddColumn("what");
        foreach (var p in inspection.Problems)
            problems.AddRow(Text(p.Kind.ToString()), Text(p.SegmentFileName), N(p.Offset), N(p.ByteCount), Text(p.Action.ToString()), Text(p.Message));
        console.Write(problems);
        console.WriteLine(inspection.HasDamage
            ? Invariant($"damage: {inspection.Problems.Count} problems (exit code {ExitCodes.Damaged})")
            : "damage: none; a torn tail is the normal trace of a crash mid-write (or of a record a running bus is writing)");
    }

    private static Text Text(string value) => new(value);

    private static Text N(long value) => new(value.ToString(CultureInfo.InvariantCulture));

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
