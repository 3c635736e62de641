using Busbar.Routing;

namespace Busbar.Durability;

/// <summary>
/// Which CLR type an event name stands for, so a payload read back from the write-ahead log as JSON can be
/// deserialized again. Filled from the builder's registered events and from every type published or subscribed.
/// Thread-safe.
/// </summary>
internal sealed class EventNameRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Type> _types = new(StringComparer.Ordinal);

    /// <summary>Registers <paramref name="type"/> under its event name; the first type registered for a name wins. Abstract, interface and open generic types are ignored.</summary>
    public void Add(Type type)
    {
        if (type.IsAbstract || type.IsInterface || type.ContainsGenericParameters)
            return;
        var name = EventNaming.GetName(type);
        lock (_lock)
        {
            _types.TryAdd(name, type);
        }
    }

    /// <summary>The type registered for <paramref name="name"/>, or <see langword="null"/>.</summary>
    public Type? Resolve(string name)
    {
        lock (_lock)
        {
            return _types.TryGetValue(name, out var type) ? type : null;
        }
    }
}
