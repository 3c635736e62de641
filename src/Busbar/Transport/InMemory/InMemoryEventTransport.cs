using Busbar.Routing;

namespace Busbar.Transport;

/// <summary>A process's connection to an in-memory broker; several may share one broker, as instances share a real one.</summary>
internal sealed class InMemoryEventTransport(InMemoryBroker broker, bool ownsBroker) : IEventTransport
{
    private readonly object _lock = new();
    private readonly List<InMemorySubscription> _subscriptions = [];
    private bool _disposed;

    public ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        foreach (var message in messages)
            EventNaming.ThrowIfInvalid(message.Name, nameof(messages));
        broker.Publish(messages);
        return default;
    }

    public ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var subscription = broker.Subscribe(options);
            _subscriptions.Add(subscription);
            return new(subscription);
        }
    }

    public ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCount, 1);
        return new(broker.ReadDeadLetters(maxCount));
    }

    public ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ObjectDisposedException.ThrowIf(_disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        return new(broker.Redrive(id));
    }

    public IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, CancellationToken cancellationToken = default)
    {
        var parsed = TransportTail.ParsePatterns(patterns);
        ObjectDisposedException.ThrowIf(_disposed, this);

        // Registered now, not at the first MoveNextAsync: "from now on" means from this call. It ends with the token, or
        // when the enumeration is disposed (an early break), whichever comes first.
        var end = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        return ReadTailAsync(broker.StartTail(parsed, end.Token), end);
    }

    private static async IAsyncEnumerable<TransportMessage> ReadTailAsync(System.Threading.Channels.ChannelReader<TransportMessage> reader, CancellationTokenSource end)
    {
        try
        {
            while (true)
            {
                TransportMessage message;
                try
                {
                    if (!await reader.WaitToReadAsync(end.Token).ConfigureAwait(false))
                        yield break;
                    if (!reader.TryRead(out message))
                        continue;
                }
                catch (OperationCanceledException)
                {
                    yield break;
                }

                yield return message;
            }
        }
        finally
        {
            await end.CancelAsync().ConfigureAwait(false);
            end.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        InMemorySubscription[] subscriptions;
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
            subscriptions = [.. _subscriptions];
        }

        foreach (var subscription in subscriptions)
            await subscription.DisposeAsync().ConfigureAwait(false);
        if (ownsBroker)
            await broker.DisposeAsync().ConfigureAwait(false);
    }
}
