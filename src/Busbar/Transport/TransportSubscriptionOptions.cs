using Busbar.Routing;

namespace Busbar.Transport;

/// <summary>What a consumer subscribes to: its group, the name patterns, and how many deliveries it holds at once.</summary>
public sealed record TransportSubscriptionOptions
{
    /// <summary>The group: every group receives every matching event; consumers of one group share them.</summary>
    /// <value>Required. Letters, digits, '_', '-' and '.' only, at most 128 characters.</value>
    /// <remarks>Give every consumer of one group the same patterns: a transport may hand a consumer any event its group receives.</remarks>
    public required string Group { get; init; }

    /// <summary>
    /// The event-name patterns: dotted segments, <c>*</c> for exactly one segment, a trailing <c>**</c> for
    /// one or more, and <c>*</c> alone for every event (the bus's routing patterns).
    /// </summary>
    /// <value>Required, at least one.</value>
    public required IReadOnlyList<string> Patterns { get; init; }

    /// <summary>How many deliveries may be unsettled at once; no more are received until one is settled.</summary>
    /// <value>Default 256. At least 1.</value>
    public int MaxInFlight { get; init; } = 256;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid option.</summary>
    /// <remarks>
    /// Public for transport authors: an <see cref="IEventTransport.SubscribeAsync"/> implementation calls it first, so every
    /// transport refuses the same bad groups and patterns with the same message. The other options types validate themselves
    /// where they are used (when the bus or the transport is built).
    /// </remarks>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Group) || Group.Length > 128)
            throw new ArgumentException($"{nameof(TransportSubscriptionOptions)}.{nameof(Group)} must be 1 to 128 characters long.", nameof(Group));
        foreach (var c in Group)
        {
            if (!EventNaming.IsNameChar(c) && c != '.')
                throw new ArgumentException($"{nameof(TransportSubscriptionOptions)}.{nameof(Group)} '{Group}' has the character '{c}': use letters, digits, '_', '-' and '.'.", nameof(Group));
        }

        if (Patterns is null || Patterns.Count == 0)
            throw new ArgumentException($"{nameof(TransportSubscriptionOptions)}.{nameof(Patterns)} needs at least one pattern.", nameof(Patterns));
        foreach (var pattern in Patterns)
        {
            try
            {
                TopicPattern.Parse(pattern);
            }
            catch (ArgumentException ex)
            {
                throw new ArgumentException($"{nameof(TransportSubscriptionOptions)}.{nameof(Patterns)}: {ex.Message}", nameof(Patterns), ex);
            }
        }

        if (MaxInFlight < 1)
            throw new ArgumentException($"{nameof(TransportSubscriptionOptions)}.{nameof(MaxInFlight)} must be at least 1 (was {MaxInFlight}).", nameof(MaxInFlight));
    }
}
