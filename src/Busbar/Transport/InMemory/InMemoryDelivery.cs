namespace Busbar.Transport;

/// <summary>One delivery from the in-memory broker; settled at most once.</summary>
internal sealed class InMemoryDelivery(InMemorySubscription subscription, InMemoryBroker.StoredMessage message, int deliveryCount) : ITransportDelivery
{
    private int _settled;

    public InMemorySubscription Subscription { get; } = subscription;

    public InMemoryBroker.StoredMessage Message { get; } = message;

    public string DeliveryId => Message.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public string Name => Message.Name;

    public string Group => Subscription.Group.Name;

    public int DeliveryCount { get; } = deliveryCount;

    public ReadOnlyMemory<byte> Envelope => Message.Envelope;

    public ValueTask AckAsync(CancellationToken cancellationToken = default) => Settle(InMemoryBroker.Settlement.Ack, TimeSpan.Zero, null);

    public ValueTask RetryLaterAsync(TimeSpan delay, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        return Settle(InMemoryBroker.Settlement.RetryLater, delay, null);
    }

    public ValueTask TerminateAsync(string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        return Settle(InMemoryBroker.Settlement.Terminate, TimeSpan.Zero, reason);
    }

    public ValueTask ExtendLeaseAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _settled) != 0)
            throw AlreadySettled();
        Subscription.Broker.Settle(this, InMemoryBroker.Settlement.ExtendLease, TimeSpan.Zero, null);
        return default;
    }

    private ValueTask Settle(InMemoryBroker.Settlement settlement, TimeSpan delay, string? reason)
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
            throw AlreadySettled();

        // A delivery whose lease expired was given out again: settling it late changes nothing (at-least-once).
        Subscription.Broker.Settle(this, settlement, delay, reason);
        return default;
    }

    private InvalidOperationException AlreadySettled() => new($"Delivery {DeliveryId} of '{Name}' to group '{Group}' is already settled.");
}
