using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Busbar.Dispatch;
using Busbar.Routing;
using Microsoft.Extensions.Logging;

namespace Busbar.Durability;

/// <summary>
/// Connects a bus to its write-ahead log: serializes payloads at publish (so a payload that cannot
/// be serialized fails the publish and writes nothing), records handler completion and dead
/// letters, and re-dispatches recovered work when the named subscriptions it belongs to are
/// registered again.
/// </summary>
internal sealed class DurableJournal : IAsyncDisposable
{
    private readonly InProcessEventBus _bus;
    private readonly JsonSerializerOptions _json;
    private readonly object _lock = new();
    private readonly EventNameRegistry _names = new();
    private readonly Dictionary<string, List<WalEventRecord>> _pending = new(StringComparer.Ordinal);
    private long _cancelledDurable;

    public DurableJournal(InProcessEventBus bus, WriteAheadLog log, JsonSerializerOptions json, IEnumerable<Type> knownTypes)
    {
        _bus = bus;
        Log = log;
        _json = json;
        foreach (var type in knownTypes)
            RegisterType(type);
        var recovery = log.Recovery;
        foreach (var pending in recovery.UnfinishedEvents)
        {
            foreach (var subscription in pending.PendingSubscriptions)
            {
                if (!_pending.TryGetValue(subscription, out var list))
                    _pending[subscription] = list = [];
                list.Add(pending.Event);
            }
        }

        foreach (var dead in recovery.DeadLetters)
            bus.DeadLetterStore.AddRecovered(ToDeadLetter(dead));
        Problems = recovery.Problems;
        if (_pending.Count > 0)
            Busbar.Diagnostics.Log.RecoveryWaiting(bus.Logger, log.Directory, recovery.UnfinishedEvents.Count, string.Join(", ", _pending.Keys));
    }

    public WriteAheadLog Log { get; }

    public IReadOnlyList<WalProblem> Problems { get; }

    public void RegisterType(Type type) => _names.Add(type);

    /// <summary>Serializes and appends the event; completes when it is durable under the flush mode.</summary>
    /// <exception cref="ArgumentException">
    /// The payload cannot be serialized, the record is too large, or the event id is still live in the log
    /// (<see cref="PublishOptions.EventId"/> reused while the first event is unfinished). Nothing was written.
    /// </exception>
    public ValueTask AppendAsync(EventContext context, Route route, CancellationToken cancellationToken)
    {
        var record = ToRecord(context, route);
        if (record is null)
            return default;
        var append = Log.AppendNewEventAsync(record, cancellationToken);
        context.IsLogged = true;
        return append;
    }

    /// <summary>For <c>TryPublish</c>: hands the record to the log without waiting for its flush; a write failure is logged.</summary>
    public void AppendWithoutWaiting(EventContext context, Route route) => Observe(AppendAsync(context, route, CancellationToken.None));

    private WalEventRecord? ToRecord(EventContext context, Route route)
    {
        if (route.DurableCount == 0)
            return null;
        var type = context.Payload.GetType();
        RegisterType(type);
        byte[] payload;
        try
        {
            payload = JsonSerializer.SerializeToUtf8Bytes(context.Payload, TypeInfo(type));
        }
        catch (Exception ex)
        {
            // Any serializer failure, including an exception thrown by a property getter of the event.
            throw new ArgumentException($"Event '{context.Name}' ({type.FullName}) cannot be serialized for the write-ahead log: {ex.Message}", "event", ex);
        }

        var names = new List<string>(route.DurableCount);
        foreach (var entry in route.Entries)
        {
            if (entry.HasStableName)
                names.Add(entry.Name);
        }

        return new WalEventRecord
        {
            EventId = context.EventId,
            Name = context.Name,
            CorrelationId = context.CorrelationId,
            CausationId = context.CausationId,
            Path = context.Path,
            CreatedAt = context.CreatedAt,
            Priority = context.Priority,
            OrderingKey = context.OrderingKey,
            Deadline = context.Deadline,
            Headers = context.Headers.Count == 0 ? null : context.Headers,
            Attempt = context.Attempt,
            Subscriptions = names,
            Payload = payload,
        };
    }

