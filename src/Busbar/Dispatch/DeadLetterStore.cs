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
/// <param name="removed">Told of each letter removed without a re-drive (a durable bus records it in its log).</param>
internal sealed class DeadLetterStore(
    int capacity,
    TimeProvider clock,
    BusMetrics metrics,
    string busName,
    Router router,
    Func<DeadLetter, Subscription, CancellationToken, ValueTask<EventOutcome>> redrive,
    Action<Guid> removed) : IDeadLetterStore
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

    public IReadOnlyList<DeadLetter> List(DeadLetterQuery query)
    {
        var matcher = Compile(query);
        lock (_lock)
        {
            var list = new List<DeadLetter>();
            foreach (var entry in _entries)
            {
                if (Matches(matcher, entry.Letter))
                    list.Add(entry.Letter);
            }

            return list;
        }
    }

    public async ValueTask<IReadOnlyList<EventOutcome>> RedriveAsync(DeadLetterQuery query, CancellationToken cancellationToken = default)
    {
        var chosen = List(query);
        List<string>? missing = null;
        foreach (var letter in chosen)
        {
            if (FindSubscription(letter.Id, letter.SubscriptionName) is null && !(missing ??= []).Contains(letter.SubscriptionName))
                missing.Add(letter.SubscriptionName);
        }

        if (missing is not null)
            throw new InvalidOperationException($"Dead letters matching the query belong to subscriptions that are not registered on bus '{busName}': {string.Join(", ", missing.Select(m => "'" + m + "'"))}. Nothing was re-driven; narrow the query (DeadLetterQuery.SubscriptionName) or purge those letters.");
        var outcomes = new List<EventOutcome>(chosen.Count);
        foreach (var letter in chosen)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                outcomes.Add(await RedriveAsync(letter.Id, cancellationToken).ConfigureAwait(false));
            }
            catch (KeyNotFoundException)
            {
                // Re-driven, removed or evicted since the list was taken: nothing left to do for it.
            }
        }

        return outcomes;
    }

    public bool Remove(Guid id)
    {
        lock (_lock)
        {
            if (!_byId.Remove(id, out var node))
                return false;
            _entries.Remove(node);
        }

        removed(id);
        return true;
    }

    public int Purge(DeadLetterQuery query)
    {
        var matcher = Compile(query);
        var ids = new List<Guid>();
        lock (_lock)
        {
            var node = _entries.First;
            while (node is not null)
            {
                var next = node.Next;
                if (Matches(matcher, node.Value.Letter))
                {
                    _entries.Remove(node);
                    _byId.Remove(node.Value.Letter.Id);
                    ids.Add(node.Value.Letter.Id);
                }

                node = next;
            }
        }

        foreach (var id in ids)
            removed(id);
        return ids.Count;
    }

    public IReadOnlyDictionary<string, int> CountsByExceptionType()
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var entry in _entries)
                counts[entry.Letter.ExceptionType] = counts.GetValueOrDefault(entry.Letter.ExceptionType) + 1;
        }

        return counts;
    }

    private static DeadLetterQuery.Matcher Compile(DeadLetterQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        return query.Compile();
    }

    private static bool Matches(DeadLetterQuery.Matcher matcher, DeadLetter letter) =>
        matcher.Matches(letter.SubscriptionName, letter.Context.Name, letter.ExceptionType, letter.FailedAt);

    private Subscription? FindSubscription(Guid id, string subscriptionName)
    {
        Subscription? own;
        lock (_lock)
        {
            own = _byId.TryGetValue(id, out var node) ? node.Value.Subscription : null;
        }

        return own is { IsActive: true } live ? live : router.FindActive(subscriptionName);
    }

    private sealed record Entry(DeadLetter Letter, Subscription? Subscription);
}
