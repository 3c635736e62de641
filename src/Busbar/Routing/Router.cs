using System.Collections.Concurrent;

namespace Busbar.Routing;

/// <summary>
/// Holds the subscriptions of one bus and resolves the handlers of an event type. Writers
/// (subscribe, unsubscribe) rebuild immutable snapshots under a lock; readers never lock: they
/// read the per-type route cache, whose entries carry the version they were built from.
/// </summary>
internal sealed class Router
{
    private static int s_nextRouterId;

    private readonly object _writeLock = new();
    private readonly ConcurrentDictionary<Type, Route> _cache = new();
    private Snapshot _snapshot = new([], [], [], 0);
    private long _sequence;

    public Router() => Id = Interlocked.Increment(ref s_nextRouterId);

    /// <summary>Small process-wide number used to index the static per-type route slots.</summary>
    public int Id { get; }

    public long Version => Volatile.Read(ref _snapshot).Version;

    /// <summary>The active subscription named <paramref name="name"/>, or <see langword="null"/>.</summary>
    public Subscription? FindActive(string name)
    {
        foreach (var subscription in Subscriptions)
        {
            if (subscription.Name == name && subscription.IsActive)
                return subscription;
        }

        return null;
    }

    public IReadOnlyList<Subscription> Subscriptions => Volatile.Read(ref _snapshot).All;

    public void Add(Subscription subscription)
    {
        lock (_writeLock)
        {
            var old = _snapshot;
            subscription.Sequence = ++_sequence;
            var all = Append(old.All, subscription);
            var typed = subscription.TopicPattern is null ? Append(old.Typed, subscription) : old.Typed;
            var patterns = subscription.TopicPattern is null ? old.PatternSubscriptions : Append(old.PatternSubscriptions, subscription);
            Publish(new Snapshot(all, typed, patterns, old.Version + 1));
        }
    }

    public bool Remove(Subscription subscription)
    {
        lock (_writeLock)
        {
            var old = _snapshot;
            var index = Array.IndexOf(old.All, subscription);
            if (index < 0)
                return false;
            var all = Without(old.All, subscription);
            var typed = subscription.TopicPattern is null ? Without(old.Typed, subscription) : old.Typed;
            var patterns = subscription.TopicPattern is null ? old.PatternSubscriptions : Without(old.PatternSubscriptions, subscription);
            Publish(new Snapshot(all, typed, patterns, old.Version + 1));
            return true;
        }
    }

    private void Publish(Snapshot snapshot)
    {
        Volatile.Write(ref _snapshot, snapshot);
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
    public Route Resolve<T>(string name)
    {
        var slots = RouteSlots<T>.Slots;
        var version = Volatile.Read(ref _snapshot).Version;
        if ((uint)Id < (uint)slots.Length && slots[Id] is { } cached && cached.Version == version)
            return cached;
        var route = Resolve(typeof(T), name);
        RouteSlots<T>.Store(Id, route);
        return route;
    }

    public Route Resolve(Type type, string name)
    {
        var snapshot = Volatile.Read(ref _snapshot);
        if (_cache.TryGetValue(type, out var route) && route.Version == snapshot.Version)
            return route;
        route = Build(snapshot, type, name);
        _cache[type] = route;
        return route;
    }

    private static Route Build(Snapshot snapshot, Type type, string name)
    {
        if (snapshot.All.Length == 0)
            return new Route([], [], snapshot.Version);
        var matches = new List<Subscription>();
        foreach (var subscription in snapshot.Typed)
        {
            if (subscription.EventType!.IsAssignableFrom(type))
                matches.Add(subscription);
        }

        snapshot.Patterns.Collect(name, matches);
        matches.Sort(static (a, b) => a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority) : a.Sequence.CompareTo(b.Sequence));
        var tiers = new List<int>();
        for (var i = 0; i < matches.Count; i++)
        {
            if (i == 0 || matches[i].Priority != matches[i - 1].Priority)
                tiers.Add(i);
        }

        return new Route([.. matches], [.. tiers], snapshot.Version);
    }

    /// <summary>An immutable view of the subscriptions. The pattern trie is built on first use, so subscribing many patterns in a row costs no rebuild each.</summary>
    private sealed class Snapshot(Subscription[] all, Subscription[] typed, Subscription[] patterns, long version)
    {
        private PatternIndex? _index;

        public Subscription[] All { get; } = all;

        public Subscription[] Typed { get; } = typed;

        public Subscription[] PatternSubscriptions { get; } = patterns;

        public long Version { get; } = version;

        public PatternIndex Patterns
        {
            get
            {
                var index = Volatile.Read(ref _index);
                if (index is null)
                {
                    index = new PatternIndex(PatternSubscriptions);
                    index = Interlocked.CompareExchange(ref _index, index, null) ?? index;
                }

                return index;
            }
        }
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
    }
}
