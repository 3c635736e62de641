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
        // One block per dead letter rather than a table: ids stay whole, so they can be copied into --id.
        foreach (var letter in deadLetters)
        {
            var record = letter.DeadLetter;
            console.WriteLine();
            console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{record.DeadLetterId}  {record.SubscriptionName}, {record.Attempts} attempts, failed {record.FailedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC"));
            console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  event   {letter.Event.Name} {record.EventId}"));
            console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  reason  {record.ExceptionType}: {record.ExceptionMessage}"));
        }

        console.WriteLine();
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"re-drive with 'busbar wal redrive {directory} --id <dead letter id>' or '--all'"));
    }
}
