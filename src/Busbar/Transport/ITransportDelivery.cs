namespace Busbar.Transport;

/// <summary>
/// One delivery of a message to one consumer of a group. Settle it exactly once: acknowledge it, retry it
/// later, or terminate it to the dead letters. Until then its lease keeps it from the other consumers.
/// </summary>
/// <remarks>
/// A delivery that is never settled comes again after the group's lease (at-least-once). Settling a
/// delivery a second time throws <see cref="InvalidOperationException"/>.
/// </remarks>
public interface ITransportDelivery
{
    /// <summary>The broker's id of this message (a Redis stream entry id, a sequence number); stable across redeliveries.</summary>
    string DeliveryId { get; }

    /// <summary>The event name the message was published under.</summary>
    string Name { get; }

    /// <summary>The group the delivery belongs to.</summary>
    string Group { get; }

    /// <summary>How often the message has been delivered to this group, this delivery included (1-based).</summary>
    int DeliveryCount { get; }

    /// <summary>The encoded envelope, as published; empty when the broker's entry had none. Decode it with <see cref="EnvelopeCodec"/>.</summary>
    ReadOnlyMemory<byte> Envelope { get; }

    /// <summary>Acknowledges the delivery: the group is done with the message.</summary>
    /// <param name="cancellationToken">Cancels the wait for the broker.</param>
    ValueTask AckAsync(CancellationToken cancellationToken = default);

    /// <summary>Gives the message back to the group, to be delivered again after <paramref name="delay"/>.</summary>
    /// <param name="delay">How long to hold it back; <see cref="TimeSpan.Zero"/> for as soon as possible. A transport may cap it (Redis: at the lease).</param>
    /// <param name="cancellationToken">Cancels the wait for the broker.</param>
    /// <remarks>When the next delivery would exceed the group's maximum delivery count, the message goes to the dead letters instead.</remarks>
    ValueTask RetryLaterAsync(TimeSpan delay, CancellationToken cancellationToken = default);

    /// <summary>Moves the message to the dead letters with a reason and acknowledges it.</summary>
    /// <param name="reason">Why (kept with the dead letter; never the payload).</param>
    /// <param name="cancellationToken">Cancels the wait for the broker.</param>
    ValueTask TerminateAsync(string reason, CancellationToken cancellationToken = default);

    /// <summary>Restarts the lease, so a slow handler is not redelivered to another consumer while it still works.</summary>
    /// <param name="cancellationToken">Cancels the wait for the broker.</param>
    ValueTask ExtendLeaseAsync(CancellationToken cancellationToken = default);
}
