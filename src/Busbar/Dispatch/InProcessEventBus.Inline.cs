using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Busbar.Diagnostics;
using Busbar.Engine;
using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>Inline dispatch: SendAsync and InvokeAsync run the handlers on the caller's flow, with the inline settler.</summary>
internal sealed partial class InProcessEventBus
{
    /// <summary>The sender of each event type asked for (see <see cref="GetSender{T}"/>): one per (bus, type).</summary>
    private readonly ConcurrentDictionary<Type, object> _senders = new();

    /// <summary>
    /// <see cref="IEventBus.SendAsync{T}"/> for code that holds the bus as this class (the interface's method is not virtual and sends
    /// through <see cref="EventSender{T}"/>, which ends in <see cref="SendPlanned{T}"/> or <see cref="SendGeneral{T}"/> as this does).
    /// </summary>
    public ValueTask SendAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull
    {
        // The typed sender of (this bus, T): one slot read and a version check, no route lookup or cast (see InlinePlan<T>). This
        // method only decides that nothing stands in the plan's way (a tracing or handler-duration listener wants a span or a
        // duration per handler, which the dispatcher gives); everything else is SendGeneral's, so the common send pays for no more
        // than these checks.
        if (@event is not null && options is null && !_inFlight.IsStopping && InlinePlan<T>.Find(Router) is { Handlers: not null } plan
            && @event.GetType() == plan.EventType && !_validation.HasValidators && !BusTracing.IsEnabled && !BusMetrics.DurationEnabled)
            return SendPlanned(plan, @event, cancellationToken);
        return SendGeneral(@event, options, cancellationToken);
    }

    /// <summary>Takes the bus's senders out of the static slots <see cref="IEventBus.SendAsync{T}"/> finds them in, so they do not keep a disposed bus reachable.</summary>
    private void LeaveSenderSlots()
    {
        foreach (var sender in _senders.Values)
            ((ISenderSlots)sender).LeaveSlots();
    }

    public EventSender<T> GetSender<T>()
        where T : notnull =>
        (EventSender<T>)_senders.GetOrAdd(typeof(T), static (_, bus) => new EventSender<T>(bus), this);

    /// <summary>
    /// Nothing on the bus stands in the way of a plan: it is not stopping, and no tracing or handler-duration listener wants a span
    /// or a duration per handler (which the dispatcher gives). What <see cref="SendAsync{T}"/> checks besides the plan and the event.
    /// </summary>
    internal bool PlanApplies => !_inFlight.IsStopping && !BusTracing.IsEnabled && !BusMetrics.DurationEnabled;

    /// <summary>
    /// The plan a send of an event of exactly type <typeparamref name="T"/> without options would take now (building it as that send
    /// would), or <see langword="null"/> when such a send does not take one: the route needs the engine, the bus validates events or is stopping.
    /// </summary>
    internal InlinePlan<T>? CurrentPlan<T>()
        where T : notnull
    {
        if (_validation.HasValidators || _inFlight.IsStopping)
            return null;
        var plan = InlinePlan<T>.Find(Router) ?? PlanOf<T>();
        return plan.Handlers is null ? null : plan;
    }

    /// <summary>Every send <see cref="SendAsync{T}"/> does not hand to its plan at once: checks, validation, then the plan or the dispatcher.</summary>
    internal ValueTask SendGeneral<T>(T? @event, PublishOptions? options, CancellationToken cancellationToken)
        where T : notnull
    {
        if (@event is null)
            throw new ArgumentNullException(nameof(@event));
        if (options is not null)
            return SendWithOptionsAsync(@event, options, cancellationToken);
        if (_inFlight.IsStopping)
            throw StoppedException();
        var type = @event.GetType();
        string name;
        Route route;
        if (type == typeof(T))
        {
            var plan = InlinePlan<T>.Find(Router) ?? PlanOf<T>();
            name = plan.Name;
            if (_validation.HasValidators)
                _validation.Validate(@event, type, name);
            if (plan.Handlers is not null && !BusTracing.IsEnabled && !BusMetrics.DurationEnabled)
                return SendPlanned(plan, @event, cancellationToken);
            route = plan.Route;
        }
        else
        {
            name = EventNaming.GetName(type);
            route = Router.Resolve(type, name);
            if (_validation.HasValidators)
                _validation.Validate(@event, type, name);
        }

        if (route.Subscriptions.Length == 0)
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

        return EndSend(_dispatcher.DispatchAsync(context, route, cancellationToken, frame, recordResults: false), context);
    }

