using System.CommandLine;
using System.Globalization;
using Busbar.Durability;
using Microsoft.Extensions.Logging.Abstractions;

namespace Busbar.Cli.Wal;

/// <summary>
/// <c>busbar wal redrive &lt;dir&gt; --id …|--all|filters</c>: marks dead letters for another delivery (by id, all of
/// them, or those that match the <c>wal dead-letters</c> filters). The CLI
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
        var filters = new DeadLetterFilterOptions();
        var command = new Command("redrive", "Re-drive dead letters (by id, all, or those that match the filters): the next bus to open the log delivers them again. The log must not be open by a running bus.")
        {
            directory, ids, all,
        };
        filters.AddTo(command);
        command.Validators.Add(result =>
        {
            // Whether each option was given, not its value: reading a value that failed to parse throws.
            var hasIds = result.GetResult(ids) is { Tokens.Count: > 0 };
            var hasAll = result.GetResult(all) is not null;
            var hasFilters = filters.AnyGiven(result);
            if ((hasIds ? 1 : 0) + (hasAll ? 1 : 0) + (hasFilters ? 1 : 0) != 1)
                result.AddError("redrive needs either --id <dead-letter-id> (one or more), --all, or filters (--subscription, --event, --exception, --since, --until): exactly one of them.");
        });
        command.SetAction((result, cancellationToken) =>
            RunAsync(io, result.GetRequiredValue(directory), result.GetValue(ids) ?? [], result.GetValue(all) ? DeadLetterQuery.All : filters.AnyGiven(result.CommandResult) ? filters.Query(result) : null, cancellationToken));
        return command;
    }

    /// <param name="io">The console.</param>
    /// <param name="directory">The log directory.</param>
    /// <param name="ids">The ids to re-drive, when <paramref name="query"/> is null.</param>
    /// <param name="query">The letters to re-drive (<see cref="DeadLetterQuery.All"/> for <c>--all</c>), or null to re-drive <paramref name="ids"/>.</param>
    /// <param name="cancellationToken">Ctrl+C.</param>
    private static async Task<int> RunAsync(CliConsole io, string directory, Guid[] ids, DeadLetterQuery? query, CancellationToken cancellationToken)
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
            if (query is not null)
            {
                chosen.AddRange(DeadLetterFilterOptions.Select(available, query));
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
