namespace Busbar.Routing;

/// <summary>What every <see cref="InlinePlan{T}"/> holds whatever its event type: what an ambient frame needs to create a deferred context.</summary>
internal abstract class InlinePlan(Route route, string name)
{
    /// <summary>The route the plan was built from; its <see cref="Route.Version"/> says whether the plan is current.</summary>
    public Route Route { get; } = route;

    /// <summary>The route's <see cref="Route.Version"/>, held here so that a sender checks it without reading the route.</summary>
    public readonly long Version = route.Version;

    /// <summary>The event's name, so a send that finds the plan needs no other per-type lookup.</summary>
    public string Name { get; } = name;

    /// <summary>The route's subscriptions, in dispatch order.</summary>
    public Subscription[] Subscriptions => Route.Subscriptions;
}

/// <summary>
/// The handlers of one route for an inline send of events of runtime type <typeparamref name="T"/>, when none of them needs the
/// engine: each is a plain typed handler of <typeparamref name="T"/> with no timeout, retry, filter, once, blocking thread or result.
/// <c>SendAsync</c> invokes <see cref="Handlers"/> in a loop, without the dispatcher, results or clock reads; the first handler that
/// throws or goes asynchronous hands the event to the dispatcher, which carries on from that handler exactly as if it had run the
/// event from the start.
/// </summary>
/// <remarks>
/// <para>
/// Built at most once per route, and a route is a snapshot of the subscriptions at one router version: a subscription added or
/// removed makes a new route, so the plan never outlives the subscriptions it was built from. A subscription disposed while its route
/// is in use stays in the plan and is skipped, as the dispatcher skips it.
/// </para>
/// <para>
/// The plan is also the typed sender of its (bus, event type): <see cref="Find"/> reaches it with one array read in a static slot
/// array per event type, indexed by the router's id, and one version comparison — no route cache lookup and no cast.
/// </para>
/// </remarks>
/// <typeparam name="T">The event's runtime type.</typeparam>
internal sealed class InlinePlan<T> : InlinePlan
{
    /// <summary>The current plan of each router, by <see cref="Router.Id"/>; replaced whole when it grows.</summary>
    private static InlinePlan<T>?[] s_slots = [];

    private static readonly object s_growLock = new();

    private InlinePlan(Route route, string name, Func<T, EventContext, CancellationToken, ValueTask>[]? handlers, ContextFreeHandler<T>[]? contextFree, bool mayAwait)
        : base(route, name)
    {
        Handlers = handlers;
        ContextFree = contextFree;
        Deferrable = mayAwait ? null : contextFree;
        MayAwait = mayAwait;
    }

    /// <summary>
    /// Some handler may go asynchronous (it was not subscribed as a synchronous delegate): a send watches for its continuation
    /// (see <see cref="Dispatch.InlineResumeContext"/>). A plan of <see cref="Action{T}"/> handlers skips that cost.
    /// </summary>
    public bool MayAwait { get; }

    /// <summary><typeparamref name="T"/>: an event of exactly this runtime type may take the plan.</summary>
    public Type EventType { get; } = typeof(T);

    /// <summary>The user handler of each subscription, same index; <see langword="null"/> when the route needs the engine.</summary>
    public Func<T, EventContext, CancellationToken, ValueTask>[]? Handlers { get; }

    /// <summary>
    /// The user's handler of each subscription, same index, when every handler of the route was subscribed without a context
    /// parameter (<see cref="Action{T}"/> or <see cref="Func{T, TResult}"/> of <see cref="ValueTask"/>); otherwise
    /// <see langword="null"/>. A send can run these without creating a context until someone observes the event (see
    /// <see cref="Dispatch.AmbientFrame.CreateDeferredContext"/>).
    /// </summary>
    public ContextFreeHandler<T>[]? ContextFree { get; }

