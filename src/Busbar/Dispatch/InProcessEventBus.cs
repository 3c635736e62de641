using System.ComponentModel.DataAnnotations;
using Busbar.Diagnostics;
using Busbar.Durability;
using Busbar.Routing;
using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>
/// The bus. An event goes: <see cref="PublishAsync{T}"/> → <see cref="CreateContext"/> (validate,
/// name, ids) → <see cref="Admit"/> into the <see cref="EventQueue"/> → a worker of
/// <see cref="EventWorkers"/> → <see cref="EventProcessor.ProcessAsync"/> → handlers →
/// <see cref="OnEventFinished"/>. Inline dispatch skips the queue and calls the processor directly.
/// </summary>
internal sealed partial class InProcessEventBus : IEventBus
{
    private static int s_unnamed;

    // The grace periods after cancellation are a safety net against handlers and disks that never
    // return, so they run on the real clock: a fake clock a test forgot to advance must not be able
    // to hang shutdown. The drain timeout itself is on the bus's TimeProvider.
    private static readonly TimeSpan s_cancelGrace = TimeSpan.FromSeconds(5);
    private static readonly TimeProvider s_safetyClock = TimeProvider.System;

    private readonly EventQueue _queue;
    private readonly EventWorkers _workers;
    private readonly EventHistory _history;
    private readonly DeadLetterStore _deadLetters;
    private readonly BusValidation _validation;
    private readonly CancellationTokenSource _stopCts = new();
    private readonly int _overflowLimit;
    private readonly object _stopLock = new();
    private Task<StopReport>? _stopTask;
    private volatile bool _stopping;
    private readonly InFlightCounter _inFlight = new();
    private TaskCompletionSource? _drained;
    private readonly DurableJournal? _journal;
    private int _appending;
    private TaskCompletionSource? _appendsDone;

    public InProcessEventBus(EventBusOptions options, TimeProvider timeProvider, ILoggerFactory? loggerFactory, BusValidation validation, DurabilitySetup? durability = null)
    {
        options.Validate();
        Options = options;
        Name = options.Name ?? $"bus-{Interlocked.Increment(ref s_unnamed)}";
        TimeProvider = timeProvider;
        Logger = loggerFactory?.CreateLogger("Busbar") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        Metrics = new BusMetrics(Name);
        Router = new Router();
        Processor = new EventProcessor(this);
        _validation = validation;
        _queue = new EventQueue(options.Capacity, trackKeys: options.MaxConcurrentEvents > 1, _inFlight);
        _overflowLimit = options.Capacity > int.MaxValue / 2 ? int.MaxValue : options.Capacity * 2;
        _history = new EventHistory(options.HistoryCapacity);
        _deadLetters = new DeadLetterStore(this, options.DeadLetterCapacity);
        if (durability is not null)
        {
            var log = Durability.WriteAheadLog.Open(durability.Directory, durability.Options, timeProvider, Logger);
            _journal = new DurableJournal(this, log, durability.Json, durability.KnownTypes);
        }

        Metrics.ObserveQueue(() => _queue.Count, () => _inFlight.Value);
        _workers = new EventWorkers(this, _queue, options.MaxConcurrentEvents);
        _workers.Start();
    }

    public string Name { get; }

    public EventBusOptions Options { get; }

    public IDeadLetterStore DeadLetters => _deadLetters;

    internal TimeProvider TimeProvider { get; }

    internal ILogger Logger { get; }

    internal BusMetrics Metrics { get; }

    internal Router Router { get; }

    internal EventProcessor Processor { get; }

    internal CancellationToken StopToken => _stopCts.Token;

    internal DeadLetterStore DeadLetterStore => _deadLetters;

    // ---------------------------------------------------------------- publish

    public ValueTask<EventHandle> PublishAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull
    {
        var context = CreateContext(@event, options, queued: true);
        return _journal is null ? Admit(context, cancellationToken) : AdmitDurableAsync(context, cancellationToken);
    }

