using System.CommandLine;
using System.Globalization;
using Busbar.Durability;
using Spectre.Console;

namespace Busbar.Cli.Wal;

/// <summary><c>busbar wal inspect &lt;dir&gt;</c>: segments, record counts, unfinished work and checksum problems.</summary>
internal static class WalInspectCommand
{
    private const int MaxUnfinishedShown = 20;

    public static Command Create(CliConsole io)
    {
        var directory = WalCommand.DirectoryArgument();
        var command = new Command("inspect", "Show segments, records, unfinished events and checksum problems, without locking or changing the log.") { directory };
        command.SetAction(result =>
        {
            var inspection = WalDirectory.Inspect(result.GetRequiredValue(directory));
            Render(io.Console, inspection);
            return ExitCodes.Success;
        });
        return command;
    }

    public static void Render(IAnsiConsole console, WalInspection inspection)
    {
        var totalBytes = inspection.Segments.Sum(static s => s.SizeBytes);
        console.WriteLine(Invariant($"write-ahead log {inspection.Directory}"));
        console.WriteLine(Invariant(
            $"segments: {inspection.Segments.Count} ({totalBytes} bytes); unfinished events: {inspection.UnfinishedEvents.Count}; dead letters: {inspection.DeadLetters.Count}; problems: {inspection.Problems.Count}"));

        if (inspection.Segments.Count > 0)
        {
            var segments = new Table().Border(TableBorder.Simple).Title("segments")
                .AddColumn("file").AddColumn(new TableColumn("bytes").RightAligned())
                .AddColumn(new TableColumn("events").RightAligned()).AddColumn(new TableColumn("finished").RightAligned())
                .AddColumn(new TableColumn("dead-lettered").RightAligned()).AddColumn(new TableColumn("re-driven").RightAligned());
            foreach (var s in inspection.Segments)
                segments.AddRow(Text(s.FileName), N(s.SizeBytes), N(s.EventRecords), N(s.HandlerFinishedRecords), N(s.DeadLetterRecords), N(s.DeadLetterRedrivenRecords));
            console.Write(segments);
        }
        else
        {
            console.WriteLine("no segment files: the directory holds no write-ahead log yet.");
        }

        if (inspection.UnfinishedEvents.Count > 0)
        {
            var unfinished = new Table().Border(TableBorder.Simple).Title("unfinished events (re-dispatched when a bus opens this log)")
                .AddColumn(new TableColumn("event id").NoWrap()).AddColumn("name").AddColumn("created (UTC)").AddColumn("pending subscriptions");
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
                console.WriteLine(Invariant($"... and {inspection.UnfinishedEvents.Count - MaxUnfinishedShown} more unfinished events"));
        }

        if (inspection.DeadLetters.Count > 0)
            console.WriteLine(Invariant($"{inspection.DeadLetters.Count} dead letters: list them with 'busbar wal dead-letters {inspection.Directory}'"));

        if (inspection.Problems.Count == 0)
        {
            console.WriteLine("checksums: no problems found");
            return;
        }

        var problems = new Table().Border(TableBorder.Simple).Title("problems (recovery repairs or skips these)")
            .AddColumn("kind").AddColumn("segment").AddColumn(new TableColumn("offset").RightAligned())
            .AddColumn(new TableColumn("bytes").RightAligned()).AddColumn("what");
        foreach (var p in inspection.Problems)
            problems.AddRow(Text(p.Kind.ToString()), Text(p.SegmentFileName), N(p.Offset), N(p.ByteCount), Text(p.Message));
        console.Write(problems);
    }

    private static Text Text(string value) => new(value);

    private static Text N(long value) => new(value.ToString(CultureInfo.InvariantCulture));

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
