using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Busbar.Transport.Contract;

/// <summary>
/// Wraps a transport and records what went through it: every published message by name, and how each delivery was
/// settled (by the event id in its envelope). Bus tests read it to prove what reached the broker and what was acknowledged.
/// </summary>
public sealed class RecordingTransport(IEventTransport inner, EnvelopeCodec codec) : IEventTransport
{
    public ConcurrentQueue<TransportMessage> Published { get; } = new();

    public ConcurrentQueue<(Guid EventId, string Settlement, int DeliveryCount)> Settled { get; } = new();

    public ConcurrentDictionary<Guid, int> Acked { get; } = new();

    public ConcurrentDictionary<Guid, int> Extended { get; } = new();

    public int PublishedCount(string name) => Published.Count(m => m.Name == name);

    public ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default)
    {
        foreach (var message in messages)
            Published.Enqueue(message);
        return inner.PublishAsync(messages, cancellationToken);
    }

    public async ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default) =>
        new Subscription(await inner.SubscribeAsync(options, cancellationToken), this);

    public ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default) =>
        inner.ReadDeadLettersAsync(maxCount, cancellationToken);

    public ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default) =>
        inner.RedriveDeadLetterAsync(id, cancellationToken);

    public IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, CancellationToken cancellationToken = default) =>
        inner.TailAsync(patterns, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private Guid IdOf(ITransportDelivery delivery)
    {
        var metadata = codec.Decode(delivery.Name, delivery.Envelope);
        return metadata.Succeeded ? metadata.Event!.Envelope.EventId : Guid.Empty;
    }

    private sealed class Subscription(ITransportSubscription inner, RecordingTransport owner) : ITransportSubscription
    {
        public string Group => inner.Group;

        public IReadOnlyList<string> Patterns => inner.Patterns;

        public async IAsyncEnumerable<ITransportDelivery> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await foreach (var delivery in inner.ReadAllAsync(cancellationToken))
                yield return new Delivery(delivery, owner);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private sealed class Delivery(ITransportDelivery inner, RecordingTransport owner) : ITransportDelivery
    {
        public string DeliveryId => inner.DeliveryId;

        public string Name => inner.Name;

        public string Group => inner.Group;

        public int DeliveryCount => inner.DeliveryCount;

        public ReadOnlyMemory<byte> Envelope => inner.Envelope;

        public async ValueTask AckAsync(CancellationToken cancellationToken = default)
        {
            await inner.AckAsync(cancellationToken);
            var id = owner.IdOf(inner);
            owner.Acked.AddOrUpdate(id, 1, static (_, n) => n + 1);
            owner.Settled.Enqueue((id, "ack", DeliveryCount));
        }

        public async ValueTask RetryLaterAsync(TimeSpan delay, CancellationToken cancellationToken = default)
        {
            await inner.RetryLaterAsync(delay, cancellationToken);
            owner.Settled.Enqueue((owner.IdOf(inner), "retry", DeliveryCount));
        }

        public async ValueTask TerminateAsync(string reason, CancellationToken cancellationToken = default)
        {
            await inner.TerminateAsync(reason, cancellationToken);
            owner.Settled.Enqueue((owner.IdOf(inner), "terminate", DeliveryCount));
        }

        public async ValueTask ExtendLeaseAsync(CancellationToken cancellationToken = default)
        {
            await inner.ExtendLeaseAsync(cancellationToken);
            owner.Extended.AddOrUpdate(owner.IdOf(inner), 1, static (_, n) => n + 1);
        }
    }
}
