using System.Threading.Channels;

namespace Busbar.Transport;

/// <summary>One consumer of an in-memory group. Its in-flight count is guarded by the broker's lock.</summary>
internal sealed class InMemorySubscription : ITransportSubscription
{
    private readonly InMemoryBroker _broker;
    private readonly Channel<ITransportDelivery> _deliveries = Channel.CreateUnbounded<ITransportDelivery>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });
    private int _closed;

    public InMemorySubscription(InMemoryBroker broker, InMemoryBroker.BrokerGroup group, TransportSubscriptionOptions options)
    {
        _broker = broker;
        Group = group;
        MaxInFlight = options.MaxInFlight;
        Patterns = [.. options.Patterns];
    }

    public InMemoryBroker.BrokerGroup Group { get; }

    string ITransportSubscription.Group => Group.Name;

    public IReadOnlyList<string> Patterns { get; }

    public int MaxInFlight { get; }

    /// <summary>Unsettled deliveries; the channel holds at most this many, so it needs no bound of its own.</summary>
    public int InFlight { get; set; }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    public InMemoryBroker Broker => _broker;

    /// <summary>Called under the broker's lock, in assignment order: the reader's continuation runs asynchronously, never here.</summary>
    public void Offer(ITransportDelivery delivery) => _deliveries.Writer.TryWrite(delivery);

    // The channel's own enumerator, not a wrapper around it: one iterator step per delivery rather than two.
    public IAsyncEnumerable<ITransportDelivery> ReadAllAsync(CancellationToken cancellationToken = default) =>
        _deliveries.Reader.ReadAllAsync(cancellationToken);

    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _broker.Unsubscribe(this);
            _deliveries.Writer.TryComplete();
        }

        return default;
    }
}
