using System.CommandLine;
using System.Globalization;

namespace Busbar.Cli.Broker;

/// <summary>
/// <c>busbar redrive &lt;url&gt; --id …|--all</c>: publishes dead letters again to their stream or subject and removes
/// them (<see cref="Busbar.Transport.IEventTransport.RedriveDeadLetterAsync"/>). Every group subscribed to the name
/// receives the event again, not only the one that gave up.
/// </summary>
internal static class RedriveCommand
{
    /// <summary><c>--all</c> takes the dead letters present when it starts, at most this many, so events that fail again are not re-driven in a loop.</summary>
    public const int MaxAll = 100_000;

    public static Command Create(CliConsole io)
    {
        var url = BrokerUrl.Argument();
        var ids = new Option<string[]>("--id")
        {
            Description = "A dead letter id to re-drive (repeatable), as 'busbar dead-letters' prints it.",
            HelpName = "dead-letter-id",
            AllowMultipleArgumentsPerToken = true,
            CustomParser = OptionValues.BrokerIds,
        };
        var all = new Option<bool>("--all") { Description = $"Re-drive every dead letter present now (at most {MaxAll})." };
        var command = new Command("redrive", "Publish a Redis or NATS bus's dead letters again to their stream or subject and remove them; every group subscribed to the event receives it again.")
        {
            url, ids, all,
        };
        command.Validators.Add(result =>
        {
            var hasIds = result.GetResult(ids) is { Tokens.Count: > 0 };
            var hasAll = result.GetResult(all) is not null;
            if (hasIds == hasAll)
                result.AddError("redrive needs either --id <dead-letter-id> (one or more) or --all, not both.");
        });
        command.SetAction((result, cancellationToken) =>
            RunAsync(io, result.GetRequiredValue(url), result.GetValue(ids) ?? [], result.GetValue(all), cancellationToken));
        return command;
    }

    private static Task<int> RunAsync(CliConsole io, BrokerUrl url, string[] ids, bool all, CancellationToken cancellationToken) =>
        url.RunAsync(transport => RedriveAsync(io, url, transport, ids, all, cancellationToken), cancellationToken);

    private static async Task<int> RedriveAsync(CliConsole io, BrokerUrl url, Busbar.Transport.IEventTransport transport, string[] ids, bool all, CancellationToken cancellationToken)
    {
        var letters = await transport.ReadDeadLettersAsync(MaxAll, cancellationToken);
        var chosen = all ? letters.ToList() : [];
        foreach (var id in ids)
        {
            var match = letters.FirstOrDefault(d => d.Id == id)
                ?? throw new UserErrorException($"no dead letter with id '{id}' on {url.Display}; list them with 'busbar dead-letters {url.Display}'.");
            chosen.Add(match);
        }

        var redriven = 0;
        foreach (var letter in chosen)
        {
            bool done;
            try
            {
                done = await transport.RedriveDeadLetterAsync(letter.Id, cancellationToken);
            }
            catch (InvalidOperationException ex)
            {
                io.Error.WriteLine($"busbar: skipped {letter.Id}: {ex.Message}");
                continue;
            }

            if (!done)
            {
                io.Error.WriteLine($"busbar: skipped {letter.Id}: it is gone (re-driven by someone else meanwhile).");
                continue;
            }

            redriven++;
            io.Out.WriteLine(Invariant($"re-driven {letter.Id}: {letter.Name} (group {letter.Group}, {letter.DeliveryCount} deliveries)"));
        }

        io.Out.WriteLine(Invariant($"{redriven} of {chosen.Count} dead letters re-driven on {url.Display}."));
        return redriven == chosen.Count ? ExitCodes.Success : ExitCodes.Failure;
    }

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}