    /// <summary>Builds the plan of the current route of <typeparamref name="T"/> (once per route snapshot) and makes it the typed sender.</summary>
    private InlinePlan<T> PlanOf<T>()
    {
        var route = Router.Resolve<T>(EventNameCache<T>.Name);
        if (route.InlinePlan is not InlinePlan<T> plan)
        {
            plan = InlinePlan<T>.Build(route, EventNameCache<T>.Name, _dispatcher.NeedsEngine(typeof(T), route.Subscriptions.Length));
            route.InlinePlan = plan;
        }

        InlinePlan<T>.Store(Router, plan);
        return plan;
    }

    /// <summary>
    /// An inline send whose route has a plan: a top-level send (no handler visible in the caller's flow) to synchronous handlers that
    /// all take no context runs <see cref="SendContextFree{T}"/>, any other <see cref="SendWithContext{T}"/>.
    /// </summary>
    internal ValueTask SendPlanned<T>(InlinePlan<T> plan, T @event, CancellationToken cancellationToken)
        where T : notnull
    {
        // One thread-static read gives the thread id, the caller's frame (see InlineThread.AcquireFrame) and the pooled context.
        var local = InlineContexts.Current;
        var thread = local.Id;
        var frame = local.AcquireFrame();
        return plan.Deferrable is not null && frame.NamesNoEvent(thread)
            ? SendContextFree(plan, @event, frame, thread, cancellationToken)
            : SendWithContext(plan, @event, frame, local, cancellationToken);
    }

    /// <summary>
    /// The handlers are invoked directly, under the same ambient frame state the dispatcher would set, with no results, clock
    /// reads or spans (nobody listens for them). The first handler that throws or goes asynchronous hands the event to the
    /// dispatcher at that handler, so failures, dead letters, logs and counters are the engine's, and the handlers after it run
    /// as they would have.
    /// </summary>
    private ValueTask SendWithContext<T>(InlinePlan<T> plan, T @event, AmbientFrame frame, InlineThread local, CancellationToken cancellationToken)
        where T : notnull
    {
        var handlers = plan.Handlers!;
        var subscriptions = plan.Subscriptions;
        var thread = local.Id;
        // Route is set only if the dispatcher takes over: nothing reads it while the plan runs.
        var context = local.Rent(this, @event, plan.Name);
        if (!frame.NamesNoEvent(thread))
            LinkToParent(context, frame, thread);

        // As the dispatcher does: the caller's token as is, else the bus's stop token.
        var handlerToken = cancellationToken.CanBeCanceled ? cancellationToken : _stopToken;
        var savedThread = frame.SyncThread;
        var savedContext = frame.SyncContext;
        var savedSubscription = frame.SyncSubscription;

        // Visible to this thread only (see Ambient). A send a handler makes on this frame puts these back before it returns,
        // so only the handler changes from one iteration to the next.
        frame.SyncContext = context;
        frame.SyncThread = thread;
        // A handler that may await resumes through a hook bound to this event, which knows it before this send does (see InlineResumeContext).
        var hook = plan.MayAwait ? local.EnterSyncWindow(context, frame) : null;
        // One protected region around the loop, not one per handler: a try inside the loop made the JIT keep the loop's locals
        // on the stack (~2 ns of an 8-handler send). A handler that throws leaves i at its index, as one that goes asynchronous.
        var i = 0;
        ValueTask pending = default;
        try
        {
            for (; i < handlers.Length; i++)
            {
                var subscription = subscriptions[i];
                if (!subscription.IsActive)
                    continue;

                frame.SyncSubscription = subscription;
                pending = handlers[i](@event, context, handlerToken);
                if (!pending.IsCompletedSuccessfully)
                    break;
            }
        }
        catch (Exception ex)
        {
            pending = ValueTask.FromException(ex);
        }

        if (i < handlers.Length)
        {
            // The handler's continuations may have captured the hook: it stays bound to this event (and the context is never reused).
            hook?.LeaveGoneAsync(subscriptions[i]);
            frame.SyncThread = savedThread;
            frame.SyncContext = savedContext;
            frame.SyncSubscription = savedSubscription;
            return HandOver(plan, context, frame, i, pending, cancellationToken);
        }

        hook?.Leave();
        frame.SyncThread = savedThread;
        frame.SyncContext = savedContext;
        frame.SyncSubscription = savedSubscription;
        local.Return(context);
        return default;
    }

