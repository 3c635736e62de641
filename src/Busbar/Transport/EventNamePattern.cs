using Busbar.Routing;

namespace Busbar.Transport;

/// <summary>
/// A subscription pattern over event names, for transports that match names themselves: dotted
/// segments, <c>*</c> for exactly one segment, a trailing <c>**</c> for one or more, <c>*</c> alone for all.
/// </summary>
public sealed class EventNamePattern
{
    private readonly TopicPattern _pattern;

    private EventNamePattern(TopicPattern pattern) => _pattern = pattern;

    /// <summary>The pattern as written.</summary>
    public string Text => _pattern.Text;

    /// <summary>Parses a pattern; throws <see cref="ArgumentException"/> saying what is wrong with it.</summary>
    /// <param name="pattern">The pattern text.</param>
    public static EventNamePattern Parse(string pattern) => new(TopicPattern.Parse(pattern));

    /// <summary>Whether the event name matches.</summary>
    /// <param name="name">An event name.</param>
    public bool Matches(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _pattern.Matches(name);
    }

    /// <inheritdoc />
    public override string ToString() => Text;
}
