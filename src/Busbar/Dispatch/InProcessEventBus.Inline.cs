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

        var pending = _dispatcher.DispatchAsync(context, route, cancellationToken, frame, recordResults: false);
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
