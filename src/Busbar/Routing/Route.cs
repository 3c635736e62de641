using Busbar.Dispatch;

namespace Busbar.Routing;

/// <summary>The resolved handlers for one event type, ordered by descending priority then registration.</summary>
internal sealed class Route
{
    public Route(SubscriptionEntry[] entries, int[] tierStarts, long version)
    {
        Entries = entries;
        TierStarts = tierStarts;
        Version = version;
        var simple = true;
        var durable = 0;
        foreach (var entry in entries)
        {
            simple &= entry.IsSimple;
            if (entry.HasStableName)
                durable++;
        }

        AllSimple = simple;
        DurableCount = durable;
    }

    public SubscriptionEntry[] Entries { get; }

    /// <summary>Index of the first entry of each priority tier.</summary>
    public int[] TierStarts { get; }

    public long Version { get; }

    /// <summary>No entry needs timeouts, retries, filters or a dedicated thread: the synchronous fast path applies.</summary>
    public bool AllSimple { get; }

    public int DurableCount { get; }
}
