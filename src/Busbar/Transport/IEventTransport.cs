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
    /// <para>Calls may overlap (a bus keeps a few batches on their way): the messages of a call are sent after those of the
    /// calls made before it, so the order of calls is the order on the broker's side for each name. A call that waits for
    /// room in the window holds back the calls behind it.</para>
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

    /// <summary>
    /// Publishes a dead letter's original envelope again under its event name, then removes the dead letter.
    /// </summary>
    /// <param name="id">The dead letter's <see cref="TransportDeadLetter.Id"/>.</param>
    /// <param name="cancellationToken">Cancels the wait for the broker.</param>
    /// <returns><see langword="true"/> when it was re-driven; <see langword="false"/> when no dead letter has that id (another re-drive took it).</returns>
    /// <remarks>
    /// The event goes back to its stream or subject, so every group subscribed to its name receives it again, not only the
    /// group that gave up (at-least-once: handlers deduplicate by event id). A dead letter without an envelope, or under a
    /// name that is not a valid event name, cannot be re-driven (<see cref="InvalidOperationException"/>); it stays.
    /// </remarks>
    ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads the events published from now on whose names match the patterns, outside any group: nothing is taken from a
    /// group, acknowledged or delayed, so watching never disturbs the consumers.
    /// </summary>
    /// <param name="patterns">Event-name patterns, as in <see cref="TransportSubscriptionOptions.Patterns"/>; at least one.</param>
    /// <param name="cancellationToken">Ends the enumeration; disposing the enumerator (an early <c>break</c>) ends it too.</param>
    /// <returns>
    /// The messages in the order the broker stored them per name. <see cref="TransportMessage.EventId"/> is
    /// <see cref="Guid.Empty"/>: the id travels inside the envelope, which the tail does not decode.
    /// </returns>
    /// <remarks>
    /// Best effort, for tools: a reader that falls far behind may miss messages, and on a reconnect a transport may skip
    /// what was published meanwhile. A name that appears after the tail started is read from its first message.
    /// </remarks>
    IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, CancellationToken cancellationToken = default);
}
