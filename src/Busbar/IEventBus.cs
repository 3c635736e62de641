namespace Busbar;

/// <summary>
/// An async event bus: publish typed events without knowing who listens; subscribe by type
/// (polymorphic) or by dotted pattern. Create one with <see cref="EventBus.Create"/> or
/// <see cref="EventBusBuilder"/>.
/// </summary>
public interface IEventBus : IAsyncDisposable
{
    /// <summary>The bus name (unique per process unless set explicitly).</summary>
    string Name { get; }

    /// <summary>The validated options the bus runs with.</summary>
    EventBusOptions Options { get; }

    /// <summary>The dead letters: handler invocations that failed after their last attempt.</summary>
    IDeadLetterStore DeadLetters { get; }

    /// <summary>
    /// Validates the event and admits it into the bounded queue; returns as soon as it is admitted
    /// (and, with a write-ahead log, durable). Await the returned handle for the outcome.
    /// </summary>
    /// <typeparam name="T">The event type; its runtime type decides the name and the handlers.</typeparam>
    /// <param name="event">The event.</param>
    /// <param name="options">Priority, ordering key, deadline, ids, headers.</param>
    /// <param name="cancellationToken">Cancels a publish waiting for room (<see cref="BusFullMode.Wait"/>).</param>
    /// <returns>The handle of the admitted event. Under a drop mode it may already be completed as <see cref="EventStatus.Dropped"/>.</returns>
    /// <exception cref="EventValidationException">The event is invalid; nothing was queued.</exception>
    /// <exception cref="BusFullException">The queue is full under <see cref="BusFullMode.Reject"/>, or a handler's publish into its own bus overflowed.</exception>
    /// <exception cref="BusStoppedException">The bus is stopping or stopped.</exception>
    ValueTask<EventHandle> PublishAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull;

    /// <summary>Publishes without ever waiting: returns false (and completes the handle as rejected or dropped) when the queue is full.</summary>
    /// <remarks>
    /// On a bus with a write-ahead log the record is handed to the log but not awaited: it becomes durable at the
    /// log's next flush. Use <see cref="PublishAsync{T}"/> when the caller must know the event is on disk.
    /// </remarks>
    /// <typeparam name="T">The event type.</typeparam>
    /// <param name="event">The event.</param>
    /// <param name="handle">The event's handle, admitted or not.</param>
    /// <param name="options">Per-publish options.</param>
    /// <returns>True when the event was admitted.</returns>
    bool TryPublish<T>(T @event, out EventHandle handle, PublishOptions? options = null)
        where T : notnull;

