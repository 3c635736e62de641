using Busbar.Dispatch;

namespace Busbar;

/// <summary>Convenience overloads for publishing and subscribing.</summary>
public static class EventBusExtensions
{
    /// <summary>Subscribes a synchronous handler. It runs on a worker (thread pool), never on the publisher's thread, for queued events.</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="options">Subscription options; set <see cref="SubscriptionOptions.Blocking"/> for a handler that blocks.</param>
    /// <returns>The subscription.</returns>
    public static ISubscription Subscribe<T>(this IEventBus bus, Action<T> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(handler);
        Func<T, EventContext, CancellationToken, ValueTask> wrapped = (e, _, _) =>
        {
            handler(e);
            return ValueTask.CompletedTask;
        };
        return bus is InProcessEventBus inProcess ? inProcess.Subscribe(wrapped, options, handler, contextFree: handler) : bus.Subscribe(wrapped, options);
    }

    /// <summary>Subscribes a synchronous handler that also receives the event's context.</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="options">Subscription options.</param>
    /// <returns>The subscription.</returns>
    public static ISubscription Subscribe<T>(this IEventBus bus, Action<T, EventContext> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(handler);
        return Typed<T>(
            bus,
            (e, context, _) =>
            {
                handler(e, context);
                return ValueTask.CompletedTask;
            },
            options,
            handler);
    }

    /// <summary>Subscribes an asynchronous handler that needs neither context nor token.</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="options">Subscription options.</param>
    /// <returns>The subscription.</returns>
    public static ISubscription Subscribe<T>(this IEventBus bus, Func<T, ValueTask> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(handler);
        Func<T, EventContext, CancellationToken, ValueTask> wrapped = (e, _, _) => handler(e);
        return bus is InProcessEventBus inProcess ? inProcess.Subscribe(wrapped, options, handler, contextFree: handler) : bus.Subscribe(wrapped, options);
    }

    /// <summary>Subscribes a synchronous handler that returns a result.</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="options">Subscription options.</param>
    /// <returns>The subscription.</returns>
    public static ISubscription Subscribe<T, TResult>(this IEventBus bus, Func<T, TResult> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(handler);
        Func<T, EventContext, CancellationToken, ValueTask<TResult>> wrapped = (e, _, _) => new ValueTask<TResult>(handler(e));
        return bus is InProcessEventBus inProcess ? inProcess.Subscribe(wrapped, options, handler) : bus.Subscribe(wrapped, options);
    }

    /// <summary>Subscribes a handler instance.</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="options">Subscription options.</param>
    /// <returns>The subscription.</returns>
    public static ISubscription Subscribe<T>(this IEventBus bus, IEventHandler<T> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(handler);
        return Typed<T>(bus, handler.HandleAsync, options, handler);
    }

    /// <summary>Subscribes a synchronous pattern handler.</summary>
    /// <param name="bus">The bus.</param>
    /// <param name="pattern">The name pattern.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="options">Subscription options.</param>
    /// <returns>The subscription.</returns>
    public static ISubscription Subscribe(this IEventBus bus, string pattern, Action<object, EventContext> handler, SubscriptionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(handler);
        Func<object, EventContext, CancellationToken, ValueTask> wrapped = (e, context, _) =>
        {
            handler(e, context);
            return ValueTask.CompletedTask;
        };
        return bus is InProcessEventBus inProcess ? inProcess.Subscribe(pattern, wrapped, options, handler) : bus.Subscribe(pattern, wrapped, options);
    }

