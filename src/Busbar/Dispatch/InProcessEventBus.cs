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
    private long _inFlight;
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
        _queue = new EventQueue(options.Capacity);
        _overflowLimit = options.Capacity > int.MaxValue / 2 ? int.MaxValue : options.Capacity * 2;
        _history = new EventHistory(options.HistoryCapacity);
        _deadLetters = new DeadLetterStore(this, options.DeadLetterCapacity);
        if (durability is not null)
        {
            var log = Durability.WriteAheadLog.Open(durability.Directory, durability.Options, timeProvider, Logger);
            _journal = new DurableJournal(this, log, durability.Json, durability.KnownTypes);
        }

        Metrics.ObserveQueue(() => _queue.Count, () => Interlocked.Read(ref _inFlight));
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
            await _journal!.AppendAsync(context, route, cancellationToken).ConfigureAwait(false);
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
        var first = _journal is null ? AdmitRun(contexts) : 0;
        for (var i = 0; i < first; i++)
            handles[i] = new EventHandle(contexts[i]);
        for (var i = first; i < contexts.Count; i++)
        {
            Metrics.Published(contexts[i]);
            try
            {
                handles[i] = _journal is null
                    ? await Admit(contexts[i], cancellationToken).ConfigureAwait(false)
                    : await AdmitDurableAsync(contexts[i], cancellationToken).ConfigureAwait(false);
            }
            catch (BusFullException)
            {
                // One backpressure decision per event: a refused event gets a rejected handle, the batch goes on.
                handles[i] = new EventHandle(contexts[i]);
            }
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

        Interlocked.Add(ref _inFlight, contexts.Count);
        var admitted = _queue.TryEnqueueRange(contexts, 0, limit);
        for (var i = admitted; i < contexts.Count; i++)
        {
            contexts[i].IsAdmitted = false;
            contexts[i].EnqueuedTimestamp = 0;
        }

        if (admitted < contexts.Count && Interlocked.Add(ref _inFlight, admitted - contexts.Count) == 0 && _stopping)
            Volatile.Read(ref _drained)?.TrySetResult();
        if (admitted == 0)
            return 0;
        Metrics.PublishedMany(contexts, 0, admitted);
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
                DropEvicted(evicted);
                return true;
            case EnqueueResult.Closed:
                UndoFlight(context);
                RefuseClosed(context);
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
    /// Counts the event in flight before it enters the queue: once queued, a worker may finish it
    /// at any moment, and its completion must find it counted.
    /// </summary>
    private void EnterFlight(EventContext context)
    {
        context.IsAdmitted = true;

        // The clock is read only when someone looks at queue dwell time: a read costs tens of nanoseconds.
        if (Metrics.DwellEnabled || Logger.IsEnabled(LogLevel.Debug))
            context.EnqueuedTimestamp = TimeProvider.GetTimestamp();
        Interlocked.Increment(ref _inFlight);
    }

    private void UndoFlight(EventContext context)
    {
        context.IsAdmitted = false;
        context.EnqueuedTimestamp = 0;
        LeaveFlight();
    }

    private TimeSpan DwellOf(EventContext context) =>
        context.EnqueuedTimestamp == 0 ? TimeSpan.Zero : TimeProvider.GetElapsedTime(context.EnqueuedTimestamp);

    /// <summary>An event evicted by DropOldest, unless a handler awaiting it already took it (queue jump).</summary>
    private void DropEvicted(EventContext? evicted)
    {
        if (evicted is not null && evicted.TryClaim())
            Refuse(evicted, EventStatus.Dropped);
    }

    private void OnAdmitted(EventContext context)
    {
        _history.Add(context);
        EventLog.Published(context);
        BusTracing.EndPublish(context, null);
    }

    /// <summary>
    /// The queue closed after the event's record was written (the stop began while the append was in progress): the
    /// publish fails, so the log must not deliver the event after a restart.
    /// </summary>
    private void RefuseClosed(EventContext context)
    {
        if (context.IsDurable)
            _journal?.OnRefused(context);
    }

    private void Refuse(EventContext context, EventStatus status)
    {
        var wasAdmitted = context.IsAdmitted;
        if (!context.TryComplete(status))
            return;
        if (wasAdmitted)
            LeaveFlight();
        if (context.IsDurable)
            _journal?.OnRefused(context);
        if (status == EventStatus.Dropped)
            Metrics.Dropped(context);
        else
            Metrics.Rejected(context);
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

        var frame = Ambient.Frame;
        var parent = frame?.Context;
        if (parent is not null)
        {
            context.CorrelationId = options?.CorrelationId ?? parent.CorrelationId;
            context.CausationId = options?.CausationId ?? parent.EventId;
            parent.AddChild(frame!.Subscription, context.EventId);
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
        var parent = frame.Context;
        if (parent is not null)
        {
            context.CorrelationId = parent.CorrelationId;
            context.CausationId = parent.EventId;
            parent.AddChild(frame.Subscription, context.EventId);
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
        var frame = Ambient.Acquire();
        context.MarkRunning();
        context.IsInline = true;
        context.CallerToken = cancellationToken;
        await Processor.ProcessAsync(context, frame, recordResults: true).ConfigureAwait(false);
        return context.GetOutcome();
    }

    // ---------------------------------------------------------------- processing

    /// <summary>Called by a worker for each dequeued event.</summary>
    internal ValueTask ProcessQueuedAsync(EventContext context, AmbientFrame frame)
    {
        if (!context.TryClaim())
        {
            // A handler awaiting it already processed it (queue jump), or it was dropped.
            return default;
        }

        var dwell = DwellOf(context);
        Metrics.Dequeued(context, dwell);
        EventLog.Dispatching(context, dwell);
        return Processor.ProcessAsync(context, frame, recordResults: true);
    }

    /// <summary>The awaiter of an <see cref="EventHandle"/>: queue jump when a handler awaits its still-queued child.</summary>
    internal ValueTask<EventOutcome> AwaitAsync(EventContext context)
    {
        if (context.IsCompleted)
            return new ValueTask<EventOutcome>(context.GetOutcome());
        if (context.Stage == EventContext.StageQueued && Ambient.CurrentContext?.Bus == this && context.TryClaim())
            return ProcessJumpedAsync(context);
        return context.WaitForOutcomeAsync();
    }

    private async ValueTask<EventOutcome> ProcessJumpedAsync(EventContext context)
    {
        Metrics.Dequeued(context, DwellOf(context));
        var frame = Ambient.Install(null, null);
        await Processor.ProcessAsync(context, frame, recordResults: true).ConfigureAwait(false);
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
                if (context.IsInline)
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

    internal void OnEventFinished(EventContext context, EventStatus status)
    {
        if (!context.TryComplete(status))
            return;
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
            LeaveFlight();
        }
    }

    private void LeaveFlight()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0 && _stopping)
            Volatile.Read(ref _drained)?.TrySetResult();
    }

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
        var frame = Ambient.Install(null, null);
        await Processor.ProcessAsync(context, frame, recordResults: true).ConfigureAwait(false);
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

    public BusStatistics GetStatistics() => Metrics.Snapshot(_queue.Count, Options.Capacity, Interlocked.Read(ref _inFlight), Router.Subscriptions);

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
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _drained, drained);
        _stopping = true;
        _queue.Close();
        if (Interlocked.Read(ref _inFlight) == 0)
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

        long cancelled = 0;
        if (!completed)
        {
            // Queued events never started: complete them as cancelled so no awaiter hangs.
            foreach (var context in _queue.TakeAll())
            {
                if (context.TryClaim())
                {
                    cancelled++;
                    OnEventFinished(context, EventStatus.Cancelled);
                }
            }

            var running = Interlocked.Read(ref _inFlight);
            cancelled += running;
            await _stopCts.CancelAsync().ConfigureAwait(false);

            // Handlers see their tokens cancelled; those that ignore them are abandoned by the processor.
            try
            {
                await drained.Task.WaitAsync(s_cancelGrace, s_safetyClock, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Log.StopAbandoned(Logger, Name, Interlocked.Read(ref _inFlight));
            }
        }

        try
        {
            await _workers.WaitAsync().WaitAsync(s_cancelGrace, s_safetyClock, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.StopAbandoned(Logger, Name, Interlocked.Read(ref _inFlight));
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
