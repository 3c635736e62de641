using Busbar.Diagnostics;
using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>The bounded in-memory dead-letter store of one bus. Oldest entries are evicted (and counted) when full.</summary>
/// <param name="capacity">How many letters it keeps (<see cref="EventBusOptions.DeadLetterCapacity"/>).</param>
/// <param name="clock">Stamps and ids new letters.</param>
/// <param name="metrics">Counts letters added.</param>
/// <param name="busName">The bus named in error messages.</param>
/// <param name="router">Finds the live subscription of a letter whose own subscription was removed and registered again.</param>
/// <param name="redrive">Runs a letter taken out of the store on its subscription and returns the outcome.</param>
internal sealed class DeadLetterStore(
    int capacity,
    TimeProvider clock,
    BusMetrics metrics,
    string busName,
    Router router,
    Func<DeadLetter, Subscription, CancellationToken, ValueTask<EventOutcome>> redrive) : IDeadLetterStore
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

    public DeadLetter Add(EventContext context, Subscription subscription, HandlerResult result)
    {
        var exception = result.Exception;
        var letter = new DeadLetter
        {
            Id = EventIds.Create(clock.GetUtcNow()),
            Context = context,
            SubscriptionName = subscription.Name,
            Attempts = result.Attempts,
            Exception = exception,
            ExceptionType = exception?.GetType().FullName ?? "unknown",
            ExceptionMessage = exception?.Message ?? result.Status.ToString(),
            FailedAt = clock.GetUtcNow(),
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

    public void Add(DeadLetter letter, Subscription? subscription)
    {
        metrics.DeadLettered(letter.Context, letter.SubscriptionName);
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
                throw new KeyNotFoundException($"No dead letter with id {id} on bus '{busName}'.");
            entry = node.Value;
        }

        var subscription = entry.Subscription is { IsActive: true } live ? live : router.FindActive(entry.Letter.SubscriptionName);
        if (subscription is null)
            throw new InvalidOperationException($"Dead letter {id} belongs to subscription '{entry.Letter.SubscriptionName}', which is not registered on bus '{busName}'.");
        lock (_lock)
        {
            if (!_byId.Remove(id, out var node))
                throw new KeyNotFoundException($"Dead letter {id} was re-driven or evicted meanwhile.");
            _entries.Remove(node);
        }

        return await redrive(entry.Letter, subscription, cancellationToken).ConfigureAwait(false);
    }

    private sealed record Entry(DeadLetter Letter, Subscription? Subscription);
}
