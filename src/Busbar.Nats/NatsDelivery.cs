using System.Globalization;
using Busbar.Transport;
using NATS.Client.JetStream;

namespace Busbar.Nats;

/// <summary>One JetStream message delivered to one instance of a group; settled at most once.</summary>
internal sealed class NatsDelivery(
    NatsSubscription subscription,
    NatsSubscription.ConsumerRef consumer,
    INatsJSMsg<ReadOnlyMemory<byte>> message,
    string name,
    ulong sequence,
    int deliveryCount) : ITransportDelivery
{
    private int _settled;

    public NatsSubscription Subscription { get; } = subscription;

    public NatsSubscription.ConsumerRef Consumer { get; } = consumer;

    public INatsJSMsg<ReadOnlyMemory<byte>> Message { get; } = message;

    public string Name { get; } = name;

    public ulong Sequence { get; } = sequence;

    public int DeliveryCount { get; } = deliveryCount;

    public string DeliveryId => Sequence.ToString(CultureInfo.InvariantCulture);

    public string Group => Subscription.Group;

    public ReadOnlyMemory<byte> Envelope => Message.Data;

    public ValueTask AckAsync(CancellationToken cancellationToken = default)
    {
        SettleOnce();
        return Subscription.AckAsync(this, cancellationToken);
    }

    public ValueTask RetryLaterAsync(TimeSpan delay, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        SettleOnce();
        return Subscription.RetryLaterAsync(this, delay, cancellationToken);
    }

    public ValueTask TerminateAsync(string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        SettleOnce();
        return Subscription.TerminateAsync(this, reason, cancellationToken);
    }

    public ValueTask ExtendLeaseAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _settled) != 0)
            throw AlreadySettled();
        return Subscription.ExtendLeaseAsync(this, cancellationToken);
    }

    private void SettleOnce()
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
            throw AlreadySettled();
    }

    private InvalidOperationException AlreadySettled() => new($"Delivery {DeliveryId} of '{Name}' to group '{Group}' is already settled.");
}
