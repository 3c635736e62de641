using System.CommandLine;
using System.Globalization;
using Busbar.Durability;

namespace Busbar.Cli.Wal;

/// <summary>
/// <c>busbar wal dead-letters &lt;dir&gt; [--json] [--subscription …] [--event …] [--exception …] [--since …] [--until …]</c>:
/// the dead letters in a log that match the filters, with the reason each failed.
/// </summary>
internal static class WalDeadLettersCommand
{
    public static Command Create(CliConsole io)
    {
        var directory = WalCommand.DirectoryArgument();
        var json = WalCommand.JsonOption();
        var filters = new DeadLetterFilterOptions();
        var command = new Command("dead-letters", "List the dead letters in a write-ahead log that match the filters (all without), with their reasons.") { directory, json };
        filters.AddTo(command);
        command.SetAction(result =>
        {
            var inspection = WalDirectory.Inspect(result.GetRequiredValue(directory));
            var query = filters.Query(result);
            var letters = DeadLetterFilterOptions.Select(inspection.DeadLetters, query);
            if (result.GetValue(json))
                io.Out.WriteLine(WalJson.DeadLetters(inspection.Directory, letters));
            else
                Render(io.Out, io.LineWidth, inspection.Directory, letters, DeadLetterFilterOptions.IsFiltered(query) ? inspection.DeadLetters.Count : null);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// One block per dead letter rather than a table, written as plain lines: ids stay whole, so they
    /// can be copied into <c>--id</c>. On a terminal (or with <c>COLUMNS</c>) long lines wrap at spaces
    /// to <paramref name="width"/>; redirected, each stays one line.
    /// </summary>
    /// <param name="output">Where the lines go.</param>
    /// <param name="width">The terminal width to wrap at, or null for one line each.</param>
    /// <param name="directory">The log directory.</param>
    /// <param name="deadLetters">The letters to show.</param>
    /// <param name="total">With filters: how many letters the log holds in all (the header says how many matched).</param>
    public static void Render(TextWriter output, int? width, string directory, IReadOnlyList<WalDeadLetter> deadLetters, int? total = null)
    {
        void WriteLine(string line)
        {
            foreach (var part in width is { } w ? TextWrap.Wrap(line, w, 10) : [line])
                output.WriteLine(part);
        }

        WriteLine(total is { } all
            ? Invariant($"{deadLetters.Count} of {all} dead letters in {directory} match")
            : Invariant($"{deadLetters.Count} dead letters in {directory}"));
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
        WriteLine(Invariant($"re-drive with 'busbar wal redrive {directory} --id <dead letter id>', the same filters, or '--all'"));
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
