
namespace Busbar.Routing;

/// <summary>
/// A segment trie of pattern subscriptions. Matching an event name walks at most one literal and
/// one <c>*</c> branch per segment, so its cost does not depend on how many patterns exist.
/// Immutable after construction: the router rebuilds it on (un)subscribe.
/// </summary>
internal sealed class PatternIndex
{
    private readonly Node _root = new();
    private readonly List<Subscription> _matchAll = [];

    public PatternIndex(IEnumerable<Subscription> subscriptions)
    {
        foreach (var subscription in subscriptions)
        {
            var pattern = subscription.TopicPattern!;
            if (pattern.MatchesAll)
            {
                _matchAll.Add(subscription);
                continue;
            }

            var node = _root;
            foreach (var segment in pattern.Segments)
            {
                if (segment == "*")
                {
                    node = node.Star ??= new Node();
                }
                else
                {
                    node.Literals ??= new Dictionary<string, Node>(StringComparer.Ordinal);
                    if (!node.Literals.TryGetValue(segment, out var next))
                        node.Literals[segment] = next = new Node();
                    node = next;
                }
            }

            (pattern.TrailingMulti ? node.Multi ??= [] : node.Exact ??= []).Add(subscription);
        }
    }

    public void Collect(string name, List<Subscription> into)
    {
        into.AddRange(_matchAll);
        Walk(_root, name, 0, into);
    }

    private static void Walk(Node node, string name, int index, List<Subscription> into)
    {
        if (index > name.Length)
        {
            if (node.Exact is not null)
                into.AddRange(node.Exact);
            return;
        }

        // At least one segment remains: trailing '**' patterns ending here match.
        if (node.Multi is not null)
            into.AddRange(node.Multi);
        var end = name.IndexOf('.', index);
        var length = (end < 0 ? name.Length : end) - index;
        var next = index + length + 1;
        if (node.Literals is not null
            && node.Literals.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(name.AsSpan(index, length), out var literal))
        {
            Walk(literal, name, next, into);
        }

        if (node.Star is not null)
            Walk(node.Star, name, next, into);
    }

    private sealed class Node
    {
        public Dictionary<string, Node>? Literals;
        public Node? Star;
        public List<Subscription>? Exact;
        public List<Subscription>? Multi;
    }
}
