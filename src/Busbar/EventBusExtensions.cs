namespace Busbar;

/// <summary>Convenience overloads for subscribing.</summary>
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
        return bus.Subscribe<T>(
            (e, _, _) =>
            {
                handler(e);
                return ValueTask.CompletedTask;
            },
            options);
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
        return bus.Subscribe<T>(
            (e, context, _) =>
            {
                handler(e, context);
                return ValueTask.CompletedTask;
            },
            options);
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
        return bus.Subscribe<T>((e, _, _) => handler(e), options);
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
        return bus.Subscribe<T, TResult>((e, _, _) => new ValueTask<TResult>(handler(e)), options);
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
        return bus.Subscribe<T>(handler.HandleAsync, options);
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
        return bus.Subscribe(
            pattern,
            (e, context, _) =>
            {
                handler(e, context);
                return ValueTask.CompletedTask;
            },
            options);
    }
}