    /// <summary>Takes correlation and causation from the handler the caller's flow sees, which lists the event as its child.</summary>
    /// <remarks>Apart from <see cref="SendWithContext{T}"/> so that a top-level send carries no stack space for it.</remarks>
    private static void LinkToParent(EventContext context, AmbientFrame frame, int thread)
    {
        frame.Visible(thread, out var parent, out var parentSubscription);
        if (parent is null)
            return;
        context.CorrelationId = parent.CorrelationId;
        context.CausationId = parent.EventId;
        parent.AddChild(parentSubscription, context.EventId);
    }

    /// <summary>The handler at <paramref name="index"/> threw or went asynchronous: the dispatcher carries on from it (frame already restored).</summary>
    private ValueTask HandOver(InlinePlan plan, EventContext context, AmbientFrame frame, int index, ValueTask started, CancellationToken cancellationToken)
    {
        context.Route = plan.Route;
        var rest = _dispatcher.ContinueInlineAsync(context, plan.Route, cancellationToken, frame, index, Subscription.WithoutResult(started));
        return EndSend(rest, context);
    }

    /// <summary>
    /// A top-level send to synchronous handlers that all take no context (<see cref="InlinePlan{T}.Deferrable"/>): each is called
    /// directly and the event gets no context unless one of them observes it. The frame names the send as deferred meanwhile, and the first look at it from this thread —
    /// <c>EventContext.Current</c>, a send or publish made by the handler — creates the context
    /// (<see cref="AmbientFrame.CreateDeferredContext"/>), which from then on is named on the frame as <see cref="SendWithContext{T}"/>
    /// names its own. A handler that throws or goes asynchronous hands the event, with its context, to the dispatcher at that
    /// handler, as there.
    /// </summary>
    private ValueTask SendContextFree<T>(InlinePlan<T> plan, T @event, AmbientFrame frame, int thread, CancellationToken cancellationToken)
        where T : notnull
    {
        var handlers = plan.Deferrable!;
        var subscriptions = plan.Subscriptions;
        var savedThread = frame.SyncThread;
        if (!ReferenceEquals(frame.DeferredPlan, plan))
            frame.DeferredPlan = plan;
        if (!ReferenceEquals(frame.DeferredBus, this))
            frame.DeferredBus = this;
        // A struct event stays unboxed unless a handler looks at the context (typeof(T).IsValueType is a constant per T).
        DeferredValue<T>? held = null;
        if (typeof(T).IsValueType)
            frame.DeferredValue = held = DeferredValue<T>.Hold(@event);
        else
            frame.DeferredEvent = @event;
        frame.SyncThread = thread;
        var i = 0;
        ValueTask pending = default;
        try
        {
            for (; i < handlers.Length; i++)
            {
                var subscription = subscriptions[i];
                if (!subscription.IsActive)
                    continue;

                if (frame.SyncContext is null)
                    frame.DeferredIndex = i;
                else
                    frame.SyncSubscription = subscription;
                var handler = handlers[i];
                if (handler.Sync is { } sync)
                {
                    sync(@event);
                }
                else
                {
                    pending = handler.Async!(@event);
                    if (!pending.IsCompletedSuccessfully)
                        break;
                }
            }
        }
        catch (Exception ex)
        {
            pending = ValueTask.FromException(ex);
        }

        if (i < handlers.Length)
        {
            if (held is not null)
            {
                // The dispatcher takes over with the context, which needs the event boxed now; the holder is freed here, on
                // the sending thread, in the order the thread's sends began.
                if (frame.SyncContext is null)
                    frame.CreateDeferredContext();
                frame.DeferredValue = null;
                held.Release();
            }

            return ContextFreeStopped(plan, frame, savedThread, i, Subscription.WithoutResult(pending), cancellationToken);
        }

        if (held is not null)
        {
            frame.DeferredValue = null;
            held.Release();
        }
        else
        {
            frame.DeferredEvent = null;
        }

        frame.SyncThread = savedThread;
        if (frame.SyncContext is { } context)
            ReturnObserved(frame, context);

        return default;
    }

