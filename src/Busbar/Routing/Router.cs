using System.Collections.Concurrent;

namespace Busbar.Routing;

/// <summary>
/// Holds the subscriptions of one bus and resolves the handlers of an event type. Writers
/// (subscribe, unsubscribe) update the indexes under a lock, each change costing what the one
/// subscription touches (its type's subscriptions, its pattern's path in the trie), never a rebuild of
/// everything; readers never lock: they read the per-type route cache, whose subscriptions carry the
/// version they were built from.
/// </summary>
/// <remarks>
/// A writer changes the indexes, then publishes a new version. A reader reads the version, then builds
/// from the indexes: it sees every change published by that version, and perhaps part of the next one,
/// whose own publication makes the route stale. So a route served for a version holds every
/// subscription active at that version (handlers disposed meanwhile are skipped at dispatch).
/// </remarks>
internal sealed class Router
{
    private static int s_nextRouterId;

    private readonly object _writeLock = new();
    private readonly ConcurrentDictionary<Type, Route> _cache = new();

    /// <summary>Every subscription in registration order; read and written under the lock.</summary>
    private readonly SortedDictionary<long, Subscription> _all = [];

    /// <summary>Typed subscriptions by their event type; each array is replaced whole, never changed.</summary>
    private readonly ConcurrentDictionary<Type, Subscription[]> _typed = new();

    private readonly PatternIndex _patterns = new();

    /// <summary>
    /// What clears this router's entry in each static per-type slot array it was stored in (routes here, inline plans in
    /// <see cref="InlinePlan{T}"/>), by event type and kind: run by <see cref="ReleaseSlots"/>.
    /// </summary>
    private readonly ConcurrentDictionary<(Type Type, bool Plan), Action<int>> _slotClearers = new();

    private long _version;
    private long _sequence;

    public Router() => Id = Interlocked.Increment(ref s_nextRouterId);

    /// <summary>Small process-wide number used to index the static per-type route slots.</summary>
    public int Id { get; }

    public long Version => Volatile.Read(ref _version);

    /// <summary>The active subscription named <paramref name="name"/>, or <see langword="null"/>.</summary>
    public Subscription? FindActive(string name)
    {
        lock (_writeLock)
        {
            foreach (var subscription in _all.Values)
            {
                if (subscription.Name == name && subscription.IsActive)
                    return subscription;
            }
        }

        return null;
    }

    /// <summary>A copy of the subscriptions, in registration order.</summary>
    public IReadOnlyList<Subscription> Subscriptions
    {
        get
        {
            lock (_writeLock)
            {
                return [.. _all.Values];
            }
        }
    }

    public void Add(Subscription subscription)
    {
        lock (_writeLock)
        {
            subscription.Sequence = ++_sequence;
            _all.Add(subscription.Sequence, subscription);
            if (subscription.TopicPattern is null)
            {
                var type = subscription.EventType!;
                _typed[type] = _typed.TryGetValue(type, out var existing) ? Append(existing, subscription) : [subscription];
            }
            else
            {
                _patterns.Add(subscription);
            }

            PublishChange();
        }
    }

    public bool Remove(Subscription subscription)
    {
        lock (_writeLock)
        {
            if (!_all.TryGetValue(subscription.Sequence, out var found) || !ReferenceEquals(found, subscription))
                return false;
            _all.Remove(subscription.Sequence);
            if (subscription.TopicPattern is null)
            {
                var type = subscription.EventType!;
                var remaining = Without(_typed[type], subscription);
                if (remaining.Length == 0)
                    _typed.TryRemove(type, out _);
                else
                    _typed[type] = remaining;
            }
            else
            {
                _patterns.Remove(subscription);
            }

            PublishChange();
            return true;
        }
    }

    /// <summary>Makes every cached route stale; clearing the cache releases the subscriptions they hold.</summary>
    private void PublishChange()
    {
        Volatile.Write(ref _version, _version + 1);
        if (!_cache.IsEmpty)
            _cache.Clear();
    }

    private static Subscription[] Append(Subscription[] source, Subscription subscription)
    {
        var copy = new Subscription[source.Length + 1];
        source.CopyTo(copy, 0);
        copy[^1] = subscription;
        return copy;
    }

