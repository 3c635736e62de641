using System.Collections.Concurrent;

namespace Busbar.Routing;

/// <summary>
/// A segment trie of pattern subscriptions. Matching an event name walks at most one literal and
/// one <c>*</c> branch per segment, so its cost does not depend on how many patterns exist.
/// </summary>
/// <remarks>
/// Updated in place, one pattern at a time, so adding or removing a pattern costs the length of that
/// pattern, not the number of patterns. One writer at a time (the router's lock); readers never lock.
/// A reader sees every pattern added before and not removed during its walk: children live in
/// concurrent dictionaries and each node's subscriptions are an immutable array replaced whole. A walk that
/// overlaps a change may or may not see that change, which the router's versioned route cache tolerates
/// (a route built during a change is stale as soon as the change is published).
/// </remarks>
internal sealed class PatternIndex
{
    private readonly Node _root = new();
    private Subscription[] _matchAll = [];

    public PatternIndex()
    {
    }

    public PatternIndex(IEnumerable<Subscription> subscriptions)
    {
        foreach (var subscription in subscriptions)
            Add(subscription);
    }

    /// <summary>Adds a pattern subscription. Callers serialize writes.</summary>
    public void Add(Subscription subscription)
    {
        var pattern = subscription.TopicPattern!;
        if (pattern.MatchesAll)
        {
            Volatile.Write(ref _matchAll, Append(_matchAll, subscription));
            return;
        }

        var node = _root;
        foreach (var segment in pattern.Segments)
        {
            if (segment == "*")
            {
                if (node.Star is not { } star)
                    Volatile.Write(ref node.Star, star = new Node());
                node = star;
            }
            else
            {
                if (node.Literals is not { } literals)
                    Volatile.Write(ref node.Literals, literals = new ConcurrentDictionary<string, Node>(1, 1, StringComparer.Ordinal));
                node = literals.GetOrAdd(segment, static _ => new Node());
            }
        }

        if (pattern.TrailingMulti)
            Volatile.Write(ref node.Multi, Append(node.Multi, subscription));
        else
            Volatile.Write(ref node.Exact, Append(node.Exact, subscription));
    }

    /// <summary>Removes a pattern subscription and prunes the nodes it leaves empty. Callers serialize writes.</summary>
    public void Remove(Subscription subscription)
    {
        var pattern = subscription.TopicPattern!;
        if (pattern.MatchesAll)
        {
            Volatile.Write(ref _matchAll, Without(_matchAll, subscription) ?? []);
            return;
        }

        var segments = pattern.Segments;
        var path = new Node[segments.Length + 1];
        path[0] = _root;
        for (var i = 0; i < segments.Length; i++)
        {
            var node = path[i];
            Node? next;
            if (segments[i] == "*")
                next = node.Star;
            else
                next = node.Literals is { } literals && literals.TryGetValue(segments[i], out var literal) ? literal : null;
            if (next is null)
                return;
            path[i + 1] = next;
        }

        var last = path[^1];
        if (pattern.TrailingMulti)
            Volatile.Write(ref last.Multi, Without(last.Multi, subscription));
        else
            Volatile.Write(ref last.Exact, Without(last.Exact, subscription));

        // Prune from the leaf up, so churn of distinct patterns does not grow the trie. A reader inside a
        // pruned node sees what it held, minus the removed subscription: still a consistent view.
        for (var i = segments.Length; i > 0 && path[i].IsEmpty; i--)
        {
            var parent = path[i - 1];
            if (segments[i - 1] == "*")
                Volatile.Write(ref parent.Star, null);
            else
                parent.Literals!.TryRemove(segments[i - 1], out _);
        }
    }

    public void Collect(string name, List<Subscription> into)
    {
        into.AddRange(Volatile.Read(ref _matchAll));
        Walk(_root, name, 0, into);
    }

    private static void Walk(Node node, string name, int index, List<Subscription> into)
    {
        if (index > name.Length)
        {
            if (Volatile.Read(ref node.Exact) is { } exact)
                into.AddRange(exact);
            return;
        }

        // At least one segment remains: trailing '**' patterns ending here match.
        if (Volatile.Read(ref node.Multi) is { } multi)
            into.AddRange(multi);
        var end = name.IndexOf('.', index);
        var length = (end < 0 ? name.Length : end) - index;
        var next = index + length + 1;
        if (Volatile.Read(ref node.Literals) is { } literals
            && literals.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name.AsSpan(index, length), out var literal))
        {
            Walk(literal, name, next, into);
        }

        if (Volatile.Read(ref node.Star) is { } star)
            Walk(star, name, next, into);
    }

    private static Subscription[] Append(Subscription[]? source, Subscription subscription)
    {
        if (source is null)
            return [subscription];
        var copy = new Subscription[source.Length + 1];
        source.CopyTo(copy, 0);
        copy[^1] = subscription;
        return copy;
    }

    private static Subscription[]? Without(Subscription[]? source, Subscription subscription)
    {
        var index = source is null ? -1 : Array.IndexOf(source, subscription);
        if (index < 0)
            return source;
        if (source!.Length == 1)
            return null;
        var copy = new Subscription[source.Length - 1];
        Array.Copy(source, 0, copy, 0, index);
        Array.Copy(source, index + 1, copy, index, copy.Length - index);
        return copy;
    }

    private sealed class Node
    {
        public ConcurrentDictionary<string, Node>? Literals;
        public Node? Star;
        public Subscription[]? Exact;
        public Subscription[]? Multi;

        public bool IsEmpty => Exact is null && Multi is null && Star is null && (Literals is null || Literals.IsEmpty);
    }
}