    /// <summary>
    /// Publishes <paramref name="event"/> and waits for its outcome in one step: the queued
    /// counterpart of <see cref="IEventBus.InvokeAsync{T}"/>, for callers that do not need the
    /// <see cref="EventHandle"/> (use <see cref="IEventBus.PublishAsync{T}"/> for it).
    /// </summary>
    /// <typeparam name="T">The event type; its runtime type decides the name and the handlers.</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="event">The event.</param>
    /// <param name="options">Priority, ordering key, deadline, ids, headers.</param>
    /// <param name="cancellationToken">
    /// Cancels waiting for room and then waiting for the outcome. Once the event is admitted it is not
    /// cancelled: the wait gives up and the event goes on (set <see cref="PublishOptions.DeadlineAfter"/> to bound the event itself).
    /// </param>
    /// <returns>The outcome. A failed handler does not throw: read <see cref="EventOutcome.Status"/> or call <see cref="EventOutcome.ThrowIfFailed"/>.</returns>
    /// <remarks>
    /// Unlike <c>await bus.PublishAsync(e)</c>, which returns as soon as the event is queued, this cannot be
    /// mistaken for a wait that it is not. Inside a handler of the same bus it waits as an awaited
    /// handle does: a still-queued event is handled at once on the caller (a queue jump), so it never deadlocks.
    /// </remarks>
    /// <exception cref="EventValidationException">The event is invalid; nothing was queued.</exception>
    /// <exception cref="BusFullException">The queue is full under <see cref="BusFullMode.Reject"/>.</exception>
    /// <exception cref="BusStoppedException">The bus is stopping or stopped.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired while waiting for room or for the outcome.</exception>
    public static async ValueTask<EventOutcome> PublishAndWaitAsync<T>(this IEventBus bus, T @event, PublishOptions? options = null, CancellationToken cancellationToken = default)
        where T : notnull
    {
        ArgumentNullException.ThrowIfNull(bus);
        var handle = await bus.PublishAsync(@event, options, cancellationToken).ConfigureAwait(false);
        return cancellationToken.CanBeCanceled && !handle.IsCompleted
            ? await handle.WaitAsync(cancellationToken).ConfigureAwait(false)
            : await handle.AsValueTask().ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for any event of type <typeparamref name="T"/>: the latest one in history, else the first one
    /// published after the call; see <see cref="IEventBus.WaitForAsync{T}(Func{T, EventContext, bool}?, TimeSpan, WaitOptions?, CancellationToken)"/>.
    /// </summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="options">History window and parent filter.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The event as <typeparamref name="T"/> with its context and handle, or <see langword="null"/> on timeout.</returns>
    public static ValueTask<EventMatch<T>?> WaitForAsync<T>(this IEventBus bus, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bus);
        return bus.WaitForAsync<T>(null, timeout, options, cancellationToken);
    }

    /// <summary>
    /// Waits for any event whose name matches <paramref name="pattern"/>: the latest one in history, else the first one
    /// published after the call; see <see cref="IEventBus.WaitForAsync(string, Func{object, EventContext, bool}?, TimeSpan, WaitOptions?, CancellationToken)"/>.
    /// </summary>
    /// <param name="bus">The bus.</param>
    /// <param name="pattern">The name pattern.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="options">History window and parent filter.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The event with its context and handle, or <see langword="null"/> on timeout.</returns>
    /// <exception cref="ArgumentException">The pattern is invalid.</exception>
    public static ValueTask<EventMatch<object>?> WaitForAsync(this IEventBus bus, string pattern, TimeSpan timeout, WaitOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(bus);
        return bus.WaitForAsync(pattern, null, timeout, options, cancellationToken);
    }

    /// <summary>Subscribes a wrapped handler, named after the user's <paramref name="origin"/> when the options give no name.</summary>
    private static ISubscription Typed<T>(IEventBus bus, Func<T, EventContext, CancellationToken, ValueTask> wrapped, SubscriptionOptions? options, object origin) =>
        bus is InProcessEventBus inProcess ? inProcess.Subscribe(wrapped, options, origin) : bus.Subscribe(wrapped, options);

    /// <summary>Subscribes an asynchronous handler that only sees the events <paramref name="filter"/> accepts (typed: no cast).</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="filter">Which events reach the handler; the others count as <see cref="HandlerStatus.Skipped"/>. A filter that throws counts as a failed invocation.</param>
    /// <param name="options">Subscription options, without <see cref="SubscriptionOptions.Filter"/>.</param>
    /// <returns>The subscription.</returns>
    /// <exception cref="ArgumentException"><paramref name="options"/> sets <see cref="SubscriptionOptions.Filter"/> too.</exception>
    public static ISubscription Subscribe<T>(this IEventBus bus, Func<T, EventContext, CancellationToken, ValueTask> handler, Func<T, EventContext, bool> filter, SubscriptionOptions? options = null) =>
        bus.Subscribe<T>(handler, Filtered(options, filter));

    /// <summary>Subscribes an asynchronous handler that returns a result that only sees the events <paramref name="filter"/> accepts (typed: no cast).</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="filter">Which events reach the handler; the others count as <see cref="HandlerStatus.Skipped"/>. A filter that throws counts as a failed invocation.</param>
    /// <param name="options">Subscription options, without <see cref="SubscriptionOptions.Filter"/>.</param>
    /// <returns>The subscription.</returns>
    /// <exception cref="ArgumentException"><paramref name="options"/> sets <see cref="SubscriptionOptions.Filter"/> too.</exception>
    public static ISubscription Subscribe<T, TResult>(this IEventBus bus, Func<T, EventContext, CancellationToken, ValueTask<TResult>> handler, Func<T, EventContext, bool> filter, SubscriptionOptions? options = null) =>
        bus.Subscribe<T, TResult>(handler, Filtered(options, filter));

