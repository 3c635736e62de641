using System.CommandLine;
using System.Globalization;
using Busbar.Durability;
using Spectre.Console;

namespace Busbar.Cli.Wal;

/// <summary><c>busbar wal dead-letters &lt;dir&gt;</c>: the dead letters in a log, with the reason each failed.</summary>
internal static class WalDeadLettersCommand
{
    public static Command Create(CliConsole io)
    {
        var directory = WalCommand.DirectoryArgument();
        var command = new Command("dead-letters", "List the dead letters in a write-ahead log, with their reasons.") { directory };
        command.SetAction(result =>
        {
            var inspection = WalDirectory.Inspect(result.GetRequiredValue(directory));
            Render(io.Console, inspection.Directory, inspection.DeadLetters);
            return ExitCodes.Success;
        });
        return command;
    }

    public static void Render(IAnsiConsole console, string directory, IReadOnlyList<WalDeadLetter> deadLetters)
    {
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{deadLetters.Count} dead letters in {directory}"));
        if (deadLetters.Count == 0)
            return;
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn("dead letter id").AddColumn("event").AddColumn("subscription")
            .AddColumn(new TableColumn("attempts").RightAligned()).AddColumn("failed at (UTC)").AddColumn("reason");
        foreach (var letter in deadLetters)
        {
            var record = letter.DeadLetter;
            table.AddRow(
                new Text(record.DeadLetterId.ToString()),
                new Text($"{letter.Event.Name} {record.EventId}"),
                new Text(record.SubscriptionName),
                new Text(record.Attempts.ToString(CultureInfo.InvariantCulture)),
                new Text(record.FailedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)),
                new Text($"{record.ExceptionType}: {record.ExceptionMessage}"));
        }

        console.Write(table);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"re-drive with 'busbar wal redrive {directory} --id <dead letter id>' or '--all'"));
    }
}
