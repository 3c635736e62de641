using Busbar.Diagnostics;
using Busbar.Engine;
using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>Inline dispatch: SendAsync and InvokeAsync run the handlers on the caller's flow, with the inline settler.</summary>
internal sealed partial class InProcessEventBus
{
    public ValueTask SendAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull
    {
        if (@event is null)
            throw new ArgumentNullException(nameof(@event));
        if (options is not null)
            return SendWithOptionsAsync(@event, options, cancellationToken);
        if (_inFlight.IsStopping)
            throw new BusStoppedException($"Bus '{Name}' is stopped and accepts no more events.");
        var type = @event.GetType();
        string name;
        Route route;
        if (type == typeof(T))
        {
            route = Router.Resolve<T>();
            var plan = route.InlinePlan as InlinePlan<T> ?? PlanOf<T>(route);
            name = plan.Name;
            if (_validation.HasValidators)
                _validation.Validate(@event, type, name);

            // A tracing or handler-duration listener wants a span or a duration per handler, which the dispatcher gives.
            if (plan.Handlers is not null && !BusTracing.IsEnabled && !BusMetrics.DurationEnabled)
                return SendPlanned(plan, @event, route, cancellationToken);
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

    /// <summary>The route's plan, built once per route snapshot.</summary>
    private InlinePlan<T> PlanOf<T>(Route route)
    {
        var plan = InlinePlan<T>.Build(route, EventNameCache<T>.Name, _dispatcher.NeedsEngine(typeof(T), route.Subscriptions.Length));
        route.InlinePlan = plan;
        return plan;
    }

    /// <summary>
    /// An inline send whose route has a plan: the handlers are invoked directly, under the same ambient frame state the dispatcher
    /// would set, with no results, clock reads or spans (nobody listens for them). The first handler that throws or goes
    /// asynchronous hands the event to the dispatcher at that handler, so failures, dead letters, logs and counters are the
    /// engine's, and the handlers after it run as they would have.
    /// </summary>
    private ValueTask SendPlanned<T>(InlinePlan<T> plan, T @event, Route route, CancellationToken cancellationToken)
        where T : notnull
    {
        var handlers = plan.Handlers!;
        var subscriptions = plan.Subscriptions;
        // Route is set only if the dispatcher takes over: nothing reads it while the plan runs.
        var context = InlineContexts.Rent(this, @event, plan.Name);
        var thread = Environment.CurrentManagedThreadId;
        var frame = Ambient.Acquire(thread);
        frame.Visible(out var parent, out var parentSubscription);
        if (parent is not null)
        {
            context.CorrelationId = parent.CorrelationId;
            context.CausationId = parent.EventId;
            parent.AddChild(parentSubscription, context.EventId);
        }

        // As the dispatcher does: the caller's token as is, else the bus's stop token.
        var handlerToken = cancellationToken.CanBeCanceled ? cancellationToken : _stopToken;
        var savedThread = frame.SyncThread;
        var savedContext = frame.SyncContext;
        var savedSubscription = frame.SyncSubscription;

        // Visible to this thread only (see Ambient). A send a handler makes on this frame puts these back before it returns,
        // so only the handler changes from one iteration to the next.
        frame.SyncContext = context;
        frame.SyncThread = thread;
        for (var i = 0; i < handlers.Length; i++)
        {
            var subscription = subscriptions[i];
            if (!subscription.IsActive)
                continue;

            frame.SyncSubscription = subscription;
            ValueTask pending;
            try
            {
                pending = handlers[i](@event, context, handlerToken);
            }
            catch (Exception ex)
            {
                pending = ValueTask.FromException(ex);
            }

            if (!pending.IsCompletedSuccessfully)
            {
                frame.SyncThread = savedThread;
                frame.SyncContext = savedContext;
                frame.SyncSubscription = savedSubscription;
                context.Route = route;
                var rest = _dispatcher.ContinueInlineAsync(context, route, cancellationToken, frame, i, Subscription.WithoutResult(pending));
                return EndSend(rest, context);
            }
        }

        frame.SyncThread = savedThread;
        frame.SyncContext = savedContext;
        frame.SyncSubscription = savedSubscription;
        InlineContexts.Return(context);
        return default;
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
        settler.Settle(context, await pending.ConfigureAwait(false));
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
