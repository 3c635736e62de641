using Busbar.Engine;
using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>The queue as a source: workers and queue jumps hand events to the dispatcher; the queued settler ends them.</summary>
internal sealed partial class InProcessEventBus
{
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
            ? DispatchQueued(context)
            : ProcessInPublisherContext(context);
    }

    /// <summary>The queue is the source: the event's route is resolved now, and the queued settler ends it.</summary>
    private ValueTask DispatchQueued(EventContext context) =>
        Settlement.SettleAfter(_dispatcher.DispatchAsync(context, RouteOf(context), default, null, recordResults: true), context, _queuedSettler);

    /// <summary>The event's route, resolved once (a durable publish resolves it before the append).</summary>
    private Route RouteOf(EventContext context) => context.Route ??= Router.Resolve(context.Payload.GetType(), context.Name);

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
                run.Pending = run.Bus.DispatchQueued(run.Context);
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
            ? DispatchQueued(context)
            : ProcessInPublisherContext(context)).ConfigureAwait(false);
        return context.GetOutcome();
    }

    /// <summary>A worker's call threw (a bug, never a handler's exception): the event ends as failed.</summary>
    internal void OnWorkerFault(EventContext context, Exception exception)
    {
        EventLog.ProcessorFault(context, exception);
        _queuedSettler.Settle(context, EventStatus.Failed);
    }
}
