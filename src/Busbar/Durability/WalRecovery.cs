using System.Text.Json;
using Busbar.Dispatch;
using Busbar.Routing;
using Busbar.Serialization;

namespace Busbar.Durability;

/// <summary>
/// The work a write-ahead log held at start: unfinished events waiting, by subscription name, for that subscription
/// to be registered again, and the dead letters read back. It returns what to do; the bus admits the events and keeps
/// the dead letters.
/// </summary>
internal sealed class WalRecovery
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<WalEventRecord>> _waiting = new(StringComparer.Ordinal);
    private readonly PayloadSerializer _payloads;
    private readonly string _origin;
    private readonly TimeProvider _clock;

    /// <summary>Reads what <paramref name="recovery"/> found.</summary>
    /// <param name="recovery">What the log's replay found.</param>
    /// <param name="payloads">Reads payloads back by event name.</param>
    /// <param name="origin">The name of the bus that recovers the events (their contexts' origin; the bus binds them when it admits them).</param>
    /// <param name="clock">The bus's clock; also stamps dead letters for events that cannot be read back.</param>
    public WalRecovery(WalRecoveryResult recovery, PayloadSerializer payloads, string origin, TimeProvider clock)
    {
        _payloads = payloads;
        _origin = origin;
        _clock = clock;
        foreach (var pending in recovery.UnfinishedEvents)
        {
            foreach (var subscription in pending.PendingSubscriptions)
            {
                if (!_waiting.TryGetValue(subscription, out var list))
                    _waiting[subscription] = list = [];
                list.Add(pending.Event);
            }
        }

        var deadLetters = new List<DeadLetter>(recovery.DeadLetters.Count);
        foreach (var dead in recovery.DeadLetters)
            deadLetters.Add(ToDeadLetter(dead));
        DeadLetters = deadLetters;
        Problems = recovery.Problems;
        UnfinishedCount = recovery.UnfinishedEvents.Count;
    }

    /// <summary>The dead letters the log held, with payloads read as their registered types (or as JSON when unknown).</summary>
    public IReadOnlyList<DeadLetter> DeadLetters { get; }

    /// <summary>What the replay found damaged.</summary>
    public IReadOnlyList<WalProblem> Problems { get; }

    /// <summary>The unfinished events the log held at start.</summary>
    public int UnfinishedCount { get; }

    /// <summary>The distinct events still waiting for a subscription to be registered.</summary>
    public int WaitingCount
    {
        get
        {
            lock (_lock)
            {
                var ids = new HashSet<Guid>();
                foreach (var list in _waiting.Values)
                {
                    foreach (var record in list)
                        ids.Add(record.EventId);
                }

                return ids.Count;
            }
        }
    }

    /// <summary>Waiting events by subscription name.</summary>
    public IReadOnlyDictionary<string, int> Waiting
    {
        get
        {
            lock (_lock)
            {
                var waiting = new Dictionary<string, int>(StringComparer.Ordinal);
                foreach (var (name, list) in _waiting)
                    waiting[name] = list.Count;
                return waiting;
            }
        }
    }

    /// <summary>
    /// Takes the events waiting for <paramref name="subscription"/>, once: each comes back either as a context routed
    /// to it, ready to queue, or as a dead letter when its name has no registered type or its payload cannot be read.
    /// </summary>
    public List<RecoveredEvent> Take(Subscription subscription)
    {
        List<WalEventRecord>? records;
        lock (_lock)
        {
            if (!_waiting.Remove(subscription.Name, out records))
                return [];
        }

        var recovered = new List<RecoveredEvent>(records.Count);
        foreach (var record in records)
        {
            var type = _payloads.Resolve(record.Name);
            if (type is null)
            {
                recovered.Add(Unreadable(record, subscription, $"Unknown event name '{record.Name}' on replay: no registered type has this name (register it with EventBusBuilder.RegisterEvent<T>())."));
                continue;
            }

            object? payload;
            try
            {
                payload = PayloadSerializer.Deserialize(record.Payload.Span, _payloads.Find(record.Name)!);
            }
            catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
            {
                recovered.Add(Unreadable(record, subscription, $"The payload of '{record.Name}' could not be read as {type.Name}: {ex.Message}"));
                continue;
            }

            if (payload is null)
            {
                recovered.Add(Unreadable(record, subscription, $"The payload of '{record.Name}' is null."));
                continue;
            }

            var context = FromRecord(record, payload, record.Attempt + 1);
            context.Route = new Routing.Route([subscription], [0], 0);
            recovered.Add(new RecoveredEvent(context, null));
        }

        return recovered;
    }

    /// <summary>Reads a recovered dead letter's JSON payload as its event's registered type, for re-drive; <see langword="null"/> when the type is unknown.</summary>
    public object? ReadPayload(object payload, string name)
    {
        if (payload is not JsonElement element)
            return payload;
        return _payloads.Find(name) is { } typeInfo ? element.Deserialize(typeInfo) : null;
    }

    private RecoveredEvent Unreadable(WalEventRecord record, Subscription subscription, string reason)
    {
        var payload = JsonDocument.Parse(record.Payload).RootElement.Clone();
        var now = _clock.GetUtcNow();
        return new RecoveredEvent(null, new DeadLetter
        {
            Id = EventIds.Create(now),
            Context = FromRecord(record, payload, record.Attempt),
            SubscriptionName = subscription.Name,
            Attempts = 0,
            ExceptionType = typeof(InvalidDataException).FullName!,
            ExceptionMessage = reason,
            FailedAt = now,
        });
    }

    private DeadLetter ToDeadLetter(WalDeadLetter dead)
    {
        var record = dead.Event;
        object payload;
        try
        {
            payload = _payloads.Find(record.Name) is { } typeInfo
                ? PayloadSerializer.Deserialize(record.Payload.Span, typeInfo) ?? JsonDocument.Parse(record.Payload).RootElement.Clone()
                : JsonDocument.Parse(record.Payload).RootElement.Clone();
        }
        catch (JsonException)
        {
            payload = JsonDocument.Parse(record.Payload).RootElement.Clone();
        }

        return new DeadLetter
        {
            Id = dead.DeadLetter.DeadLetterId,
            Context = FromRecord(record, payload, record.Attempt),
            SubscriptionName = dead.DeadLetter.SubscriptionName,
            Attempts = dead.DeadLetter.Attempts,
            ExceptionType = dead.DeadLetter.ExceptionType,
            ExceptionMessage = dead.DeadLetter.ExceptionMessage,
            FailedAt = dead.DeadLetter.FailedAt,
        };
    }

    private EventContext FromRecord(WalEventRecord record, object payload, int attempt)
    {
        var context = new EventContext(payload, record.Name, _origin, _clock);
        context.EventId = record.EventId;
        context.CorrelationIdValue = record.CorrelationId;
        context.CausationId = record.CausationId;
        if (record.Path.Count > 0)
            context.Path = record.Path;
        context.CreatedAt = record.CreatedAt;
        context.Priority = record.Priority;
        context.OrderingKey = record.OrderingKey;
        context.Deadline = record.Deadline;
        context.Headers = record.Headers ?? new Dictionary<string, string>(0);
        context.Attempt = attempt;
        return context;
    }
}

/// <summary>One event recovery took for a subscription: a context ready to queue, or a dead letter when it cannot be read back.</summary>
internal readonly record struct RecoveredEvent(EventContext? Ready, DeadLetter? Unreadable);
