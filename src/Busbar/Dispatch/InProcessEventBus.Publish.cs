using Busbar.Diagnostics;
using Busbar.Routing;
using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>Publishing: context creation, validation, admission into the queue (backpressure, overflow, the write-ahead log append), refusal.</summary>
internal sealed partial class InProcessEventBus
{
    public ValueTask<EventHandle> PublishAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull
    {
        var context = CreateContext(@event, options, queued: true);
        if (_link is not null && _link.IsRemote(context.Name))
            return PublishToTransport(context, cancellationToken);
        return _log is null ? Admit(context, cancellationToken) : AdmitDurableAsync(context, cancellationToken);
    }

    /// <summary>With a write-ahead log the event is appended (and durable under the flush mode) before it is admitted.</summary>
    /// <remarks>
    /// The publish is counted in <see cref="_appending"/> until it is admitted or refused, so a stop does not close the
    /// log under it: a publish that finds the queue closed after its record was written must still record the refusal.
    /// </remarks>
    private async ValueTask<EventHandle> AdmitDurableAsync(EventContext context, CancellationToken cancellationToken)
    {
        var route = context.Route ??= Router.Resolve(context.Payload.GetType(), context.Name);
        BeginAppending(context);
        try
        {
            try
            {
                if (_walRecorder!.TryAppend(context, route, cancellationToken, out var append))
                {
                    context.Settler = _loggedSettler;
                    await append.ConfigureAwait(false);
                }
            }
            catch (Exception)
            {
                // Counted as published: a publish whose record could not be written ends as rejected.
                Refuse(context, EventStatus.Rejected);
                throw;
            }

            return await Admit(context, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            EndAppending();
        }
    }

    /// <summary>
    /// Counts a durable publish in <see cref="_appending"/>, then refuses it if a stop has begun: the stop may have found no
    /// publish appending and closed the log already (the count and the stop's flag are each written before the other side reads
    /// them, so one of the two sees the other). Refused, it throws <see cref="BusStoppedException"/> as any publish after the stop.
    /// </summary>
    private void BeginAppending(EventContext context)
    {
        Interlocked.Increment(ref _appending);
        if (!_inFlight.IsStopping)
            return;
        EndAppending();
        Refuse(context, EventStatus.Rejected);
        throw StoppedException();
    }

    /// <summary>A durable publish was admitted or refused; the last one of a stop lets the stop close the log.</summary>
    private void EndAppending()
    {
        if (Interlocked.Decrement(ref _appending) == 0 && _inFlight.IsStopping)
            Volatile.Read(ref _appendsDone)?.TrySetResult();
    }

    public bool TryPublish<T>(T @event, out EventHandle handle, PublishOptions? options = null)
        where T : notnull
    {
        var context = CreateContext(@event, options, queued: true);
        handle = new EventHandle(context);
        if (_link is not null && _link.IsRemote(context.Name))
            return TryPublishToTransport(context);
        if (_walRecorder is null)
            return TryAdmitOrRefuse(context);

        // Never waits: the record is handed to the log, durable at its next flush. Counted as appending until admitted or
        // refused, as PublishAsync's, so a stop does not close the log under it.
        var route = context.Route ??= Router.Resolve(context.Payload.GetType(), context.Name);
        BeginAppending(context);
        try
        {
            if (_walRecorder.AppendWithoutWaiting(context, route))
                context.Settler = _loggedSettler;
            return TryAdmitOrRefuse(context);
        }
        finally
        {
            EndAppending();
        }
    }

    private bool TryAdmitOrRefuse(EventContext context)
    {
        if (TryAdmitNow(context))
            return true;
        Refuse(context, Options.FullMode == BusFullMode.DropNewest ? EventStatus.Dropped : EventStatus.Rejected);
        return false;
    }

    public async ValueTask<IReadOnlyList<EventHandle>> PublishBatchAsync<T>(IEnumerable<T> events, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull
    {
        ArgumentNullException.ThrowIfNull(events);

        // One batch span around the events' own publish spans (they become its children).
        using var batch = BusTracing.StartPublishBatch(Name);
        if (batch is null)
            return await PublishBatchCoreAsync(events, options, cancellationToken).ConfigureAwait(false);
        try
        {
            var handles = await PublishBatchCoreAsync(events, options, cancellationToken).ConfigureAwait(false);
            BusTracing.EndPublishBatch(batch, handles, null);
            return handles;
        }
        catch (Exception ex)
        {
            BusTracing.EndPublishBatch(batch, null, ex);
            throw;
        }
    }

    private async ValueTask<IReadOnlyList<EventHandle>> PublishBatchCoreAsync<T>(IEnumerable<T> events, PublishOptions? options, CancellationToken cancellationToken)
        where T : notnull
    {
        if (options?.EventId is not null)
            throw new ArgumentException("PublishOptions.EventId cannot be used with PublishBatchAsync: every event of the batch would share the id.", nameof(options));
        if (_link is not null)
            return await PublishEachAsync(events, options, cancellationToken).ConfigureAwait(false);

        // Validate everything first: an invalid event in the batch admits none of them. The clock is
        // read once for the batch.
        var contexts = new List<EventContext>(events is ICollection<T> c ? c.Count : 16);
        var now = TimeProvider.GetUtcNow();
        foreach (var e in events)
            contexts.Add(CreateContext(e, options, queued: true, countPublished: false, now));
        var handles = new EventHandle[contexts.Count];

        // Counted as published before any is admitted: a worker may finish one at once, and its outcome must
        // not be counted before its publish.
        Metrics.PublishedMany(contexts, 0, contexts.Count);
        var first = _log is null ? AdmitRun(contexts) : 0;
        for (var i = 0; i < first; i++)
            handles[i] = new EventHandle(contexts[i]);
        var next = first;
        try
        {
            for (; next < contexts.Count; next++)
            {
                try
                {
                    handles[next] = _log is null
                        ? await Admit(contexts[next], cancellationToken).ConfigureAwait(false)
                        : await AdmitDurableAsync(contexts[next], cancellationToken).ConfigureAwait(false);
                }
                catch (BusFullException)
                {
                    // One backpressure decision per event: a refused event gets a rejected handle, the batch goes on.
                    handles[next] = new EventHandle(contexts[next]);
                }
            }
        }
        catch (Exception) when (next < contexts.Count)
        {
            // Stopped or cancelled part-way: the events not yet admitted were counted as published, so they end
            // as rejected (the one that threw already is).
            for (var i = next; i < contexts.Count; i++)
                Refuse(contexts[i], EventStatus.Rejected);
            throw;
        }

        return handles;
    }

    /// <summary>
    /// The cheap part of a batch: admits the leading events that fit with one queue lock, one history
    /// lock and one counter update. Returns how many; the caller takes the rest one by one (waiting,
    /// dropping or rejecting per event).
    /// </summary>
    private int AdmitRun(List<EventContext> contexts)
    {
        if (contexts.Count == 0)
            return 0;
        var limit = LimitFor(contexts[0]);
        var timed = Metrics.DwellEnabled || Logger.IsEnabled(LogLevel.Debug);
        var stamp = timed ? TimeProvider.GetTimestamp() : 0;
        foreach (var context in contexts)
            context.EnqueuedTimestamp = stamp;

        var admitted = _queue.TryEnqueueRange(contexts, 0, limit);
        for (var i = 0; i < admitted; i++)
            contexts[i].LinkToPublisher();
        for (var i = admitted; i < contexts.Count; i++)
            contexts[i].EnqueuedTimestamp = 0;

        if (admitted == 0)
            return 0;
        _history.AddRange(contexts, 0, admitted);
        for (var i = 0; i < admitted; i++)
        {
            EventLogger.Published(contexts[i]);
            BusTracing.EndPublish(contexts[i], null);
        }

        return admitted;
    }

    /// <summary>Admits at once if there is room (or DropOldest makes some); false when full. Throws when the bus is stopped.</summary>
    private bool TryAdmitNow(EventContext context)
    {
        EnterFlight(context);
        var result = _queue.TryEnqueue(context, LimitFor(context), Options.FullMode == BusFullMode.DropOldest, out var evicted, out var alsoEvicted);
        if (result == EnqueueResult.Admitted)
            OnAdmitted(context);
        if (evicted is not null)
            DropEvicted(evicted, alsoEvicted);
        switch (result)
        {
            case EnqueueResult.Admitted:
                return true;
            case EnqueueResult.ClosedWhileAdmitting:
                // The stop closed the queue while this event was on its way in, and it was taken back: it counts in flight.
                UndoFlight(context);
                Refuse(context, EventStatus.Rejected, leavesFlight: true);
                throw StoppedException();
            case EnqueueResult.Closed:
                // The stop closed the queue after this publish was counted: it ends as rejected, like a
                // publisher whose wait for room the stop ended.
                UndoFlight(context);
                Refuse(context, EventStatus.Rejected);
                throw StoppedException();
            default:
                UndoFlight(context);
                return false;
        }
    }

    /// <summary>Ends the events a <c>DropOldest</c> admission evicted (claimed by the queue) as dropped.</summary>
    private void DropEvicted(EventContext evicted, List<EventContext>? alsoEvicted)
    {
        Refuse(evicted, EventStatus.Dropped, leavesFlight: true);
        if (alsoEvicted is null)
            return;
        foreach (var other in alsoEvicted)
            Refuse(other, EventStatus.Dropped, leavesFlight: true);
    }

    private ValueTask<EventHandle> Admit(EventContext context, CancellationToken cancellationToken)
    {
        if (TryAdmitNow(context))
            return new ValueTask<EventHandle>(new EventHandle(context));
        if (IsOwnHandler())
        {
            Refuse(context, EventStatus.Rejected);
            throw new BusFullException($"Bus '{Name}' is full: a handler published into its own bus beyond twice the capacity ({Options.Capacity}); the event was rejected instead of waiting, which could deadlock.");
        }

        switch (Options.FullMode)
        {
            case BusFullMode.Wait:
                return WaitForRoomAsync(context, cancellationToken);
            case BusFullMode.DropNewest:
                Refuse(context, EventStatus.Dropped);
                return new ValueTask<EventHandle>(new EventHandle(context));
            default:
                Refuse(context, EventStatus.Rejected);
                throw new BusFullException($"Bus '{Name}' is full ({Options.Capacity} events); the event '{context.Name}' was rejected.");
        }
    }

    /// <summary>A handler publishing into its own bus may exceed capacity (up to twice) instead of waiting.</summary>
    private int LimitFor(EventContext context) => IsOwnHandler() ? _overflowLimit : Options.Capacity;

    /// <summary>
    /// True when the caller is a handler of an event this bus's local sources run (its queue workers, inline, a queue jump).
    /// A broker delivery runs beside the queue, not on its workers, so its handlers wait for room like any publisher and
    /// never jump the queue, although their context's bus is this one.
    /// </summary>
    private bool IsOwnHandler() => Ambient.CurrentContext is { } current && current.LocalBus == this && current.Delivery is null;

    /// <summary>Stamps the event before it enters the queue (a worker may take it at once). The queue counts it in flight when it adds it.</summary>
    private void EnterFlight(EventContext context)
    {
        // The clock is read only when someone looks at queue dwell time: a read costs tens of nanoseconds.
        if (Metrics.DwellEnabled || Logger.IsEnabled(LogLevel.Debug))
            context.EnqueuedTimestamp = TimeProvider.GetTimestamp();
    }

    /// <summary>The queue did not take the event: it was never counted in flight.</summary>
    private static void UndoFlight(EventContext context) => context.EnqueuedTimestamp = 0;

    private void OnAdmitted(EventContext context)
    {
        context.LinkToPublisher();
        _history.Add(context);
        EventLogger.Published(context);
        BusTracing.EndPublish(context, null);
    }

    /// <summary>
    /// Completes an event that will not run: refused at admission (full, or the queue closed under the publish),
    /// or evicted by DropOldest. The settler its source chose records the refusal (with a write-ahead log, the log must
    /// not deliver it after a restart).
    /// </summary>
    /// <param name="context">The event.</param>
    /// <param name="status">Dropped or rejected.</param>
    /// <param name="leavesFlight">The event was in the queue (evicted by DropOldest), so it leaves the in-flight count; a refused publish never entered it.</param>
    private void Refuse(EventContext context, EventStatus status, bool leavesFlight = false)
    {
        if (!context.TryBeginComplete(status))
            return;
        context.UnlinkPublisher();
        (context.Settler ?? _queuedSettler).RecordRefusal(context);
        if (status == EventStatus.Dropped)
            Metrics.Dropped(context);
        else
            Metrics.Rejected(context);
        var last = leavesFlight && _inFlight.LeaveDuringStop();
        context.EndComplete();
        if (last)
            _inFlight.SignalDrained();
        EventLogger.Refused(context, status);
        BusTracing.EndPublish(context, status);
        if (Options.OnEventShed is { } callback)
        {
            try
            {
                callback(new EventShedArguments(context, status));
            }
            catch (Exception ex)
            {
                EventLogger.CallbackFailed(context, ex);
            }
        }
    }

    internal EventContext CreateContext<T>(T @event, PublishOptions? options, bool queued, bool countPublished = true, DateTimeOffset? now = null)
        where T : notnull
    {
        if (@event is null)
            throw new ArgumentNullException(nameof(@event));
        if (_inFlight.IsStopping)
            throw StoppedException();
        options?.Validate();
        var type = @event.GetType();
        var name = type == typeof(T) ? EventNameCache<T>.Name : EventNaming.GetName(type);
        _validation.Validate(@event, type, name);
        var context = new EventContext(this, @event, name) { Options = options };
        if (queued && Options.FlowExecutionContext)
            context.FlowedExecutionContext = ExecutionContext.Capture();
        if (options is not null)
        {
            context.Priority = options.Priority;
            context.OrderingKey = options.OrderingKey;
            if (options.EventId is { } id)
                context.EventId = id;
            if (options.Headers is { } headers)
                context.Headers = headers;
        }

        if (queued || options?.DeadlineAfter is not null)
        {
            var createdAt = now ?? TimeProvider.GetUtcNow();
            context.CreatedAt = createdAt;
            if (options?.EventId is null)
                context.EventId = EventIds.Create(createdAt);
            if (options?.DeadlineAfter is { } timeout)
                context.Deadline = createdAt + timeout;
        }

        Ambient.Current(out var parent, out var parentSubscription);
        if (parent is not null)
        {
            context.CorrelationId = options?.CorrelationId ?? parent.CorrelationId;
            context.CausationId = options?.CausationId ?? parent.EventId;

            // A queued event becomes its publisher's child when it is admitted, not if it is refused.
            if (queued)
                context.SetPublisher(parent, parentSubscription);
            else
                parent.AddChild(parentSubscription, context.EventId);
        }
        else
        {
            if (options?.CorrelationId is { } correlation)
                context.CorrelationId = correlation;
            context.CausationId = options?.CausationId;
        }

        if (countPublished && queued)
            Metrics.Published(context);
        if (queued)
            BusTracing.StartPublish(context);
        return context;
    }
}
