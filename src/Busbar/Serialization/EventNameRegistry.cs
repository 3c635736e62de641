using System.Collections.Frozen;
using System.Text.Json.Serialization.Metadata;
using Busbar.Routing;

namespace Busbar.Serialization;

/// <summary>
/// Which CLR type an event name stands for, and optionally the JSON contract that reads and writes it. The one
/// registry of the bus: the write-ahead log fills it leniently (the builder's registered events and every type
/// published or subscribed), and the public <see cref="Transport.EventTypeRegistry"/> is a strict allow-list kept
/// in one of these. Thread-safe.
/// </summary>
internal sealed class EventNameRegistry
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Registers <paramref name="type"/> under its event name; the first type registered for a name wins. Abstract, interface and open generic types are ignored.</summary>
    public void Add(Type type)
    {
        if (type.IsAbstract || type.IsInterface || type.ContainsGenericParameters)
            return;
        var name = EventNaming.GetName(type);
        lock (_lock)
        {
            _entries.TryAdd(name, new Entry(type, null));
        }
    }

    /// <summary>Registers <paramref name="type"/> with its contract; a name already taken by another type is refused.</summary>
    /// <exception cref="ArgumentException">The type is abstract, or its name is registered for another type.</exception>
    public void Add(Type type, JsonTypeInfo typeInfo, string paramName)
    {
        if (type.IsAbstract || type.IsInterface)
            throw new ArgumentException($"{type.FullName} is abstract: register the concrete event types that travel.", paramName);
        var name = EventNaming.GetName(type);
        lock (_lock)
        {
            if (_entries.TryGetValue(name, out var existing) && existing.Type != type)
                throw new ArgumentException($"The event name '{name}' is already registered for {existing.Type.FullName}; {type.FullName} cannot share it.", paramName);
            _entries[name] = new Entry(type, typeInfo);
        }
    }

    /// <summary>The type registered for <paramref name="name"/>, or <see langword="null"/>.</summary>
    public Type? Resolve(string name)
    {
        lock (_lock)
        {
            return _entries.TryGetValue(name, out var entry) ? entry.Type : null;
        }
    }

    /// <summary>The registered names.</summary>
    public IReadOnlyCollection<string> Names
    {
        get
        {
            lock (_lock)
            {
                return [.. _entries.Keys];
            }
        }
    }

    /// <summary>The names registered with a contract, frozen: what a codec reads and writes.</summary>
    public FrozenDictionary<string, JsonTypeInfo> SnapshotContracts()
    {
        lock (_lock)
        {
            var contracts = new Dictionary<string, JsonTypeInfo>(_entries.Count, StringComparer.Ordinal);
            foreach (var (name, entry) in _entries)
            {
                if (entry.TypeInfo is { } typeInfo)
                    contracts[name] = typeInfo;
            }

            return contracts.ToFrozenDictionary(StringComparer.Ordinal);
        }
    }

    private readonly record struct Entry(Type Type, JsonTypeInfo? TypeInfo);
}