    /// <summary>With a write-ahead log the event is appended (and durable under the flush mode) before it is admitted.</summary>
    /// <remarks>
    /// The publish is counted in <see cref="_appending"/> until it is admitted or refused, so a stop does not close the
    /// log under it: a publish that finds the queue closed after its record was written must still record the refusal.
    /// </remarks>
    private async ValueTask<EventHandle> AdmitDurableAsync(EventContext context, CancellationToken cancellationToken)
    {
        var route = context.Route ??= Router.Resolve(context.Payload.GetType(), context.Name);
        Interlocked.Increment(ref _appending);
        try
        {
            try
            {
                await _journal!.AppendAsync(context, route, cancellationToken).ConfigureAwait(false);
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
            if (Interlocked.Decrement(ref _appending) == 0 && _stopping)
                Volatile.Read(ref _appendsDone)?.TrySetResult();
        }
    }

    public bool TryPublish<T>(T @event, out EventHandle handle, PublishOptions? options = null)
        where T : notnull
    {
        var context = CreateContext(@event, options, queued: true);
        handle = new EventHandle(context);
        if (_journal is not null)
        {
            // Never waits: the record is handed to the log, durable at its next flush.
            var route = context.Route ??= Router.Resolve(context.Payload.GetType(), context.Name);
            _journal.AppendWithoutWaiting(context, route);
        }

        if (TryAdmitNow(context))
            return true;
        Refuse(context, Options.FullMode == BusFullMode.DropNewest ? EventStatus.Dropped : EventStatus.Rejected);
        return false;
    }

    public async ValueTask<IReadOnlyList<EventHandle>> PublishBatchAsync<T>(IEnumerable<T> events, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull
    {
        ArgumentNullException.ThrowIfNull(events);
        if (options?.EventId is not null)
            throw new ArgumentException("PublishOptions.EventId cannot be used with PublishBatchAsync: every event of the batch would share the id.", nameof(options));

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
        var first = _journal is null ? AdmitRun(contexts) : 0;
        for (var i = 0; i < first; i++)
            handles[i] = new EventHandle(contexts[i]);
        var next = first;
        try
        {
            for (; next < contexts.Count; next++)
            {
                try
                {
                    handles[next] = _journal is null
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
        {
            context.IsAdmitted = true;
            context.EnqueuedTimestamp = stamp;
        }

        var admitted = _queue.TryEnqueueRange(contexts, 0, limit);
        for (var i = 0; i < admitted; i++)
            contexts[i].LinkToPublisher();
        for (var i = admitted; i < contexts.Count; i++)
        {
            contexts[i].IsAdmitted = false;
            contexts[i].EnqueuedTimestamp = 0;
        }

        if (admitted == 0)
            return 0;
        _history.AddRange(contexts, 0, admitted);
        for (var i = 0; i < admitted; i++)
        {
            EventLog.Published(contexts[i]);
            BusTracing.EndPublish(contexts[i], null);
        }

        return admitted;
    }

    /// <summary>Admits at once if there is room (or DropOldest makes some); false when full. Throws when the bus is stopped.</summary>
    private bool TryAdmitNow(EventContext context)
    {
        EnterFlight(context);
        switch (_queue.TryEnqueue(context, LimitFor(context), Options.FullMode == BusFullMode.DropOldest, out var evicted))
        {
            case EnqueueResult.Admitted:
                OnAdmitted(context);
                if (evicted is not null)
                    Refuse(evicted, EventStatus.Dropped);
                return true;
            case EnqueueResult.Closed:
                // The stop closed the queue after this publish was counted: it ends as rejected, like a
                // publisher whose wait for room the stop ended.
                UndoFlight(context);
                Refuse(context, EventStatus.Rejected);
                throw new BusStoppedException($"Bus '{Name}' is stopped and accepts no more events.");
            default:
                UndoFlight(context);
                return false;
        }
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

    private async ValueTask<EventHandle> WaitForRoomAsync(EventContext context, CancellationToken cancellationToken)
    {
        EnterFlight(context);
        try
        {
            await _queue.EnqueueAsync(context, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            UndoFlight(context);
            Refuse(context, EventStatus.Rejected);
            throw;
        }
        catch (BusStoppedException)
        {
            UndoFlight(context);
            Refuse(context, EventStatus.Rejected);
            throw;
        }

        OnAdmitted(context);
        return new EventHandle(context);
    }

    /// <summary>A handler publishing into its own bus may exceed capacity (up to twice) instead of waiting.</summary>
    private int LimitFor(EventContext context) => IsOwnHandler() ? _overflowLimit : Options.Capacity;

    private bool IsOwnHandler() => Ambient.CurrentContext?.Bus == this;

    /// <summary>
    /// Marks the event admitted before it enters the queue: once queued, a worker may finish it at any moment,
    /// and its completion must know to count it out. The queue counts it in flight when it adds it.
    /// </summary>
    private void EnterFlight(EventContext context)
    {
        context.IsAdmitted = true;

        // The clock is read only when someone looks at queue dwell time: a read costs tens of nanoseconds.
        if (Metrics.DwellEnabled || Logger.IsEnabled(LogLevel.Debug))
            context.EnqueuedTimestamp = TimeProvider.GetTimestamp();
    }

    /// <summary>The queue did not take the event: it was never counted in flight.</summary>
    private static void UndoFlight(EventContext context)
    {
        context.IsAdmitted = false;
        context.EnqueuedTimestamp = 0;
    }

    private TimeSpan DwellOf(EventContext context) =>
        context.EnqueuedTimestamp == 0 ? TimeSpan.Zero : TimeProvider.GetElapsedTime(context.EnqueuedTimestamp);

    private void OnAdmitted(EventContext context)
    {
        context.LinkToPublisher();
        _history.Add(context);
        EventLog.Published(context);
        BusTracing.EndPublish(context, null);
    }

    /// <summary>
    /// Completes an event that will not run: refused at admission (full, or the queue closed under the publish),
    /// or evicted by DropOldest. With a write-ahead log, the log must not deliver it after a restart.
    /// </summary>
    private void Refuse(EventContext context, EventStatus status)
    {
        var wasAdmitted = context.IsAdmitted;
        if (!context.TryBeginComplete(status))
            return;
        context.UnlinkPublisher();
        if (context.IsDurable)
            _journal?.OnRefused(context);
        if (status == EventStatus.Dropped)
            Metrics.Dropped(context);
        else
            Metrics.Rejected(context);
        var last = wasAdmitted && LeaveFlightCount();
        context.EndComplete();
        if (last)
            SignalDrained();
        EventLog.Refused(context, status);
        BusTracing.EndPublish(context, status);
        if (Options.OnEventDropped is { } callback)
        {
            try
            {
                callback(new EventDroppedArguments(context, status));
            }
            catch (Exception ex)
            {
                EventLog.CallbackFailed(context, ex);
            }
        }
    }

    internal EventContext CreateContext<T>(T @event, PublishOptions? options, bool queued, bool countPublished = true, DateTimeOffset? now = null)
        where T : notnull
    {
        if (@event is null)
            throw new ArgumentNullException(nameof(@event));
        if (_stopping)
            throw new BusStoppedException($"Bus '{Name}' is stopped and accepts no more events.");
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

        if (queued || options?.Timeout is not null)
        {
            var createdAt = now ?? TimeProvider.GetUtcNow();
            context.CreatedAt = createdAt;
            if (options?.EventId is null)
                context.EventId = EventIds.Create(createdAt);
            if (options?.Timeout is { } timeout)
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

    // ---------------------------------------------------------------- inline

    public ValueTask SendAsync<T>(T @event, CancellationToken cancellationToken = default)
        where T : notnull
    {
        if (@event is null)
            throw new ArgumentNullException(nameof(@event));
        if (_stopping)
            throw new BusStoppedException($"Bus '{Name}' is stopped and accepts no more events.");
        var type = @event.GetType();
        string name;
        Route route;
        if (type == typeof(T))
        {
            name = EventNameCache<T>.Name;
            route = Router.Resolve<T>(name);
        }
        else
        {
            name = EventNaming.GetName(type);
            route = Router.Resolve(type, name);
        }

        if (_validation.HasValidators)
            _validation.Validate(@event, type, name);
        if (route.Entries.Length == 0)
            return default;
        var context = InlineContexts.Rent(this, @event, name);
        context.Route = route;
        var frame = Ambient.Acquire();
        frame.Visible(out var parent, out var parentSubscription);
        if (parent is not null)
        {
            context.CorrelationId = parent.CorrelationId;
            context.CausationId = parent.EventId;
            parent.AddChild(parentSubscription, context.EventId);
        }

        context.IsInline = true;
        context.CallerToken = cancellationToken;
        var pending = Processor.ProcessAsync(context, frame, recordResults: false);
        if (pending.IsCompletedSuccessfully && context.Status == EventStatus.Completed)
        {
            InlineContexts.Return(context);
            return default;
        }

        return FinishSendAsync(pending, context);
    }

    private static async ValueTask FinishSendAsync(ValueTask pending, EventContext context)
    {
        await pending.ConfigureAwait(false);
        context.GetOutcome().ThrowIfFailed();
    }

    public async ValueTask<EventOutcome> InvokeAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull
    {
        var context = CreateContext(@event, options, queued: false);
        context.MarkRunning();
        context.IsInline = true;
        context.CallerToken = cancellationToken;
        await Processor.ProcessAsync(context, null, recordResults: true).ConfigureAwait(false);
        return context.GetOutcome();
    }

    // ---------------------------------------------------------------- processing

    /// <summary>Called by a worker for each dequeued event.</summary>
    /// <remarks>
    /// <paramref name="workerFrame"/> is not used: every queued event gets an ambient frame of its own, so work a
    /// handler leaves running never sees the worker's next event (see <see cref="Ambient"/>).
    /// </remarks>
    internal ValueTask ProcessQueuedAsync(EventContext context, AmbientFrame workerFrame)
    {
        // The queue claimed the event for this worker when it handed it out.
        var dwell = DwellOf(context);
        Metrics.Dequeued(context, dwell);
        EventLog.Dispatching(context, dwell);
        _ = workerFrame;
        return context.FlowedExecutionContext is null
            ? Processor.ProcessAsync(context, null, recordResults: true)
            : ProcessInPublisherContext(context);
    }

    /// <summary>Starts processing inside the publisher's execution context (<see cref="EventBusOptions.FlowExecutionContext"/>).</summary>
    /// <remarks>
    /// <see cref="ExecutionContext.Run"/> runs the synchronous part in the captured context and restores the worker's
    /// afterwards; continuations the handlers schedule capture it themselves. The publisher's activity is not made
    /// current, so a handler span without a publish span to follow is a root as it is without the option.
    /// </remarks>
    private ValueTask ProcessInPublisherContext(EventContext context)
    {
        var captured = context.FlowedExecutionContext!;
        context.FlowedExecutionContext = null;
        var state = new FlowedProcessing(this, context);
        ExecutionContext.Run(
            captured,
            static s =>
            {
                var run = (FlowedProcessing)s!;
                if (System.Diagnostics.Activity.Current is not null)
                    System.Diagnostics.Activity.Current = null;
                run.Pending = run.Bus.Processor.ProcessAsync(run.Context, null, recordResults: true);
            },
            state);
        return state.Pending;
    }

    private sealed class FlowedProcessing(InProcessEventBus bus, EventContext context)
    {
        public InProcessEventBus Bus { get; } = bus;
        public EventContext Context { get; } = context;
        public ValueTask Pending { get; set; }
    }

    /// <summary>The awaiter of an <see cref="EventHandle"/>: queue jump when a handler awaits its still-queued child.</summary>
    internal ValueTask<EventOutcome> AwaitAsync(EventContext context)
    {
        if (context.IsCompleted)
            return new ValueTask<EventOutcome>(context.GetOutcome());
        if (context.Stage == EventContext.StageQueued && Ambient.CurrentContext?.Bus == this && _queue.TryRemove(context))
            return ProcessJumpedAsync(context);
        return context.WaitForOutcomeAsync();
    }

    private async ValueTask<EventOutcome> ProcessJumpedAsync(EventContext context)
    {
        Metrics.Dequeued(context, DwellOf(context));
        await (context.FlowedExecutionContext is null
            ? Processor.ProcessAsync(context, null, recordResults: true)
            : ProcessInPublisherContext(context)).ConfigureAwait(false);
        return context.GetOutcome();
    }

    internal void OnHandlerFinished(EventContext context, SubscriptionEntry entry, HandlerResult result)
    {
        switch (result.Status)
        {
            case HandlerStatus.Failed:
            case HandlerStatus.TimedOut:
                Metrics.HandlerFailed(context, entry, result);
                EventLog.HandlerFinished(context, entry, result);
                if (context.IsInline && !Options.DeadLetterInlineFailures)
                    break;
                var letter = _deadLetters.Add(context, entry, result);
                if (context.IsDurable && entry.IsDurable)
                    _journal?.OnDeadLettered(context, letter);
                break;
            default:
                break;
        }
    }

    internal void OnHandlerAbandoned(EventContext context, SubscriptionEntry entry) =>
        EventLog.HandlerAbandoned(context, entry);

    internal void CheckSlow(EventContext context, SubscriptionEntry entry, TimeSpan elapsed)
    {
        if (Options.SlowHandlerThreshold is { } threshold && elapsed >= threshold)
        {
            Metrics.SlowHandler(context, entry);
            EventLog.SlowHandler(context, entry, elapsed);
        }
    }

    internal void OnProcessorFault(EventContext context, Exception exception) =>
        EventLog.ProcessorFault(context, exception);

    /// <summary>
    /// Ends an event. The counters, the in-flight count and the log are updated before the handle completes,
    /// so an awaiter that resumes sees them; a stop waiting for the drain is woken only after, so every handle
    /// is complete when it returns.
    /// </summary>
    internal void OnEventFinished(EventContext context, EventStatus status)
    {
        if (!context.TryBeginComplete(status))
            return;
        var last = false;
        try
        {
            if (context.IsDurable && _journal is not null)
            {
                if (status == EventStatus.Cancelled && context.Results is null)
                    _journal.OnCancelledWhileQueued();
                else
                    _journal.OnEventFinished(context);
            }

            if (context.IsAdmitted)
            {
                Metrics.Processed(context, status);
                last = LeaveFlightCount();
            }
        }
        finally
        {
            context.EndComplete();
            if (last)
                SignalDrained();
        }
    }

    /// <summary>Leaves the in-flight count; true when it was the last one during a stop.</summary>
    private bool LeaveFlightCount() => _inFlight.Leave() && _stopping;

    private void SignalDrained() => Volatile.Read(ref _drained)?.TrySetResult();

    // ---------------------------------------------------------------- subscribe

    public ISubscription Subscribe<T>(Func<T, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        options = PrepareSubscription(options);
        var entry = new TypedSubscription<T>(this, options.Name ?? DefaultName(typeof(T).Name), handler, options);
        Router.Add(entry);
        _journal?.OnSubscribed(entry);
        return entry;
    }

    public ISubscription Subscribe<T, TResult>(Func<T, EventContext, CancellationToken, ValueTask<TResult>> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        options = PrepareSubscription(options);
        var entry = new ResultSubscription<T, TResult>(this, options.Name ?? DefaultName(typeof(T).Name), handler, options);
        Router.Add(entry);
        _journal?.OnSubscribed(entry);
        return entry;
    }

    public ISubscription Subscribe(string pattern, Func<object, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var compiled = TopicPattern.Parse(pattern);
        options = PrepareSubscription(options);
        var entry = new PatternSubscription(this, options.Name ?? DefaultName(pattern), compiled, handler, options);
        Router.Add(entry);
        _journal?.OnSubscribed(entry);
        return entry;
    }

    private SubscriptionOptions PrepareSubscription(SubscriptionOptions? options)
    {
        if (_stopping)
            throw new BusStoppedException($"Bus '{Name}' is stopped; subscriptions are no longer accepted.");
        options ??= s_defaultSubscription;
        options.Validate();
        if (_journal is not null && options.Name is null)
            throw new ArgumentException($"Bus '{Name}' has a write-ahead log, so every subscription needs SubscriptionOptions.Name: recovery finds unfinished work by subscription name after a restart.", nameof(options));
        return options;
    }

    private static readonly SubscriptionOptions s_defaultSubscription = new();

    private static int s_subscriptionCounter;

    private static string DefaultName(string what) => $"{what}#{Interlocked.Increment(ref s_subscriptionCounter)}";

    // ---------------------------------------------------------------- waiting, history, forwarding

    public ValueTask<EventHandle?> WaitForAsync<T>(Func<T, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default)
    {
        return _history.WaitForAsync(
            c => c.Payload is T typed && (predicate is null || predicate(typed, c)),
            timeout,
            options,
            TimeProvider,
            cancellationToken);
    }

    public ValueTask<EventHandle?> WaitForAsync(string pattern, Func<object, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default)
    {
        var compiled = TopicPattern.Parse(pattern);
        return _history.WaitForAsync(
            c => compiled.Matches(c.Name) && (predicate is null || predicate(c.Payload, c)),
            timeout,
            options,
            TimeProvider,
            cancellationToken);
    }

    public IReadOnlyList<EventHandle> History<T>(Func<T, EventContext, bool>? predicate = null) =>
        _history.Find(c => c.Payload is T typed && (predicate is null || predicate(typed, c)));

    public IReadOnlyList<EventHandle> History(string pattern, Func<object, EventContext, bool>? predicate = null)
    {
        var compiled = TopicPattern.Parse(pattern);
        return _history.Find(c => compiled.Matches(c.Name) && (predicate is null || predicate(c.Payload, c)));
    }

    public ISubscription ForwardTo(IEventBus target, string pattern = "*", ForwardOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target is not InProcessEventBus other)
            throw new ArgumentException("ForwardTo needs a bus created by Busbar.", nameof(target));
        if (ReferenceEquals(other, this))
            throw new ArgumentException("A bus cannot forward to itself.", nameof(target));
        var wait = options?.WaitForTarget ?? false;
        return Subscribe(
            pattern,
            async (e, context, ct) =>
            {
                if (other.TryForward(context, ct, out var admitted))
                {
                    var handle = await admitted.ConfigureAwait(false);
                    if (wait)
                        await handle.AsValueTask().ConfigureAwait(false);
                }
            },
            new SubscriptionOptions { Name = options?.Name ?? $"forward:{other.Name}:{pattern}" });
    }

    /// <summary>Admits a copy of an event from another bus, keeping its ids; false when this bus is already on its path.</summary>
    internal bool TryForward(EventContext source, CancellationToken cancellationToken, out ValueTask<EventHandle> admitted)
    {
        foreach (var hop in source.Path)
        {
            if (hop == Name)
            {
                admitted = default;
                return false;
            }
        }

        var context = new EventContext(this, source.Payload, source.Name)
        {
            EventId = source.EventId,
            CorrelationIdValue = source.CorrelationId,
            CausationId = source.CausationId,
            CreatedAt = source.CreatedAt,
            Priority = source.Priority,
            OrderingKey = source.OrderingKey,
            Deadline = source.Deadline,
            Headers = source.Headers,
            Path = [.. source.Path, Name],
            Options = source.Options,
        };
        if (_stopping)
            throw new BusStoppedException($"Bus '{Name}' is stopped and accepts no more events.");
        Metrics.Published(context);
        admitted = _journal is null ? Admit(context, cancellationToken) : AdmitDurableAsync(context, cancellationToken);
        return true;
    }

    internal SubscriptionEntry? FindSubscription(string name)
    {
        foreach (var entry in Router.Subscriptions)
        {
            if (entry.Name == name && entry.IsActive)
                return entry;
        }

        return null;
    }

    /// <summary>Runs one event on one subscription, outside the queue (dead-letter re-drive, log recovery).</summary>
    internal async ValueTask<EventOutcome> RedriveAsync(DeadLetter letter, SubscriptionEntry subscription, CancellationToken cancellationToken)
    {
        var source = letter.Context;
        var payload = _journal?.Materialize(source.Payload, source.Name) ?? source.Payload;
        if (payload is System.Text.Json.JsonElement)
            throw new InvalidOperationException($"Dead letter {letter.Id} holds an event '{source.Name}' whose type is not registered on bus '{Name}'; register it with EventBusBuilder.RegisterEvent<T>() to re-drive it.");
        var context = source.CloneForAttempt(source.Attempt + letter.Attempts, payload);

        // A re-drive is a new delivery: the original deadline has usually long passed.
        context.Deadline = null;
        context.CallerToken = cancellationToken;
        if (_journal is not null && subscription.IsDurable)
            await _journal.OnRedriveAsync(letter, context, subscription, cancellationToken).ConfigureAwait(false);
        context.Route = new Route([subscription], [0], Router.Version);
        context.MarkRunning();
        await Processor.ProcessAsync(context, null, recordResults: true).ConfigureAwait(false);
        return context.GetOutcome();
    }

    /// <summary>Queues an event recovered from the log. Recovery never waits for room: it is bounded by what the log holds.</summary>
    internal void AdmitRecovered(EventContext context)
    {
        EnterFlight(context);
        if (_queue.TryEnqueue(context, int.MaxValue, dropOldest: false, out _) != EnqueueResult.Admitted)
        {
            UndoFlight(context);
            return;
        }

        Metrics.Published(context);
        OnAdmitted(context);
    }

    public WriteAheadLogStatus? WriteAheadLog => _journal is null
        ? null
        : new WriteAheadLogStatus
        {
            Directory = _journal.Log.Directory,
            WaitingEvents = _journal.WaitingCount,
            WaitingBySubscription = _journal.Waiting,
            Problems = _journal.Problems,
        };

    // ---------------------------------------------------------------- statistics and lifecycle

    public BusStatistics GetStatistics()
    {
        var (depth, inFlight) = _queue.ReadCounts();
        return Metrics.Snapshot(depth, Options.Capacity, inFlight, Router.Subscriptions);
    }

    public ValueTask<StopReport> StopAsync(TimeSpan? drainTimeout = null, CancellationToken cancellationToken = default)
    {
        lock (_stopLock)
        {
            _stopTask ??= StopCoreAsync(drainTimeout ?? Options.DrainTimeout, cancellationToken);
        }

        return new ValueTask<StopReport>(_stopTask);
    }

    private async Task<StopReport> StopCoreAsync(TimeSpan drainTimeout, CancellationToken cancellationToken)
    {
        var start = TimeProvider.GetTimestamp();
        var processedBefore = Metrics.ProcessedCount;
        var cancelledBefore = Metrics.CancelledCount;
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _drained, drained);
        _stopping = true;
        _queue.Close();
        if (_inFlight.Value == 0)
            drained.TrySetResult();
        Log.Stopping(Logger, Name, _queue.Count, drainTimeout.TotalMilliseconds);

        var completed = true;
        try
        {
            await drained.Task.WaitAsync(drainTimeout, TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            completed = false;
        }

        if (!completed)
        {
            // Events not started, wherever they wait (behind a busy ordering key too), never start: the queue
            // hands them all over, claimed, and they complete as cancelled. Only then are running handlers
            // cancelled, so no worker can start one in between.
            foreach (var context in _queue.TakeAll())
                OnEventFinished(context, EventStatus.Cancelled);

            await Cancellation.TryCancelAsync(_stopCts, Logger).ConfigureAwait(false);

            // Handlers see their tokens cancelled; the processor waits CancellationGrace for each to end and
            // abandons those still running, so the events (and their DI scopes) are done within the grace.
            try
            {
                await drained.Task.WaitAsync(Options.CancellationGrace + s_cancelGrace, s_safetyClock, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Log.StopAbandoned(Logger, Name, _inFlight.Value);
            }
        }

        try
        {
            await _workers.WaitAsync().WaitAsync(s_cancelGrace, s_safetyClock, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.StopAbandoned(Logger, Name, _inFlight.Value);
        }

        long leftInLog = 0;
        if (_journal is not null)
        {
            // Publishes still writing their record end in admission (the queue is closed: refused) within one flush.
            var appendsDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _appendsDone, appendsDone);
            if (Volatile.Read(ref _appending) == 0)
                appendsDone.TrySetResult();
            try
            {
                await appendsDone.Task.WaitAsync(s_cancelGrace, s_safetyClock, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A wedged disk: the log is closed anyway, and such a publish fails.
            }

            var waiting = _journal.WaitingCount;
            if (waiting > 0)
                Log.RecoveryUnclaimed(Logger, _journal.Log.Directory, waiting, string.Join(", ", _journal.Waiting.Keys));
            leftInLog = _journal.CancelledDurable + waiting;
            await _journal.DisposeAsync().ConfigureAwait(false);
        }

        // Read from the per-status counters, so the report says what the handles say: an event that was running
        // when the drain ended and still finished normally counts as drained, not cancelled.
        var cancelled = Metrics.CancelledCount - cancelledBefore;
        var report = new StopReport
        {
            Drained = Metrics.ProcessedCount - processedBefore - cancelled,
            Cancelled = cancelled,
            Dropped = Metrics.DroppedCount + Metrics.RejectedCount,
            LeftInLog = leftInLog,
            Completed = completed,
            Elapsed = TimeProvider.GetElapsedTime(start),
        };
        Log.Stopped(Logger, Name, report.Drained, report.Cancelled);
        return report;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        Metrics.Dispose();
        _stopCts.Dispose();
    }

    public override string ToString() => Name;

    private static class EventNameCache<T>
    {
        private static string? s_name;

        public static string Name => s_name ??= EventNaming.GetName(typeof(T));
    }
}
