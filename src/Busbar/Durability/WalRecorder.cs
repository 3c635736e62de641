using Busbar.Routing;
using Busbar.Serialization;
using Microsoft.Extensions.Logging;

namespace Busbar.Durability;

/// <summary>
/// Writes what happens to durable events into the write-ahead log: the event record at publish (serialized here, so a
/// payload that cannot be serialized fails the publish and writes nothing), how each handler with a stable name ended,
/// dead letters, refusals and re-drives. Called by the publish path and by the settler of logged events.
/// </summary>
/// <param name="log">The log written to.</param>
/// <param name="payloads">Serializes the payloads of new records.</param>
/// <param name="logger">Where a write that fails after the caller moved on is reported.</param>
internal sealed class WalRecorder(WriteAheadLog log, PayloadSerializer payloads, ILogger logger)
{
    private long _cancelledDurable;
    private RouteNames? _lastNames;

    /// <summary>Events that ended cancelled with work left in the log (redelivered after a restart).</summary>
    public long CancelledDurable => Interlocked.Read(ref _cancelledDurable);

    /// <summary>Serializes and appends the event; completes when it is durable under the flush mode.</summary>
    /// <returns><see langword="false"/> (and nothing written) when no subscription of <paramref name="route"/> has a stable name.</returns>
    /// <exception cref="ArgumentException">
    /// The payload cannot be serialized, the record is too large, or the event id is still live in the log
    /// (<see cref="PublishOptions.EventId"/> reused while the first event is unfinished). Nothing was written.
    /// </exception>
    public bool TryAppend(EventContext context, Route route, CancellationToken cancellationToken, out ValueTask append)
    {
        append = default;
        var record = ToRecord(context, route);
        if (record is null)
            return false;
        append = log.AppendNewEventAsync(record, cancellationToken);
        return true;
    }

    /// <summary>For <c>TryPublish</c>: hands the record to the log without waiting for its flush; a write failure is logged.</summary>
    /// <returns>Whether a record was written (see <see cref="TryAppend"/>).</returns>
    public bool AppendWithoutWaiting(EventContext context, Route route)
    {
        var record = ToRecord(context, route);
        if (record is null)
            return false;
        Observe(log.Post(record, requireNewEvent: true));
        return true;
    }

    /// <summary>Records how each durable handler of a finished event ended. Cancelled ones stay pending: they are redelivered after a restart.</summary>
    public void OnEventFinished(EventContext context)
    {
        var subscriptions = context.Route?.Subscriptions;
        var results = context.GetResults();
        if (subscriptions is null)
            return;
        var leftPending = false;
        for (var i = 0; i < subscriptions.Length; i++)
        {
            var subscription = subscriptions[i];
            if (!subscription.HasStableName)
                continue;
            var result = results is not null && i < results.Length ? results[i] : default;
            var status = result.SubscriptionName is null ? HandlerStatus.Succeeded : result.Status;
            switch (status)
            {
                case HandlerStatus.Succeeded:
                case HandlerStatus.Skipped:
                    Observe(log.Post(new WalHandlerFinishedRecord { EventId = context.EventId, SubscriptionName = subscription.Name, Status = WalHandlerStatus.Succeeded, Attempts = result.Attempts }));
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
        var subscriptions = context.Route?.Subscriptions;
        if (subscriptions is null)
            return;
        foreach (var subscription in subscriptions)
        {
            if (subscription.HasStableName)
                Observe(log.Post(new WalHandlerFinishedRecord { EventId = context.EventId, SubscriptionName = subscription.Name, Status = WalHandlerStatus.Cancelled, Attempts = 0 }));
        }
    }

    /// <summary>A durable event the stop cancelled before it ran: nothing is written, so it is redelivered after a restart.</summary>
    public void OnCancelledWhileQueued() => Interlocked.Increment(ref _cancelledDurable);

    public void OnDeadLettered(EventContext context, DeadLetter letter)
    {
        Observe(log.Post(new WalDeadLetterRecord
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

    /// <summary>
    /// A dead letter discarded without a re-drive: the re-driven record releases it, so it is not recovered again (the
    /// log ignores an id it does not hold, such as a letter of a subscription without a stable name).
    /// </summary>
    public void OnDeadLetterRemoved(Guid id) => Observe(log.Post(new WalDeadLetterRedrivenRecord { DeadLetterId = id }));

    /// <summary>Before a dead letter runs again: the log must know the event is pending for that subscription once more.</summary>
    /// <returns>Whether the event's record was written again (its subscription has a stable name).</returns>
    public async ValueTask<bool> OnRedriveAsync(DeadLetter letter, EventContext context, Subscription subscription, CancellationToken cancellationToken)
    {
        var route = new Route([subscription], [0], 0);
        var record = ToRecord(context, route);
        if (record is not null)
            await log.AppendEventAsync(record, cancellationToken).ConfigureAwait(false);
        await log.AppendDeadLetterRedrivenAsync(letter.Id, cancellationToken).ConfigureAwait(false);
        return record is not null;
    }

    private WalEventRecord? ToRecord(EventContext context, Route route)
    {
        if (route.DurableCount == 0)
            return null;
        var payload = payloads.SerializeToUtf8Bytes(context.Name, context.Payload);
        var names = DurableNames(route);

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

    /// <summary>
    /// The stable names of <paramref name="route"/>'s subscriptions, built once per route and shared by its records
    /// (records never change their list; a compacted copy gets a list of its own).
    /// </summary>
    private string[] DurableNames(Route route)
    {
        var cached = Volatile.Read(ref _lastNames);
        if (cached is not null && ReferenceEquals(cached.Route, route))
            return cached.Names;
        var names = new string[route.DurableCount];
        var n = 0;
        foreach (var subscription in route.Subscriptions)
        {
            if (subscription.HasStableName)
                names[n++] = subscription.Name;
        }

        Volatile.Write(ref _lastNames, new RouteNames(route, names));
        return names;
    }

    /// <summary>A posted record is observed by its batch; only a post that waits for room (backpressure) needs watching here.</summary>
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
            Diagnostics.LogMessages.JournalWriteFailed(logger, ex, log.Directory);
        }
    }

    /// <summary>One route's durable subscription names: the route of the last durable publish, so a stream of one event type builds its list once.</summary>
    private sealed record RouteNames(Route Route, string[] Names);
}
