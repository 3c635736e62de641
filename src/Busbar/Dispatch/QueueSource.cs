using Busbar.Diagnostics;
using Busbar.Engine;
using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>
/// The local queue as a source of the engine: an event a worker dequeued (or a handler jumped ahead by awaiting
/// it) gets its route, runs on <see cref="EventDispatcher"/>, and ends with the queued settler. Write-ahead-log
/// recovery feeds the same queue, so recovered events come this way too.
/// </summary>
/// <param name="dispatcher">The engine.</param>
/// <param name="router">Resolves an event's route when the publish did not.</param>
/// <param name="settler">Ends queued events whose source chose no other (see <see cref="EventContext.Settler"/>): handle, in-flight count, counters, dead letters.</param>
/// <param name="metrics">Counts dequeued events and their dwell time.</param>
/// <param name="log">Logs the start of each event.</param>
/// <param name="time">Measures queue dwell.</param>
internal sealed class QueueSource(EventDispatcher dispatcher, Router router, LocalSettler settler, BusMetrics metrics, EventLogger log, TimeProvider time)
{
    /// <summary>Runs an event a worker dequeued; the queue claimed it for the worker when it handed it out.</summary>
    /// <param name="context">The event.</param>
    /// <param name="clock">The worker's clock, which times its handlers back to back from one event to the next.</param>
    /// <remarks>Every queued event gets an ambient frame of its own, so work a handler leaves running never sees the worker's next event (see <see cref="Ambient"/>).</remarks>
    public ValueTask ProcessAsync(EventContext context, HandlerClock clock)
    {
        var dwell = DwellOf(context);
        metrics.Dequeued(context, dwell);
        log.Dispatching(context, dwell);
        return Start(context, clock);
    }

    /// <summary>Runs an event a handler took out of the queue by awaiting it, and returns its outcome.</summary>
    public async ValueTask<EventOutcome> ProcessJumpedAsync(EventContext context)
    {
        metrics.Dequeued(context, DwellOf(context));
        // It runs inside the awaiting handler, which is timed as a whole: no worker's clock.
        await Start(context, null).ConfigureAwait(false);
        return context.GetOutcome();
    }

    /// <summary>A worker's call threw (a bug, never a handler's exception): the event ends as failed.</summary>
    public void Fault(EventContext context, Exception exception)
    {
        log.ProcessorFault(context, exception);
        (context.Settler ?? settler).Settle(context, EventStatus.Failed);
    }

    private ValueTask Start(EventContext context, HandlerClock? clock) =>
        context.FlowedExecutionContext is null ? Dispatch(context, clock) : DispatchInPublisherContext(context, clock);

    /// <summary>The event's route is resolved now (a durable publish resolved it before the append), and the settler its source chose ends it.</summary>
    private ValueTask Dispatch(EventContext context, HandlerClock? clock)
    {
        var route = context.Route ??= router.Resolve(context.Payload.GetType(), context.Name);
        return Settlement.SettleAfter(dispatcher.DispatchAsync(context, route, default, null, recordResults: true, clock), context, context.Settler ?? settler);
    }

    /// <summary>Starts processing inside the publisher's execution context (<see cref="EventBusOptions.FlowExecutionContext"/>).</summary>
    /// <remarks>
    /// <see cref="ExecutionContext.Run"/> runs the synchronous part in the captured context and restores the worker's
    /// afterwards; continuations the handlers schedule capture it themselves. The publisher's activity is not made
    /// current, so a handler span without a publish span to follow is a root as it is without the option.
    /// </remarks>
    private ValueTask DispatchInPublisherContext(EventContext context, HandlerClock? clock)
    {
        var captured = context.FlowedExecutionContext!;
        context.FlowedExecutionContext = null;
        var state = new FlowedDispatch(this, context, clock);
        ExecutionContext.Run(
            captured,
            static s =>
            {
                var run = (FlowedDispatch)s!;
                if (System.Diagnostics.Activity.Current is not null)
                    System.Diagnostics.Activity.Current = null;
                run.Pending = run.Source.Dispatch(run.Context, run.Clock);
            },
            state);
        return state.Pending;
    }

    private TimeSpan DwellOf(EventContext context) =>
        context.EnqueuedTimestamp == 0 ? TimeSpan.Zero : time.GetElapsedTime(context.EnqueuedTimestamp);

    private sealed class FlowedDispatch(QueueSource source, EventContext context, HandlerClock? clock)
    {
        public QueueSource Source { get; } = source;
        public EventContext Context { get; } = context;
        public HandlerClock? Clock { get; } = clock;
        public ValueTask Pending { get; set; }
    }
}
