namespace Busbar.Transport;

/// <summary>
/// A message broker seen by the bus: it publishes encoded events and hands them to groups of
/// competing consumers. Redis Streams and the in-memory transport implement it; every
/// implementation passes the same contract tests.
/// </summary>
/// <remarks>
/// The guarantee is at-least-once: a delivery that is not acknowledged (its consumer crashed, its
/// lease expired, it was retried) comes again, to the same or another consumer of its group, with a
/// higher <see cref="ITransportDelivery.DeliveryCount"/>. Handlers that must not run twice deduplicate
/// by event id.
/// </remarks>
public interface IEventTransport : IAsyncDisposable
{
    /// <summary>Publishes a batch; completes when the broker has accepted every message of it.</summary>
    /// <param name="messages">The encoded events (see <see cref="EnvelopeCodec"/>); an empty batch completes at once.</param>
    /// <param name="cancellationToken">Stops waiting for room in the publish window; messages already sent may still be stored.</param>
    /// <remarks>
    /// A failure (broker unreachable, window full under <c>Reject</c>) fails the whole call even when some
    /// messages of the batch were stored; the caller retries the batch and consumers deduplicate by event id.
    /// </remarks>
    ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default);

    /// <summary>Joins a group of competing consumers for the events whose names match the patterns.</summary>
    /// <param name="options">The group, its patterns and the in-flight bound; validated here.</param>
    /// <param name="cancellationToken">Cancels setting the subscription up.</param>
    /// <returns>The subscription; read its deliveries with <see cref="ITransportSubscription.ReadAllAsync"/>.</returns>
    ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default);

    /// <summary>Reads the oldest dead letters (deliveries terminated or past their maximum delivery count).</summary>
    /// <param name="maxCount">At most this many, oldest first; at least 1.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default);
}
