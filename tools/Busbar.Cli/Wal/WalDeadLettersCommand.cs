using System.CommandLine;
using System.Globalization;
using Busbar.Durability;

namespace Busbar.Cli.Wal;

/// <summary><c>busbar wal dead-letters &lt;dir&gt; [--json]</c>: the dead letters in a log, with the reason each failed.</summary>
internal static class WalDeadLettersCommand
{
    public static Command Create(CliConsole io)
    {
        var directory = WalCommand.DirectoryArgument();
        var json = WalCommand.JsonOption();
        var command = new Command("dead-letters", "List the dead letters in a write-ahead log, with their reasons.") { directory, json };
        command.SetAction(result =>
        {
            var inspection = WalDirectory.Inspect(result.GetRequiredValue(directory));
            if (result.GetValue(json))
                io.Out.WriteLine(WalJson.DeadLetters(inspection.Directory, inspection.DeadLetters));
            else
                Render(io.Out, io.LineWidth, inspection.Directory, inspection.DeadLetters);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// One block per dead letter rather than a table, written as plain lines: ids stay whole, so they
    /// can be copied into <c>--id</c>. On a terminal (or with <c>COLUMNS</c>) long lines wrap at spaces
    /// to <paramref name="width"/>; redirected, each stays one line.
    /// </summary>
    public static void Render(TextWriter output, int? width, string directory, IReadOnlyList<WalDeadLetter> deadLetters)
    {
        void WriteLine(string line)
        {
            foreach (var part in width is { } w ? TextWrap.Wrap(line, w, 10) : [line])
                output.WriteLine(part);
        }

        WriteLine(Invariant($"{deadLetters.Count} dead letters in {directory}"));
        if (deadLetters.Count == 0)
            return;
        foreach (var letter in deadLetters)
        {
            var record = letter.DeadLetter;
            output.WriteLine();
            WriteLine(Invariant($"{record.DeadLetterId}  {record.SubscriptionName}, {record.Attempts} attempts, failed {record.FailedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC"));
            WriteLine(Invariant($"  event   {letter.Event.Name} {record.EventId}"));
            WriteLine(Invariant($"  reason  {record.ExceptionType}: {record.ExceptionMessage}"));
        }

        output.WriteLine();
        WriteLine(Invariant($"re-drive with 'busbar wal redrive {directory} --id <dead letter id>' or '--all'"));
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
