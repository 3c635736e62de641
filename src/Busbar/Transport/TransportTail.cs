using Busbar.Routing;

namespace Busbar.Transport;

/// <summary>What every transport's <see cref="IEventTransport.TailAsync"/> checks first.</summary>
internal static class TransportTail
{
    /// <summary>The parsed patterns, or an <see cref="ArgumentException"/> naming the bad one.</summary>
    public static TopicPattern[] ParsePatterns(IReadOnlyList<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        if (patterns.Count == 0)
            throw new ArgumentException("A tail needs at least one event-name pattern ('*' for every event).", nameof(patterns));
        var parsed = new TopicPattern[patterns.Count];
        for (var i = 0; i < parsed.Length; i++)
            parsed[i] = TopicPattern.Parse(patterns[i]);
        return parsed;
    }
}
