
namespace Busbar.Routing;

/// <summary>The resolved handlers for one event type, ordered by descending priority then registration.</summary>
internal sealed class Route
{
    public Route(Subscription[] subscriptions, int[] tierStarts, long version)
    {
        Subscriptions = subscriptions;
        TierStarts = tierStarts;
        Version = version;
        var simple = true;
        var durable = 0;
        foreach (var subscription in subscriptions)
        {
            simple &= subscription.IsSimple;
            if (subscription.HasStableName)
                durable++;
        }

        AllSimple = simple;
        DurableCount = durable;
    }

    public Subscription[] Subscriptions { get; }

    /// <summary>Index of the first subscription of each priority tier.</summary>
    public int[] TierStarts { get; }

    public long Version { get; }

    /// <summary>No subscription needs timeouts, retries, filters or a dedicated thread: the synchronous fast path applies.</summary>
    public bool AllSimple { get; }

    public int DurableCount { get; }

    /// <summary>
    /// The <see cref="InlinePlan{T}"/> of this route, built by the first inline send that resolved it (a route serves one event
    /// type, so one plan type); <see langword="null"/> until then. Two sends racing build equal plans, either may win.
    /// </summary>
    public object? InlinePlan { get; set; }
}
