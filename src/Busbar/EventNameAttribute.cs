namespace Busbar;

/// <summary>Gives an event type the dotted name used for routing, history and the wire.</summary>
/// <remarks>
/// Without this attribute the name is the type's simple name (<c>OrderPlaced</c>), which is a single
/// segment. Names are one or more segments separated by <c>.</c>; each segment holds letters, digits,
/// <c>_</c> or <c>-</c>; the whole name is at most 256 characters.
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct | AttributeTargets.Interface, Inherited = false)]
public sealed class EventNameAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="name">The dotted event name, for example <c>orders.placed</c>.</param>
    public EventNameAttribute(string name) => Name = name;

    /// <summary>The dotted event name.</summary>
    public string Name { get; }
}
