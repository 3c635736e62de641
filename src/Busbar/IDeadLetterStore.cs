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
}