    /// <summary>Subscribes a synchronous handler that only sees the events <paramref name="filter"/> accepts (typed: no cast).</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="filter">Which events reach the handler; the others count as <see cref="HandlerStatus.Skipped"/>. A filter that throws counts as a failed invocation.</param>
    /// <param name="options">Subscription options, without <see cref="SubscriptionOptions.Filter"/>.</param>
    /// <returns>The subscription.</returns>
    /// <exception cref="ArgumentException"><paramref name="options"/> sets <see cref="SubscriptionOptions.Filter"/> too.</exception>
    public static ISubscription Subscribe<T>(this IEventBus bus, Action<T> handler, Func<T, EventContext, bool> filter, SubscriptionOptions? options = null) =>
        bus.Subscribe<T>(handler, Filtered(options, filter));

    /// <summary>Subscribes a synchronous handler that receives the context that only sees the events <paramref name="filter"/> accepts (typed: no cast).</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="filter">Which events reach the handler; the others count as <see cref="HandlerStatus.Skipped"/>. A filter that throws counts as a failed invocation.</param>
    /// <param name="options">Subscription options, without <see cref="SubscriptionOptions.Filter"/>.</param>
    /// <returns>The subscription.</returns>
    /// <exception cref="ArgumentException"><paramref name="options"/> sets <see cref="SubscriptionOptions.Filter"/> too.</exception>
    public static ISubscription Subscribe<T>(this IEventBus bus, Action<T, EventContext> handler, Func<T, EventContext, bool> filter, SubscriptionOptions? options = null) =>
        bus.Subscribe<T>(handler, Filtered(options, filter));

    /// <summary>Subscribes an asynchronous handler that needs neither context nor token that only sees the events <paramref name="filter"/> accepts (typed: no cast).</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="filter">Which events reach the handler; the others count as <see cref="HandlerStatus.Skipped"/>. A filter that throws counts as a failed invocation.</param>
    /// <param name="options">Subscription options, without <see cref="SubscriptionOptions.Filter"/>.</param>
    /// <returns>The subscription.</returns>
    /// <exception cref="ArgumentException"><paramref name="options"/> sets <see cref="SubscriptionOptions.Filter"/> too.</exception>
    public static ISubscription Subscribe<T>(this IEventBus bus, Func<T, ValueTask> handler, Func<T, EventContext, bool> filter, SubscriptionOptions? options = null) =>
        bus.Subscribe<T>(handler, Filtered(options, filter));

    /// <summary>Subscribes a synchronous handler that returns a result that only sees the events <paramref name="filter"/> accepts (typed: no cast).</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="filter">Which events reach the handler; the others count as <see cref="HandlerStatus.Skipped"/>. A filter that throws counts as a failed invocation.</param>
    /// <param name="options">Subscription options, without <see cref="SubscriptionOptions.Filter"/>.</param>
    /// <returns>The subscription.</returns>
    /// <exception cref="ArgumentException"><paramref name="options"/> sets <see cref="SubscriptionOptions.Filter"/> too.</exception>
    public static ISubscription Subscribe<T, TResult>(this IEventBus bus, Func<T, TResult> handler, Func<T, EventContext, bool> filter, SubscriptionOptions? options = null) =>
        bus.Subscribe<T, TResult>(handler, Filtered(options, filter));

    /// <summary>Subscribes a handler instance that only sees the events <paramref name="filter"/> accepts (typed: no cast).</summary>
    /// <typeparam name="T">The event type (polymorphic).</typeparam>
    /// <param name="bus">The bus.</param>
    /// <param name="handler">The handler.</param>
    /// <param name="filter">Which events reach the handler; the others count as <see cref="HandlerStatus.Skipped"/>. A filter that throws counts as a failed invocation.</param>
    /// <param name="options">Subscription options, without <see cref="SubscriptionOptions.Filter"/>.</param>
    /// <returns>The subscription.</returns>
    /// <exception cref="ArgumentException"><paramref name="options"/> sets <see cref="SubscriptionOptions.Filter"/> too.</exception>
    public static ISubscription Subscribe<T>(this IEventBus bus, IEventHandler<T> handler, Func<T, EventContext, bool> filter, SubscriptionOptions? options = null) =>
        bus.Subscribe<T>(handler, Filtered(options, filter));

    /// <summary>The options with a typed filter as <see cref="SubscriptionOptions.Filter"/>; the subscription's events are all <typeparamref name="T"/>.</summary>
    private static SubscriptionOptions Filtered<T>(SubscriptionOptions? options, Func<T, EventContext, bool> filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (options?.Filter is not null)
            throw new ArgumentException("Set the filter once: either the typed filter argument or SubscriptionOptions.Filter, not both.", nameof(options));
        return (options ?? s_noOptions) with { Filter = (e, context) => filter((T)e, context) };
    }

    private static readonly SubscriptionOptions s_noOptions = new();
}