    /// <summary>
    /// <see cref="ContextFree"/> when no handler may await (<see cref="MayAwait"/>): a top-level send runs these without creating a
    /// context until someone observes the event. A plan with a handler that may await creates the context up front, so that the
    /// hook its handlers' awaits capture is bound to the event from the start (see <see cref="Dispatch.InlineResumeContext"/>).
    /// </summary>
    public ContextFreeHandler<T>[]? Deferrable { get; }

    /// <summary>The plan of <paramref name="router"/> for <typeparamref name="T"/> if it is current, else <see langword="null"/>.</summary>
    /// <param name="router">The bus's router.</param>
    /// <returns>The current plan, or <see langword="null"/> when none was built since the last subscription change.</returns>
    public static InlinePlan<T>? Find(Router router)
    {
        var slots = Volatile.Read(ref s_slots);
        var id = router.Id;
        return (uint)id < (uint)slots.Length && slots[id] is { } plan && plan.Route.Version == router.Version ? plan : null;
    }

    /// <summary>Makes <paramref name="plan"/> what <see cref="Find"/> returns for <paramref name="router"/> until its subscriptions change.</summary>
    /// <param name="router">The bus's router.</param>
    /// <param name="plan">A plan built from a route of <paramref name="router"/>.</param>
    public static void Store(Router router, InlinePlan<T> plan)
    {
        var id = router.Id;
        var slots = Volatile.Read(ref s_slots);
        if ((uint)id >= (uint)slots.Length)
        {
            lock (s_growLock)
            {
                slots = s_slots;
                if ((uint)id >= (uint)slots.Length)
                {
                    var grown = new InlinePlan<T>?[Math.Max(id + 1, slots.Length * 2)];
                    slots.CopyTo(grown, 0);
                    Volatile.Write(ref s_slots, grown);
                    slots = grown;
                }
            }
        }

        // Two sends racing store plans of the same or successive versions; a stale one fails Find's version check.
        slots[id] = plan;
        router.ClearSlotOnRelease(typeof(T), plan: true, static id => Clear(id));
    }

    /// <summary>Forgets the plan of the router numbered <paramref name="id"/> (its bus is disposed; see <see cref="Router.ReleaseSlots"/>).</summary>
    private static void Clear(int id)
    {
        var slots = Volatile.Read(ref s_slots);
        if ((uint)id < (uint)slots.Length)
            slots[id] = null;
    }

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
            return new InlinePlan<T>(route, name, null, null, mayAwait: true);
        var handlers = new Func<T, EventContext, CancellationToken, ValueTask>[subscriptions.Length];
        var contextFree = new ContextFreeHandler<T>[subscriptions.Length];
        var allContextFree = true;
        var mayAwait = false;
        for (var i = 0; i < subscriptions.Length; i++)
        {
            // A handler of a base type or a pattern, or one with a result, keeps the engine's adapter.
            if (subscriptions[i] is not TypedSubscription<T> typed)
                return new InlinePlan<T>(route, name, null, null, mayAwait: true);
            handlers[i] = typed.Handler;
            mayAwait |= !typed.Synchronous;
            switch (typed.ContextFree)
            {
                case Action<T> action:
                    contextFree[i] = new ContextFreeHandler<T>(action, null);
                    break;
                case Func<T, ValueTask> asynchronous:
                    contextFree[i] = new ContextFreeHandler<T>(null, asynchronous);
                    break;
                default:
                    allContextFree = false;
                    break;
            }
        }

        return new InlinePlan<T>(route, name, handlers, allContextFree ? contextFree : null, mayAwait);
    }
}

/// <summary>A handler of a context-free plan: the user's synchronous handler, or else its asynchronous one.</summary>
/// <param name="Sync">The user's <see cref="Action{T}"/>, or <see langword="null"/>.</param>
/// <param name="Async">The user's <see cref="Func{T, TResult}"/> of <see cref="ValueTask"/> when <paramref name="Sync"/> is <see langword="null"/>.</param>
/// <typeparam name="T">The event type.</typeparam>
internal readonly record struct ContextFreeHandler<T>(Action<T>? Sync, Func<T, ValueTask>? Async);
