using System.CommandLine;
using System.Globalization;
using Busbar.Durability;
using Microsoft.Extensions.Logging.Abstractions;

namespace Busbar.Cli.Wal;

/// <summary>
/// <c>busbar wal redrive &lt;dir&gt; --id …|--all</c>: marks dead letters for another delivery. The CLI
/// has no handlers, so it writes the redrive into the log; the next bus to open the log re-dispatches
/// each event to the subscription that failed it.
/// </summary>
internal static class WalRedriveCommand
{
    public static Command Create(CliConsole io)
    {
        var directory = WalCommand.DirectoryArgument();
        var ids = new Option<Guid[]>("--id")
        {
            Description = "A dead letter id to re-drive (repeatable), as 'busbar wal dead-letters' prints it.",
            HelpName = "dead-letter-id",
            AllowMultipleArgumentsPerToken = true,
            CustomParser = OptionValues.Ids,
        };
        var all = new Option<bool>("--all") { Description = "Re-drive every dead letter in the log." };
        var command = new Command("redrive", "Re-drive dead letters: the next bus to open the log delivers them again. The log must not be open by a running bus.")
        {
            directory, ids, all,
        };
        command.Validators.Add(result =>
        {
            // Whether each option was given, not its value: reading a value that failed to parse throws.
            var hasIds = result.GetResult(ids) is { Tokens.Count: > 0 };
            var hasAll = result.GetResult(all) is not null;
            if (hasIds == hasAll)
                result.AddError("redrive needs either --id <dead-letter-id> (one or more) or --all, not both.");
        });
        command.SetAction((result, cancellationToken) =>
            RunAsync(io, result.GetRequiredValue(directory), result.GetValue(ids) ?? [], result.GetValue(all), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CliConsole io, string directory, Guid[] ids, bool all, CancellationToken cancellationToken)
    {
        // A directory without segments is refused before Open, which would create a segment and a lock file in it.
        var full = WalDirectory.RequireLog(directory);
        WriteAheadLog log;
        try
        {
            log = WriteAheadLog.Open(full, new WriteAheadLogOptions(), TimeProvider.System, NullLogger.Instance);
        }
        catch (WalLockedException)
        {
            throw new UserErrorException($"the write-ahead log '{full}' is open in a running bus; stop it first, or re-drive from that bus (IEventBus.DeadLetters.RedriveAsync).");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UserErrorException($"cannot open the write-ahead log '{full}': {ex.Message}", ex);
        }

        await using (log)
        {
            var available = log.Recovery.DeadLetters;
            var chosen = new List<WalDeadLetter>();
            if (all)
            {
                chosen.AddRange(available);
            }
            else
            {
                foreach (var id in ids)
                {
                    var match = available.FirstOrDefault(d => d.DeadLetter.DeadLetterId == id)
                        ?? throw new UserErrorException($"no dead letter with id {id} in '{full}'; list them with 'busbar wal dead-letters {full}'.");
                    chosen.Add(match);
                }
            }

            foreach (var letter in chosen)
            {
                // The log's redrive protocol: append the event again for the one subscription, then release the dead letter.
                await log.AppendEventAsync(letter.Event with { Subscriptions = [letter.DeadLetter.SubscriptionName] }, cancellationToken);
                await log.AppendDeadLetterRedrivenAsync(letter.DeadLetter.DeadLetterId, cancellationToken);
                io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"re-driven {letter.DeadLetter.DeadLetterId}: {letter.Event.Name} {letter.Event.EventId} to {letter.DeadLetter.SubscriptionName}"));
            }

            io.Out.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{chosen.Count} dead letters re-driven in {full}; the next bus to open this log delivers them again."));
            return ExitCodes.Success;
        }
    }
}
