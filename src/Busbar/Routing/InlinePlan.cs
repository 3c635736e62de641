namespace Busbar.Routing;

/// <summary>
/// The handlers of one route for an inline send of events of runtime type <typeparamref name="T"/>, when none of them needs the
/// engine: each is a plain typed handler of <typeparamref name="T"/> with no timeout, retry, filter, once, blocking thread or result.
/// <c>SendAsync</c> invokes <see cref="Handlers"/> in a loop, without the dispatcher, results or clock reads; the first handler that
/// throws or goes asynchronous hands the event to the dispatcher, which carries on from that handler exactly as if it had run the
/// event from the start.
/// </summary>
/// <remarks>
/// Built at most once per route, and a route is a snapshot of the subscriptions at one router version: a subscription added or
/// removed makes a new route, so the plan never outlives the subscriptions it was built from. A subscription disposed while its route
/// is in use stays in the plan and is skipped, as the dispatcher skips it.
/// </remarks>
/// <typeparam name="T">The event's runtime type.</typeparam>
internal sealed class InlinePlan<T>
{
    private InlinePlan(string name, Subscription[] subscriptions, Func<T, EventContext, CancellationToken, ValueTask>[]? handlers)
    {
        Name = name;
        Subscriptions = subscriptions;
        Handlers = handlers;
    }

    /// <summary>The event's name, so a send that finds the plan needs no other per-type lookup.</summary>
    public string Name { get; }

    /// <summary>The route's subscriptions, in dispatch order.</summary>
    public Subscription[] Subscriptions { get; }

    /// <summary>The user handler of each subscription, same index; <see langword="null"/> when the route needs the engine.</summary>
    public Func<T, EventContext, CancellationToken, ValueTask>[]? Handlers { get; }

    /// <summary>
    /// The plan of <paramref name="route"/> for events of exactly type <typeparamref name="T"/>; its <see cref="Handlers"/> are
    /// <see langword="null"/> when a handler or the bus needs the engine.
    /// </summary>
    /// <param name="route">A route resolved for <typeparamref name="T"/>.</param>
    /// <param name="name">The event's name.</param>
    /// <param name="busNeedsEngine">The bus's own options or middlewares need the engine for this event type whatever the handlers.</param>
    public static InlinePlan<T> Build(Route route, string name, bool busNeedsEngine)
    {
        var subscriptions = route.Subscriptions;
        if (busNeedsEngine || !route.AllSimple || subscriptions.Length == 0)
            return new InlinePlan<T>(name, subscriptions, null);
        var handlers = new Func<T, EventContext, CancellationToken, ValueTask>[subscriptions.Length];
        for (var i = 0; i < subscriptions.Length; i++)
        {
            // A handler of a base type or a pattern, or one with a result, keeps the engine's adapter.
            if (subscriptions[i] is not TypedSubscription<T> typed)
                return new InlinePlan<T>(name, subscriptions, null);
            handlers[i] = typed.Handler;
        }

        return new InlinePlan<T>(name, subscriptions, handlers);
    }
}
