using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Busbar.Durability;

namespace Busbar.Cli.Wal;

/// <summary>
/// The filters <c>wal dead-letters</c> and <c>wal redrive</c> share: <c>--subscription</c>, <c>--event</c>,
/// <c>--exception</c>, <c>--since</c>, <c>--until</c>. They build the same <see cref="DeadLetterQuery"/> a bus's
/// <see cref="IDeadLetterStore"/> takes, so a letter matches in the CLI exactly when it matches in the bus.
/// </summary>
internal sealed class DeadLetterFilterOptions
{
    public Option<string> Subscription { get; } = new("--subscription")
    {
        Description = "Only dead letters of this subscription (its exact name).",
        HelpName = "name",
        CustomParser = OptionValues.Text,
    };

    public Option<string> Event { get; } = new("--event")
    {
        Description = "Only dead letters of this event name or pattern ('orders.placed', 'orders.*', 'orders.**').",
        HelpName = "name-or-pattern",
        CustomParser = OptionValues.EventPattern,
    };

    public Option<string> Exception { get; } = new("--exception")
    {
        Description = "Only dead letters that failed with this exception type (full name, or without its namespace).",
        HelpName = "type",
        CustomParser = OptionValues.Text,
    };

    public Option<DateTimeOffset?> Since { get; } = new("--since")
    {
        Description = "Only dead letters that failed at or after this time (ISO-8601; UTC unless it has an offset).",
        HelpName = "time",
        CustomParser = OptionValues.Timestamp,
    };

    public Option<DateTimeOffset?> Until { get; } = new("--until")
    {
        Description = "Only dead letters that failed before this time (ISO-8601; UTC unless it has an offset).",
        HelpName = "time",
        CustomParser = OptionValues.Timestamp,
    };

    /// <summary>Adds the options and the check that <c>--since</c> is not after <c>--until</c>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Subscription);
        command.Options.Add(Event);
        command.Options.Add(Exception);
        command.Options.Add(Since);
        command.Options.Add(Until);
        command.Validators.Add(result =>
        {
            // Only values that parsed: a malformed one already has its own error.
            if (result.GetResult(Since) is { Errors: var sinceErrors } since && !sinceErrors.Any()
                && result.GetResult(Until) is { Errors: var untilErrors } until && !untilErrors.Any()
                && since.GetValueOrDefault<DateTimeOffset?>() is { } from && until.GetValueOrDefault<DateTimeOffset?>() is { } to
                && from > to)
            {
                result.AddError(string.Create(CultureInfo.InvariantCulture, $"--since {from.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC is after --until {to.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC: no dead letter can match."));
            }
        });
    }

    /// <summary>Whether any filter was given (its value may be malformed).</summary>
    public bool AnyGiven(CommandResult result) =>
        result.GetResult(Subscription) is not null || result.GetResult(Event) is not null || result.GetResult(Exception) is not null
        || result.GetResult(Since) is not null || result.GetResult(Until) is not null;

    public DeadLetterQuery Query(ParseResult result) => new()
    {
        SubscriptionName = result.GetValue(Subscription),
        EventName = result.GetValue(Event),
        ExceptionType = result.GetValue(Exception),
        Since = result.GetValue(Since),
        Until = result.GetValue(Until),
    };

    /// <summary>The dead letters of a log that match <paramref name="query"/>, in log order.</summary>
    public static IReadOnlyList<WalDeadLetter> Select(IReadOnlyList<WalDeadLetter> letters, DeadLetterQuery query)
    {
        var matcher = query.Compile();
        return [.. letters.Where(l => matcher.Matches(l.DeadLetter.SubscriptionName, l.Event.Name, l.DeadLetter.ExceptionType, l.DeadLetter.FailedAt))];
    }

    /// <summary>Whether <paramref name="query"/> has any filter set.</summary>
    public static bool IsFiltered(DeadLetterQuery query) => query != DeadLetterQuery.All;
}
