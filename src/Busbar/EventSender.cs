using Busbar.Dispatch;
using Busbar.Routing;

namespace Busbar;

/// <summary>
/// Sends, publishes and invokes events of one type on one bus, with the same semantics as the bus's methods of the same name.
/// Take one once (<see cref="IEventBus.GetSender{T}"/>, or inject <c>EventSender&lt;T&gt;</c> where <c>AddBusbar</c> registered
/// the default bus) and keep it: on a hot path its <see cref="SendAsync"/> is the cheapest way to run handlers inline.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="SendAsync"/> is a non-virtual method that finds the handlers of <typeparamref name="T"/> with one field read and one
/// version check, where <see cref="IEventBus.SendAsync{T}"/> pays a generic interface call and a per-type lookup. Everything else
/// is exactly the bus's: validation, errors, outcomes, counters, tracing, history, causation of nested events, the behaviour of a
/// stopped bus. An event whose runtime type is not exactly <typeparamref name="T"/> (a derived type) takes the bus's general path,
/// as it would through the bus.
/// </para>
/// <para>
/// Thread-safe: one sender may be used by any number of threads at once. It holds nothing per send; subscriptions added or removed
/// after it was taken apply to the next send, as on the bus.
/// </para>
/// </remarks>
/// <typeparam name="T">The event type.</typeparam>
public sealed class EventSender<T>
    where T : notnull
{
    private readonly IEventBus _bus;

    /// <summary>The bus when it is Busbar's own (always, unless a caller wrapped <see cref="IEventBus"/>): its plans are reachable.</summary>
    private readonly InProcessEventBus? _local;

    /// <summary>The router of <see cref="_local"/>, whose version says whether <see cref="_plan"/> is current.</summary>
    private readonly Router? _router;

    /// <summary>The plan of the last send that found one (see <see cref="InlinePlan{T}"/>); stale once its version is not the router's.</summary>
    private InlinePlan<T>? _plan;

    /// <summary>Creates a sender of <typeparamref name="T"/> for <paramref name="bus"/>; <see cref="IEventBus.GetSender{T}"/> returns one kept by the bus.</summary>
    /// <param name="bus">The bus the events go to.</param>
    /// <remarks>Public so that dependency injection can create it (<c>AddBusbar</c> registers <c>EventSender&lt;&gt;</c> for the default bus).</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="bus"/> is <see langword="null"/>.</exception>
    public EventSender(IEventBus bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        _bus = bus;
        _local = bus as InProcessEventBus;
        _router = _local?.Router;
    }

    /// <summary>The bus the events go to.</summary>
    public IEventBus Bus => _bus;

    /// <summary>
    /// Inline dispatch, as <see cref="IEventBus.SendAsync{T}"/>: runs the handlers on the caller, no queue; throws when a handler failed,
    /// after every handler has run.
    /// </summary>
    /// <param name="event">The event.</param>
    /// <param name="options">As for <see cref="IEventBus.SendAsync{T}"/>; a send with options takes the bus's path.</param>
    /// <param name="cancellationToken">Passed to the handlers (instead of the bus's stop token when it can be cancelled).</param>
    /// <returns>A task that completes when every handler has finished; already completed when they all completed synchronously.</returns>
    /// <remarks>Without options a warm send whose handlers complete synchronously allocates nothing, as through the bus.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="event"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message names it).</exception>
    /// <exception cref="EventValidationException">The event is invalid; no handler ran.</exception>
    /// <exception cref="BusStoppedException">The bus is stopping or stopped.</exception>
    public ValueTask SendAsync(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
    {
        // The plan is only ever stored for a bus without validators (see SendOther), so what is left to check is what the bus's
        // SendAsync checks before it takes the plan.
        var plan = _plan;
        if (plan is not null && options is null && @event is not null && (typeof(T).IsValueType || @event.GetType() == typeof(T))
            && plan.Version == _router!.Version && _local!.PlanApplies)
            return _local.SendPlanned(plan, @event, cancellationToken);
        return SendOther(@event, options, cancellationToken);
    }

    /// <summary>
    /// Queued dispatch, as <see cref="IEventBus.PublishAsync{T}"/>: validates the event and admits it into the bus's bounded queue.
    /// </summary>
    /// <param name="event">The event.</param>
    /// <param name="options">Priority, ordering key, deadline, ids, headers.</param>
    /// <param name="cancellationToken">Cancels a publish waiting for room (<see cref="BusFullMode.Wait"/>).</param>
    /// <returns>The handle of the admitted event.</returns>
    /// <exception cref="EventValidationException">The event is invalid; nothing was queued.</exception>
    /// <exception cref="BusFullException">The queue is full under <see cref="BusFullMode.Reject"/>.</exception>
    /// <exception cref="BusStoppedException">The bus is stopping or stopped.</exception>
    public ValueTask<EventHandle> PublishAsync(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default) =>
        _local is not null ? _local.PublishAsync(@event, options, cancellationToken) : _bus.PublishAsync(@event, options, cancellationToken);

    /// <summary>Inline dispatch that returns the full outcome instead of throwing, as <see cref="IEventBus.InvokeAsync{T}"/>.</summary>
    /// <param name="event">The event.</param>
    /// <param name="options">Per-publish options.</param>
    /// <param name="cancellationToken">Passed to the handlers.</param>
    /// <returns>The outcome.</returns>
    public ValueTask<EventOutcome> InvokeAsync(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default) =>
        _local is not null ? _local.InvokeAsync(@event, options, cancellationToken) : _bus.InvokeAsync(@event, options, cancellationToken);

    /// <summary>Every send the cached plan does not take: the bus's own method, after learning the current plan for the next send.</summary>
    private ValueTask SendOther(T? @event, PublishOptions? options, CancellationToken cancellationToken)
    {
        if (_local is null)
            return _bus.SendAsync(@event!, options, cancellationToken);
        if (options is null && @event is not null && (typeof(T).IsValueType || @event.GetType() == typeof(T)))
            _plan = _local.CurrentPlan<T>();
        // A null event reaches the bus, which refuses it as it refuses it there.
        return _local.SendAsync(@event!, options, cancellationToken);
    }
}