    private static Subscription[] Without(Subscription[] source, Subscription subscription)
    {
        var index = Array.IndexOf(source, subscription);
        if (index < 0)
            return source;
        var copy = new Subscription[source.Length - 1];
        Array.Copy(source, 0, copy, 0, index);
        Array.Copy(source, index + 1, copy, index, copy.Length - index);
        return copy;
    }

    /// <summary>Resolves the route of <typeparamref name="T"/> when the event's runtime type is exactly T.</summary>
    /// <param name="name">The event's name, <see cref="EventNaming.GetName"/> of <typeparamref name="T"/>; looked up when not given, only if the route is built.</param>
    public Route Resolve<T>(string? name = null)
    {
        var slots = RouteSlots<T>.Slots;
        var version = Volatile.Read(ref _version);
        if ((uint)Id < (uint)slots.Length && slots[Id] is { } cached && cached.Version == version)
            return cached;
        var route = Resolve(typeof(T), name ?? EventNaming.GetName(typeof(T)));
        RouteSlots<T>.Store(Id, route);
        _slotClearers.TryAdd((typeof(T), false), static id => RouteSlots<T>.Clear(id));
        return route;
    }

    /// <summary>
    /// Has <see cref="ReleaseSlots"/> clear this router's entry of a static per-type slot array: each plan and route stored there
    /// holds the subscriptions, and through their handlers whatever these capture (often the bus), for as long as the process runs.
    /// </summary>
    /// <param name="type">The event type of the slot array.</param>
    /// <param name="plan">Whether it is the inline plans' (else the routes').</param>
    /// <param name="clear">Clears the entry of the router id it is given.</param>
    public void ClearSlotOnRelease(Type type, bool plan, Action<int> clear) => _slotClearers.TryAdd((type, plan), clear);

    /// <summary>The bus is disposed: its routes and plans leave the static per-type slots, which would otherwise keep them reachable.</summary>
    public void ReleaseSlots()
    {
        foreach (var clear in _slotClearers.Values)
            clear(Id);
    }

    public Route Resolve(Type type, string name)
    {
        var version = Volatile.Read(ref _version);
        if (_cache.TryGetValue(type, out var route) && route.Version == version)
            return route;
        route = Build(type, name, version);
        _cache[type] = route;
        return route;
    }

    /// <summary>Builds a route from the indexes as they are now; <paramref name="version"/> was read before.</summary>
    private Route Build(Type type, string name, long version)
    {
        var matches = new List<Subscription>();
        foreach (var (subscribed, subscriptions) in _typed)
        {
            if (subscribed.IsAssignableFrom(type))
                matches.AddRange(subscriptions);
        }

        _patterns.Collect(name, matches);
        if (matches.Count == 0)
            return new Route([], [], version);
        matches.Sort(static (a, b) => a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority) : a.Sequence.CompareTo(b.Sequence));
        var tiers = new List<int>();
        for (var i = 0; i < matches.Count; i++)
        {
            if (i == 0 || matches[i].Priority != matches[i - 1].Priority)
                tiers.Add(i);
        }

        return new Route([.. matches], [.. tiers], version);
    }

    /// <summary>A static slot array per event type, indexed by router id: the inline hot path avoids a dictionary lookup.</summary>
    private static class RouteSlots<T>
    {
        public static Route?[] Slots = [];

        private static readonly object s_growLock = new();

        public static void Store(int id, Route route)
        {
            var slots = Volatile.Read(ref Slots);
            if ((uint)id >= (uint)slots.Length)
            {
                lock (s_growLock)
                {
                    slots = Slots;
                    if ((uint)id >= (uint)slots.Length)
                    {
                        var grown = new Route?[Math.Max(id + 1, slots.Length * 2)];
                        slots.CopyTo(grown, 0);
                        Volatile.Write(ref Slots, grown);
                        slots = grown;
                    }
                }
            }

            slots[id] = route;
        }

        public static void Clear(int id)
        {
            var slots = Volatile.Read(ref Slots);
            if ((uint)id < (uint)slots.Length)
                slots[id] = null;
        }
    }
}
