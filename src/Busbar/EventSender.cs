using System.Runtime.CompilerServices;
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
/// version check. <see cref="IEventBus.SendAsync{T}"/> sends through the bus's sender too, after finding it in a slot per event type
/// (one read and a reference comparison while the same bus is used). Everything else is exactly the bus's: validation, errors,
/// outcomes, counters, tracing, history, causation of nested events, the behaviour of a stopped bus. An event whose runtime type is
/// not exactly <typeparamref name="T"/> (a derived type) takes the bus's general path, as it would through the bus.
/// </para>
/// <para>
/// On a bus that is not Busbar's own (an <see cref="IEventBus"/> implemented elsewhere) <see cref="SendAsync"/> is the bus's
/// <see cref="IEventBus.InvokeAsync{T}"/> followed by throwing the outcome's failure (<see cref="EventOutcome.ThrowIfFailed"/>), and
/// <see cref="PublishAsync"/> and <see cref="InvokeAsync"/> are the bus's own methods.
/// </para>
/// <para>
/// Thread-safe: one sender may be used by any number of threads at once. It holds nothing per send; subscriptions added or removed
/// after it was taken apply to the next send, as on the bus.
/// </para>
/// </remarks>
/// <typeparam name="T">The event type.</typeparam>
public sealed class EventSender<T> : ISenderSlots
    where T : notnull
{
    /// <summary>
    /// The sender <see cref="IEventBus.SendAsync{T}"/> last used, for every bus: one per event type, so a loop sending on one bus
    /// finds its sender with one read and a reference comparison. Another bus replaces it (see <see cref="Of"/>).
    /// </summary>
    /// <remarks>
    /// With <see cref="s_previous"/> it keeps the last two buses that sent a <typeparamref name="T"/> through the interface reachable
    /// until others do or they are disposed (a disposed bus takes its senders out, see <see cref="LeaveSlots"/>, and a stopped one
    /// is never put in). Each slot is read and written whole and checked against the asking bus, so threads racing on it cost each
    /// other a lookup at most, never a wrong sender.
    /// </remarks>
    private static EventSender<T>? s_last;

    /// <summary>What <see cref="s_last"/> held before its last change: two buses sending <typeparamref name="T"/> in turn both find their sender without a lookup.</summary>
    private static EventSender<T>? s_previous;

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
    /// <remarks>Without options a warm send of a class event whose handlers complete synchronously allocates nothing, as through the bus (a struct event is boxed once per send only when a handler takes or reads its context).</remarks>
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

    /// <summary>The sender of <paramref name="bus"/> that <see cref="IEventBus.SendAsync{T}"/> sends through: <see cref="s_last"/> when it is that bus's, else <see cref="Remember"/>'s.</summary>
    /// <param name="bus">The bus the interface was called on.</param>
    /// <returns>The bus's sender of <typeparamref name="T"/>.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static EventSender<T> Of(IEventBus bus)
    {
        var last = s_last;
        return last is not null && ReferenceEquals(last._bus, bus) ? last : Remember(bus);
    }

    /// <summary>
    /// <see cref="Of"/> when <see cref="s_last"/> is another bus's: <see cref="s_previous"/> when it is this bus's, else the bus's
    /// <see cref="IEventBus.GetSender{T}"/>, which becomes <see cref="s_last"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static EventSender<T> Remember(IEventBus bus)
    {
        var previous = s_previous;
        if (previous is not null && ReferenceEquals(previous._bus, bus))
            return previous;
        var sender = bus.GetSender<T>();
        // A bus may hand out another bus's sender (a decorator passing sends through): kept only when it is the asking bus's own,
        // so a slot never answers for one bus with the sender of another.
        if (ReferenceEquals(sender._bus, bus) && sender._local is not { IsStopping: true })
        {
            s_previous = s_last;
            s_last = sender;
            // A bus stopped meanwhile takes its senders out when it is disposed, which is after it was marked stopping: either that
            // finds this sender in the slot, or this check finds the bus stopping.
            Interlocked.MemoryBarrier();
            if (sender._local is { IsStopping: true })
                sender.LeaveSlots();
        }

        return sender;
    }

    /// <inheritdoc/>
    void ISenderSlots.LeaveSlots() => LeaveSlots();

    /// <summary>Takes this sender out of the slots of <typeparamref name="T"/> (its bus is disposed): they no longer keep the bus reachable.</summary>
    private void LeaveSlots()
    {
        Interlocked.CompareExchange(ref s_last, null, this);
        Interlocked.CompareExchange(ref s_previous, null, this);
    }

    /// <summary>Every send the cached plan does not take: the bus's own path, after learning the current plan for the next send.</summary>
    private ValueTask SendOther(T? @event, PublishOptions? options, CancellationToken cancellationToken)
    {
        if (_local is null)
            return @event is null ? throw new ArgumentNullException(nameof(@event)) : SendThroughInvokeAsync(_bus, @event, options, cancellationToken);
        if (options is null && @event is not null && (typeof(T).IsValueType || @event.GetType() == typeof(T)))
        {
            var plan = _plan = _local.CurrentPlan<T>();
            if (plan is not null && _local.PlanApplies)
                return _local.SendPlanned(plan, @event, cancellationToken);
        }

        // A null event reaches the bus, which refuses it as it refuses it there.
        return _local.SendGeneral(@event, options, cancellationToken);
    }

    /// <summary>A send on a bus that is not Busbar's own: its <see cref="IEventBus.InvokeAsync{T}"/>, then the outcome's failure thrown.</summary>
    private static async ValueTask SendThroughInvokeAsync(IEventBus bus, T @event, PublishOptions? options, CancellationToken cancellationToken)
    {
        var outcome = await bus.InvokeAsync(@event, options, cancellationToken).ConfigureAwait(false);
        outcome.ThrowIfFailed();
    }
}
