using Busbar.Routing;

namespace Busbar;

/// <summary>
/// Selects dead letters for <see cref="IDeadLetterStore.List(DeadLetterQuery)"/>, <see cref="IDeadLetterStore.RedriveAsync(DeadLetterQuery, CancellationToken)"/>
/// and <see cref="IDeadLetterStore.Purge"/>. Every property is optional; a letter matches when it matches all that are set,
/// so <see cref="All"/> (nothing set) matches every letter.
/// </summary>
public sealed record DeadLetterQuery
{
    /// <summary>Gets a query that matches every dead letter.</summary>
    public static DeadLetterQuery All { get; } = new();

    /// <summary>Gets the subscription name (<see cref="DeadLetter.SubscriptionName"/>) a letter must have, compared exactly.</summary>
    public string? SubscriptionName { get; init; }

    /// <summary>
    /// Gets the event name a letter's event must have: an exact name (<c>orders.placed</c>) or a subscription pattern
    /// (<c>orders.*</c>, <c>orders.**</c>, <c>*</c>).
    /// </summary>
    public string? EventName { get; init; }

    /// <summary>
    /// Gets the exception type a letter must have failed with (<see cref="DeadLetter.ExceptionType"/>): the full name
    /// (<c>System.TimeoutException</c>) or the name without its namespace (<c>TimeoutException</c>).
    /// </summary>
    public string? ExceptionType { get; init; }

    /// <summary>Gets the earliest <see cref="DeadLetter.FailedAt"/> that matches (inclusive).</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>Gets the end of the time range: letters that failed at or after it do not match (exclusive).</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>Whether <paramref name="letter"/> matches every property that is set.</summary>
    /// <param name="letter">The dead letter.</param>
    /// <returns><see langword="true"/> when it matches.</returns>
    /// <exception cref="ArgumentException">The query is invalid (see <see cref="IDeadLetterStore.List(DeadLetterQuery)"/>).</exception>
    public bool Matches(DeadLetter letter)
    {
        ArgumentNullException.ThrowIfNull(letter);
        return Compile().Matches(letter.SubscriptionName, letter.Context.Name, letter.ExceptionType, letter.FailedAt);
    }

    /// <summary>Validates the query and compiles its event name pattern.</summary>
    /// <exception cref="ArgumentException">A property set to an empty string, an invalid event name pattern, or <see cref="Since"/> after <see cref="Until"/>.</exception>
    internal Matcher Compile()
    {
        RequireNotEmpty(SubscriptionName, nameof(SubscriptionName));
        RequireNotEmpty(EventName, nameof(EventName));
        RequireNotEmpty(ExceptionType, nameof(ExceptionType));
        if (Since is { } since && Until is { } until && since > until)
            throw new ArgumentException($"DeadLetterQuery.Since ({since:O}) is after DeadLetterQuery.Until ({until:O}); the time range is empty.", "query");
        TopicPattern? pattern = null;
        if (EventName is { } name)
        {
            try
            {
                pattern = TopicPattern.Parse(name);
            }
            catch (ArgumentException ex)
            {
                throw new ArgumentException($"DeadLetterQuery.EventName: {ex.Message}", "query", ex);
            }
        }

        return new Matcher(this, pattern);
    }

    private static void RequireNotEmpty(string? value, string property)
    {
        if (value is not null && string.IsNullOrWhiteSpace(value))
            throw new ArgumentException($"DeadLetterQuery.{property} is empty; leave it null to match every value.", "query");
    }

    /// <summary>A validated query, matched against the fields a dead letter has in memory and in the write-ahead log.</summary>
    internal sealed class Matcher(DeadLetterQuery query, TopicPattern? pattern)
    {
        public bool Matches(string subscriptionName, string eventName, string exceptionType, DateTimeOffset failedAt)
        {
            if (query.SubscriptionName is { } subscription && !string.Equals(subscription, subscriptionName, StringComparison.Ordinal))
                return false;
            if (pattern is not null && !pattern.Matches(eventName))
                return false;
            if (query.ExceptionType is { } type && !ExceptionTypeMatches(type, exceptionType))
                return false;
            if (query.Since is { } since && failedAt < since)
                return false;
            return query.Until is not { } until || failedAt < until;
        }

        private static bool ExceptionTypeMatches(string wanted, string actual)
        {
            if (string.Equals(wanted, actual, StringComparison.Ordinal))
                return true;
            // A nested type's full name is Outer+Inner; its simple name is after the last '.' or '+'.
            var start = actual.LastIndexOfAny(['.', '+']) + 1;
            return start > 0 && actual.AsSpan(start).SequenceEqual(wanted);
        }
    }
}