    private JsonTypeInfo TypeInfo(Type type) => _json.GetTypeInfo(type);

    /// <summary>Records how each durable handler of a finished event ended. Cancelled ones stay pending: they are redelivered after a restart.</summary>
    public void OnEventFinished(EventContext context)
    {
        var entries = context.Route?.Entries;
        var results = context.Results;
        if (entries is null)
            return;
        var leftPending = false;
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = entries[i];
            if (!entry.HasStableName)
                continue;
            var result = results is not null && i < results.Length ? results[i] : default;
            var status = result.SubscriptionName is null ? HandlerStatus.Succeeded : result.Status;
            switch (status)
            {
                case HandlerStatus.Succeeded:
                case HandlerStatus.Skipped:
                    Observe(Log.AppendHandlerFinishedAsync(context.EventId, entry.Name, WalHandlerStatus.Succeeded, result.Attempts));
                    break;
                case HandlerStatus.Cancelled:
                    leftPending = true;
                    break;
                default:
                    // Failed and timed-out invocations were written as dead letters when they failed.
                    break;
            }
        }

        if (leftPending)
            Interlocked.Increment(ref _cancelledDurable);
    }

    /// <summary>
    /// A durable event the bus refused or dropped (BusFullMode Reject, DropNewest or DropOldest, or a publish that met
    /// the stop): its subscriptions are finished as cancelled, so it is not redelivered after a restart. A drop the
    /// user chose means the event is gone, durable or not; a refused publish failed, so its caller knows it was not
    /// accepted. (An event cancelled while queued by a stop is different: it stays in the log, see
    /// <see cref="OnCancelledWhileQueued"/>.)
    /// </summary>
    public void OnRefused(EventContext context)
    {
        var entries = context.Route?.Entries;
        if (entries is null)
            return;
        foreach (var entry in entries)
        {
            if (entry.HasStableName)
                Observe(Log.AppendHandlerFinishedAsync(context.EventId, entry.Name, WalHandlerStatus.Cancelled, 0));
        }
    }

    /// <summary>A durable event the stop cancelled before it ran: nothing is written, so it is redelivered after a restart.</summary>
    public void OnCancelledWhileQueued() => Interlocked.Increment(ref _cancelledDurable);

    public void OnDeadLettered(EventContext context, DeadLetter letter)
    {
        Observe(Log.AppendDeadLetterAsync(new WalDeadLetterRecord
        {
            DeadLetterId = letter.Id,
            EventId = context.EventId,
            SubscriptionName = letter.SubscriptionName,
            Attempts = letter.Attempts,
            ExceptionType = letter.ExceptionType,
            ExceptionMessage = letter.ExceptionMessage,
            FailedAt = letter.FailedAt,
        }));
    }

    /// <summary>Before a dead letter runs again: the log must know the event is pending for that subscription once more.</summary>
    public async ValueTask OnRedriveAsync(DeadLetter letter, EventContext context, SubscriptionEntry subscription, CancellationToken cancellationToken)
    {
        var route = new Route([subscription], [0], 0);
        var record = ToRecord(context, route);
        if (record is not null)
        {
            context.IsLogged = true;
            await Log.AppendEventAsync(record, cancellationToken).ConfigureAwait(false);
        }

        await Log.AppendDeadLetterRedrivenAsync(letter.Id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Called when a named subscription is registered: re-dispatches recovered events pending for it.</summary>
    public void OnSubscribed(SubscriptionEntry entry)
    {
        if (entry.EventType is { } own)
            RegisterType(own);
        List<WalEventRecord>? records;
        lock (_lock)
        {
            if (!_pending.Remove(entry.Name, out records))
                return;
        }

        foreach (var record in records)
        {
            var type = ResolveType(record.Name);
            if (type is null)
            {
                DeadLetterUnknown(record, entry, $"Unknown event name '{record.Name}' on replay: no registered type has this name (register it with EventBusBuilder.RegisterEvent<T>()).");
                continue;
            }

            object? payload;
            try
            {
                payload = JsonSerializer.Deserialize(record.Payload.Span, TypeInfo(type));
            }
            catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
            {
                DeadLetterUnknown(record, entry, $"The payload of '{record.Name}' could not be read as {type.Name}: {ex.Message}");
                continue;
            }

            if (payload is null)
            {
                DeadLetterUnknown(record, entry, $"The payload of '{record.Name}' is null.");
                continue;
            }

            var context = FromRecord(record, payload, record.Attempt + 1);
            context.Route = new Route([entry], [0], 0);
            context.IsLogged = true;
            _bus.AdmitRecovered(context);
        }
    }

    public int WaitingCount
    {
        get
        {
            lock (_lock)
            {
                var ids = new HashSet<Guid>();
                foreach (var list in _pending.Values)
                {
                    foreach (var record in list)
                        ids.Add(record.EventId);
                }

                return ids.Count;
            }
        }
    }

    public IReadOnlyDictionary<string, int> Waiting
    {
        get
        {
            lock (_lock)
            {
                var waiting = new Dictionary<string, int>(StringComparer.Ordinal);
                foreach (var (name, list) in _pending)
                    waiting[name] = list.Count;
                return waiting;
            }
        }
    }

    public long CancelledDurable => Interlocked.Read(ref _cancelledDurable);

    private Type? ResolveType(string name) => _names.Resolve(name);

    private void DeadLetterUnknown(WalEventRecord record, SubscriptionEntry entry, string reason)
    {
        var payload = JsonDocument.Parse(record.Payload).RootElement.Clone();
        var context = FromRecord(record, payload, record.Attempt);
        var letter = new DeadLetter
        {
            Id = EventIds.Create(_bus.TimeProvider.GetUtcNow()),
            Context = context,
            SubscriptionName = entry.Name,
            Attempts = 0,
            ExceptionType = typeof(InvalidDataException).FullName!,
            ExceptionMessage = reason,
            FailedAt = _bus.TimeProvider.GetUtcNow(),
        };
        _bus.DeadLetterStore.Add(letter, entry);
        OnDeadLettered(context, letter);
    }

    private DeadLetter ToDeadLetter(WalDeadLetter dead)
    {
        var record = dead.Event;
        object payload;
        var type = ResolveType(record.Name);

        try
        {
            payload = type is null
                ? JsonDocument.Parse(record.Payload).RootElement.Clone()
                : JsonSerializer.Deserialize(record.Payload.Span, TypeInfo(type)) ?? (object)JsonDocument.Parse(record.Payload).RootElement.Clone();
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

    /// <summary>Reads a recovered dead letter's JSON payload as the subscription's type, for re-drive.</summary>
    public object? Materialize(object payload, string name)
    {
        if (payload is not JsonElement element)
            return payload;
        var type = ResolveType(name);
        return type is null ? null : element.Deserialize(TypeInfo(type));
    }

    private EventContext FromRecord(WalEventRecord record, object payload, int attempt) =>
        new(_bus, payload, record.Name)
        {
            EventId = record.EventId,
            CorrelationIdValue = record.CorrelationId,
            CausationId = record.CausationId,
            Path = record.Path.Count == 0 ? [_bus.Name] : record.Path,
            CreatedAt = record.CreatedAt,
            Priority = record.Priority,
            OrderingKey = record.OrderingKey,
            Deadline = record.Deadline,
            Headers = record.Headers ?? new Dictionary<string, string>(0),
            Attempt = attempt,
        };

    private void Observe(ValueTask pending)
    {
        if (pending.IsCompletedSuccessfully)
            return;
        _ = ObserveAsync(pending);
    }

    private async Task ObserveAsync(ValueTask pending)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Busbar.Diagnostics.Log.JournalWriteFailed(_bus.Logger, ex, Log.Directory);
        }
    }

    public ValueTask DisposeAsync() => Log.DisposeAsync();
}
