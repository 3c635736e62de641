namespace Busbar;

/// <summary>Handler invocations that failed after their last attempt, kept for inspection and re-drive.</summary>
public interface IDeadLetterStore
{
    /// <summary>Dead letters held now.</summary>
    int Count { get; }

    /// <summary>Dead letters evicted because the store was full.</summary>
    long Evicted { get; }

    /// <summary>The dead letters, oldest first.</summary>
    /// <returns>A snapshot.</returns>
    IReadOnlyList<DeadLetter> List();

    /// <summary>Runs the dead letter's event again on its subscription (attempt count continues) and removes it from the store.</summary>
    /// <param name="id">The dead letter's id.</param>
    /// <param name="cancellationToken">Passed to the handler.</param>
    /// <returns>The outcome of the re-drive; a new failure goes back to the store.</returns>
    /// <exception cref="KeyNotFoundException">No dead letter has that id.</exception>
    /// <exception cref="InvalidOperationException">Its subscription is no longer registered.</exception>
    ValueTask<EventOutcome> RedriveAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>The dead letters that match <paramref name="query"/>, oldest first.</summary>
    /// <param name="query">What to select; <see cref="DeadLetterQuery.All"/> for every letter.</param>
    /// <returns>A snapshot.</returns>
    /// <exception cref="ArgumentException">
    /// The query is invalid: <see cref="DeadLetterQuery.Since"/> after <see cref="DeadLetterQuery.Until"/>, a property set
    /// to an empty string, or an <see cref="DeadLetterQuery.EventName"/> that is neither an event name nor a pattern.
    /// </exception>
    IReadOnlyList<DeadLetter> List(DeadLetterQuery query);

    /// <summary>
    /// Re-drives every dead letter that matches <paramref name="query"/>, oldest first, one after another, as
    /// <see cref="RedriveAsync(Guid, CancellationToken)"/> does for one.
    /// </summary>
    /// <param name="query">What to select; <see cref="DeadLetterQuery.All"/> for every letter.</param>
    /// <param name="cancellationToken">Passed to the handlers; once cancelled, the letters not yet re-driven stay in the store.</param>
    /// <returns>The outcome of each re-drive, in order; its count is how many were re-driven. New failures go back to the store.</returns>
    /// <exception cref="ArgumentException">The query is invalid (see <see cref="List(DeadLetterQuery)"/>).</exception>
    /// <exception cref="InvalidOperationException">
    /// A matching letter's subscription is no longer registered; nothing was re-driven (narrow the query, for example with
    /// <see cref="DeadLetterQuery.SubscriptionName"/>, or remove those letters).
    /// </exception>
    ValueTask<IReadOnlyList<EventOutcome>> RedriveAsync(DeadLetterQuery query, CancellationToken cancellationToken = default);

    /// <summary>Discards one dead letter without running it. A durable bus records the removal in its write-ahead log, so it is not recovered after a restart.</summary>
    /// <param name="id">The dead letter's id.</param>
    /// <returns><see langword="true"/> when it was in the store; <see langword="false"/> for an unknown (or already removed) id.</returns>
    bool Remove(Guid id);

    /// <summary>Discards every dead letter that matches <paramref name="query"/> without running it; durable removals are recorded as in <see cref="Remove"/>.</summary>
    /// <param name="query">What to select; <see cref="DeadLetterQuery.All"/> for every letter.</param>
    /// <returns>How many were removed.</returns>
    /// <exception cref="ArgumentException">The query is invalid (see <see cref="List(DeadLetterQuery)"/>).</exception>
    int Purge(DeadLetterQuery query);

    /// <summary>How many dead letters the store holds per <see cref="DeadLetter.ExceptionType"/>.</summary>
    /// <returns>A snapshot keyed by exception type name.</returns>
    IReadOnlyDictionary<string, int> CountsByExceptionType();
}
