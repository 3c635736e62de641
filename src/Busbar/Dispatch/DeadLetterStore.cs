namespace Busbar.Dispatch;

/// <summary>The bounded in-memory dead-letter store of one bus. Oldest entries are evicted (and counted) when full.</summary>
internal sealed class DeadLetterStore(InProcessEventBus bus, int capacity) : IDeadLetterStore
{
    private readonly object _lock = new();
    private readonly LinkedList<Entry> _entries = new();
    private readonly Dictionary<Guid, LinkedListNode<Entry>> _byId = [];
    private long _evicted;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    public long Evicted => Interlocked.Read(ref _evicted);

    public DeadLetter Add(EventContext context, SubscriptionEntry subscription, HandlerResult result)
    {
        var exception = result.Exception;
        var letter = new DeadLetter
        {
            Id = EventIds.Create(bus.TimeProvider.GetUtcNow()),
            Context = context,
            SubscriptionName = subscription.Name,
            Attempts = result.Attempts,
            Exception = exception,
            ExceptionType = exception?.GetType().FullName ?? "unknown",
            ExceptionMessage = exception?.Message ?? result.Status.ToString(),
            FailedAt = bus.TimeProvider.GetUtcNow(),
        };
        Add(letter, subscription);
        return letter;
    }

    /// <summary>A dead letter read back from the write-ahead log at start: not counted again.</summary>
    public void AddRecovered(DeadLetter letter)
    {
        lock (_lock)
        {
            _byId[letter.Id] = _entries.AddLast(new Entry(letter, null));
        }
    }

    public void Add(DeadLetter letter, SubscriptionEntry? subscription)
    {
        bus.Metrics.DeadLettered(letter.Context, letter.SubscriptionName);
        lock (_lock)
        {
            if (_entries.Count >= capacity && _entries.First is { } oldest)
            {
                _entries.RemoveFirst();
                _byId.Remove(oldest.Value.Letter.Id);
                _evicted++;
            }

            _byId[letter.Id] = _entries.AddLast(new Entry(letter, subscription));
        }
    }

    public IReadOnlyList<DeadLetter> List()
    {
        lock (_lock)
        {
            var list = new List<DeadLetter>(_entries.Count);
            foreach (var entry in _entries)
                list.Add(entry.Letter);
            return list;
        }
    }

    public async ValueTask<EventOutcome> RedriveAsync(Guid id, CancellationToken cancellationToken = default)
    {
        Entry entry;
        lock (_lock)
        {
            if (!_byId.TryGetValue(id, out var node))
                throw new KeyNotFoundException($"No dead letter with id {id} on bus '{bus.Name}'.");
            entry = node.Value;
        }

        var subscription = entry.Subscription is { IsActive: true } live ? live : bus.FindSubscription(entry.Letter.SubscriptionName);
        if (subscription is null)
            throw new InvalidOperationException($"Dead letter {id} belongs to subscription '{entry.Letter.SubscriptionName}', which is not registered on bus '{bus.Name}'.");
        lock (_lock)
        {
            if (!_byId.Remove(id, out var node))
                throw new KeyNotFoundException($"Dead letter {id} was re-driven or evicted meanwhile.");
            _entries.Remove(node);
        }

        return await bus.RedriveAsync(entry.Letter, subscription, cancellationToken).ConfigureAwait(false);
    }

    private sealed record Entry(DeadLetter Letter, SubscriptionEntry? Subscription);
}