    /// <summary>Publishes many events with one backpressure decision per event and less overhead per event than single publishes.</summary>
    /// <typeparam name="T">The event type.</typeparam>
    /// <param name="events">The events, admitted in order.</param>
    /// <param name="options">Options applied to every event.</param>
    /// <param name="cancellationToken">Cancels waiting for room.</param>
    /// <returns>One handle per event, in order. Under <see cref="BusFullMode.Reject"/> a refused event's handle is completed as <see cref="EventStatus.Rejected"/> and the batch goes on.</returns>
    /// <exception cref="ArgumentException"><see cref="PublishOptions.EventId"/> is set: the events would share it.</exception>
    ValueTask<IReadOnlyList<EventHandle>> PublishBatchAsync<T>(IEnumerable<T> events, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull;

    /// <summary>
    /// Inline dispatch, mediator style: runs the handlers on the caller, no queue. Allocates nothing for a class event
    /// when the handlers complete synchronously. Throws when a handler failed (the original
    /// exception, or an <see cref="AggregateException"/>), after every handler has run.
    /// </summary>
    /// <typeparam name="T">The event type.</typeparam>
    /// <param name="event">The event.</param>
    /// <param name="options">Ids, headers, deadline, handler timeout, concurrency, as for <see cref="InvokeAsync{T}"/>; <see cref="PublishOptions.Priority"/> and <see cref="PublishOptions.OrderingKey"/> do not apply inline.</param>
    /// <param name="cancellationToken">Passed to the handlers (instead of the bus's stop token when it can be cancelled).</param>
    /// <returns>A task that completes when every handler has finished.</returns>
    /// <remarks>
    /// <para>
    /// Failures are thrown to the caller and not added to the dead-letter store, unless <see cref="EventBusOptions.DeadLetterInlineFailures"/> is set.
    /// Without options a warm send whose handlers complete synchronously allocates nothing for a class event, nor for a struct event when no handler takes the context (one that does, or reads <see cref="EventContext.Current"/>, boxes it once per send); with options the event gets a context of its own
    /// (as <see cref="InvokeAsync{T}"/> does), which costs one allocation per send.
    /// </para>
    /// <para>
    /// Not virtual: a call goes to the bus's <see cref="EventSender{T}"/> (<see cref="GetSender{T}"/>), found through a slot per event type
    /// that remembers the last bus a <typeparamref name="T"/> was sent on, so a hot loop pays no generic interface dispatch and no per-type
    /// lookup. On a bus that is not Busbar's own, a send is <see cref="InvokeAsync{T}"/> followed by throwing the outcome's failure.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="event"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message names it).</exception>
    /// <exception cref="EventValidationException">The event is invalid; no handler ran.</exception>
    /// <exception cref="BusStoppedException">The bus is stopping or stopped.</exception>
    sealed ValueTask SendAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull =>
        EventSender<T>.Of(this).SendAsync(@event, options, cancellationToken);

    /// <summary>
    /// The sender of <typeparamref name="T"/> on this bus: the same <see cref="SendAsync{T}"/>, <see cref="PublishAsync{T}"/> and
    /// <see cref="InvokeAsync{T}"/> for one event type, with a non-virtual <see cref="EventSender{T}.SendAsync"/> that skips the
    /// per-call type lookup. Hot paths: take a sender once and keep it.
    /// </summary>
    /// <typeparam name="T">The event type.</typeparam>
    /// <returns>The bus's one sender of <typeparamref name="T"/> (the same instance on every call); thread-safe.</returns>
    EventSender<T> GetSender<T>()
        where T : notnull;

    /// <summary>Inline dispatch that returns the full outcome instead of throwing.</summary>
    /// <typeparam name="T">The event type.</typeparam>
    /// <param name="event">The event.</param>
    /// <param name="options">Per-publish options.</param>
    /// <param name="cancellationToken">Passed to the handlers.</param>
    /// <returns>The outcome.</returns>
    /// <remarks>Failures are in the outcome and not added to the dead-letter store, unless <see cref="EventBusOptions.DeadLetterInlineFailures"/> is set.</remarks>
    ValueTask<EventOutcome> InvokeAsync<T>(T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull;

    /// <summary>Subscribes to <typeparamref name="T"/> and every type assignable to it.</summary>
    /// <typeparam name="T">A class, interface or struct type.</typeparam>
    /// <param name="handler">The handler.</param>
    /// <param name="options">Name, priority, timeout, retries, filter.</param>
    /// <returns>The subscription; dispose it to unsubscribe.</returns>
    ISubscription Subscribe<T>(Func<T, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null);

    /// <summary>Subscribes a handler that returns a result, read through <see cref="EventOutcome.Results{T}"/>.</summary>
    /// <typeparam name="T">The event type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="handler">The handler.</param>
    /// <param name="options">Subscription options.</param>
    /// <returns>The subscription.</returns>
    ISubscription Subscribe<T, TResult>(Func<T, EventContext, CancellationToken, ValueTask<TResult>> handler, SubscriptionOptions? options = null);

    /// <summary>Subscribes by name pattern: <c>*</c> matches one segment, a trailing <c>**</c> one or more, <c>*</c> alone every event.</summary>
    /// <param name="pattern">The pattern, for example <c>orders.*</c>.</param>
    /// <param name="handler">The handler; it sees the event as <see cref="object"/>.</param>
    /// <param name="options">Subscription options.</param>
    /// <returns>The subscription.</returns>
    /// <exception cref="ArgumentException">The pattern is invalid.</exception>
    ISubscription Subscribe(string pattern, Func<object, EventContext, CancellationToken, ValueTask> handler, SubscriptionOptions? options = null);

    /// <summary>
    /// Waits for an event of type <typeparamref name="T"/> matching <paramref name="predicate"/>.
    /// Looks in recent history first, so an event published just before the call is not missed.
    /// </summary>
    /// <typeparam name="T">The event type (polymorphic: a subtype matches too).</typeparam>
    /// <param name="predicate">Which event; null for any (or use the overload without a predicate).</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</param>
    /// <param name="options">History window and parent filter.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The matching event as <typeparamref name="T"/> with its context and handle, or <see langword="null"/> on timeout (no exception).</returns>
    /// <remarks>
    /// When several events in the history match, the <b>latest</b> one (the most recently published) is returned.
    /// When none does, the first matching event published after the call is returned. The predicate runs on the
    /// publishing thread for events published during the wait; an exception it throws ends the wait with that exception.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    ValueTask<EventMatch<T>?> WaitForAsync<T>(Func<T, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Waits for an event whose name matches <paramref name="pattern"/>; the same rules as
    /// <see cref="WaitForAsync{T}(Func{T, EventContext, bool}?, TimeSpan, WaitOptions?, CancellationToken)"/>
    /// (the latest match in history, else the first one published after the call).
    /// </summary>
    /// <param name="pattern">The name pattern.</param>
    /// <param name="predicate">Which event; null for any.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="options">History window and parent filter.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The matching event with its context and handle, or <see langword="null"/> on timeout.</returns>
    /// <exception cref="ArgumentException">The pattern is invalid.</exception>
    ValueTask<EventMatch<object>?> WaitForAsync(string pattern, Func<object, EventContext, bool>? predicate, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default);

    /// <summary>Recent events of type <typeparamref name="T"/> (newest last), from the bounded history.</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="predicate">Which events; null for all.</param>
    /// <returns>Matching handles, oldest first.</returns>
    IReadOnlyList<EventHandle> History<T>(Func<T, EventContext, bool>? predicate = null);

    /// <summary>Recent events whose name matches <paramref name="pattern"/>, from the bounded history.</summary>
    /// <param name="pattern">The name pattern; <c>*</c> for all.</param>
    /// <param name="predicate">Which events; null for all.</param>
    /// <returns>Matching handles, oldest first.</returns>
    IReadOnlyList<EventHandle> History(string pattern, Func<object, EventContext, bool>? predicate = null);

    /// <summary>Forwards events matching <paramref name="pattern"/> to <paramref name="target"/>, keeping their id. Loops are cut by <see cref="EventContext.Path"/>.</summary>
    /// <param name="target">The bus to forward to.</param>
    /// <param name="pattern">Which events; <c>*</c> for all.</param>
    /// <param name="options">Whether the original waits for the target's handlers.</param>
    /// <returns>The forwarding subscription; dispose it to stop forwarding.</returns>
    ISubscription ForwardTo(IEventBus target, string pattern = "*", ForwardOptions? options = null);

    /// <summary>A snapshot of the write-ahead log's state, or <see langword="null"/> when the bus has none.</summary>
    /// <returns>A new snapshot on each call (it copies the pending counts per subscription), so call it once and read the copy.</returns>
    WriteAheadLogStatus? GetWriteAheadLogStatus();

    /// <summary>A snapshot of the bus's counters and queue.</summary>
    /// <returns>The statistics.</returns>
    BusStatistics GetStatistics();

    /// <summary>
    /// Stops intake (publishes then throw <see cref="BusStoppedException"/>), drains queued and
    /// running work within <paramref name="drainTimeout"/>, then cancels running handlers through
    /// their tokens and completes what is left as cancelled. Idempotent.
    /// </summary>
    /// <param name="drainTimeout">How long to drain; null for <see cref="EventBusOptions.DrainTimeout"/>.</param>
    /// <param name="cancellationToken">Ends the drain early (as if the timeout expired).</param>
    /// <returns>What was drained, cancelled and left.</returns>
    ValueTask<StopReport> StopAsync(TimeSpan? drainTimeout = null, CancellationToken cancellationToken = default);
}
