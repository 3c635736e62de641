using Busbar.Transport;
using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>One stream entry delivered to one consumer of a group; settled at most once.</summary>
/// <remarks>
/// The entry id stays the reply's own value: an ack sends it back as it came, and <see cref="DeliveryId"/> becomes a
/// string only when something asks (logs, dead letters, retries), not for every delivery; it is not kept, so the object
/// stays a field smaller for the deliveries (nearly all) that never ask.
/// </remarks>
internal sealed class RedisDelivery(RedisSubscription subscription, RedisSubscription.StreamRef stream, RedisValue entryId, int deliveryCount, ReadOnlyMemory<byte> envelope) : ITransportDelivery
{
    private int _settled;

    public RedisSubscription.StreamRef Stream { get; } = stream;

    /// <summary>The entry id as the server sent it.</summary>
    public RedisValue EntryId { get; } = entryId;

    public string DeliveryId => EntryId.ToString();

    public string Name => Stream.Name;

    public string Group => subscription.Group;

    public int DeliveryCount { get; } = deliveryCount;

    public ReadOnlyMemory<byte> Envelope { get; } = envelope;

    public ValueTask AckAsync(CancellationToken cancellationToken = default)
    {
        SettleOnce();
        return subscription.AckAsync(this);
    }

    public ValueTask RetryLaterAsync(TimeSpan delay, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        SettleOnce();
        return subscription.RetryLaterAsync(this, delay);
    }

    public ValueTask TerminateAsync(string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        SettleOnce();
        return subscription.TerminateAsync(this, reason);
    }

    public ValueTask ExtendLeaseAsync(CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _settled) != 0)
            throw AlreadySettled();
        return subscription.ExtendLeaseAsync(this);
    }

    private void SettleOnce()
    {
        if (Interlocked.Exchange(ref _settled, 1) != 0)
            throw AlreadySettled();
    }

    private InvalidOperationException AlreadySettled() => new($"Delivery {DeliveryId} of '{Name}' to group '{Group}' is already settled.");
}