    /// <summary>A handler of a context-free send observed the event: its context goes back to the pool as <see cref="SendWithContext{T}"/>'s does.</summary>
    /// <remarks>Out of line so that the send that nobody observes carries none of it.</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ReturnObserved(AmbientFrame frame, EventContext context)
    {
        frame.SyncContext = null;
        frame.SyncSubscription = null;
        InlineContexts.Return(context);
    }

    /// <summary>
    /// The handler at <paramref name="index"/> of a context-free send threw or went asynchronous (<paramref name="started"/>): the
    /// event, with its context, goes to the dispatcher there.
    /// </summary>
    private ValueTask ContextFreeStopped(InlinePlan plan, AmbientFrame frame, int savedThread, int index, ValueTask<object?> started, CancellationToken cancellationToken)
    {
        var context = frame.SyncContext ?? frame.CreateDeferredContext();
        frame.DeferredEvent = null;
        frame.SyncThread = savedThread;
        frame.SyncContext = null;
        frame.SyncSubscription = null;
        context.Route = plan.Route;
        var rest = _dispatcher.ContinueInlineAsync(context, plan.Route, cancellationToken, frame, index, started);
        return EndSend(rest, context);
    }

    /// <summary>Returns a context that ended synchronously and successfully for reuse; otherwise the inline settler ends the event.</summary>
    private ValueTask EndSend(ValueTask<EventStatus> pending, EventContext context)
    {
        // A context the dispatcher installed as an ambient frame may be held by work its handlers left running: never reused.
        if (pending.IsCompletedSuccessfully && pending.Result == EventStatus.Completed && !context.IsAmbient)
        {
            InlineContexts.Return(context);
            return default;
        }

        return FinishSendAsync(pending, context, _inlineSettler);
    }

    private static async ValueTask FinishSendAsync(ValueTask<EventStatus> pending, EventContext context, LocalSettler settler)
    {
        var status = await pending.ConfigureAwait(false);
        // The event has ended: a continuation one of its handlers posted through the resume hook no longer sees it (see AmbientFrame.Visible).
        context.CloseAmbient();
        settler.Settle(context, status);
        context.GetOutcome().ThrowIfFailed();
    }

    /// <summary>A send with options: the options need a context of its own (ids, headers, deadline), so it takes the InvokeAsync path.</summary>
    private async ValueTask SendWithOptionsAsync<T>(T @event, PublishOptions options, CancellationToken cancellationToken)
        where T : notnull
    {
        var outcome = await InvokeAsync(@event, options, cancellationToken).ConfigureAwait(false);
        outcome.ThrowIfFailed();
    }

    public async ValueTask<EventOutcome> InvokeAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull
    {
        var context = CreateContext(@event, options, queued: false);
        context.MarkRunning();
        var status = await _dispatcher.DispatchAsync(context, RouteOf(context), cancellationToken, null, recordResults: true).ConfigureAwait(false);
        _inlineSettler.Settle(context, status);
        return context.GetOutcome();
    }

    /// <summary>The event's route, resolved once.</summary>
    private Route RouteOf(EventContext context) => context.Route ??= Router.Resolve(context.Payload.GetType(), context.Name);
}
