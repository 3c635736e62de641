using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Busbar.Serialization;

namespace Busbar.Transport;

/// <summary>
/// The allow-list of event types a process reads from a transport: each name maps to one type and the
/// JSON contract that reads it. A name not registered here is never instantiated — there is no
/// <c>Type.GetType</c> on data that came over the wire.
/// </summary>
/// <remarks>
/// Names come from <see cref="EventNameAttribute"/> or the type's simple name, as everywhere in the bus.
/// Register during setup; an <see cref="EnvelopeCodec"/> takes a snapshot when it is created.
/// </remarks>
public sealed class EventTypeRegistry
{
    private readonly EventNameRegistry _names = new();

    /// <summary>Registers <typeparamref name="T"/> with its JSON contract (for example from a source-generated <c>JsonSerializerContext</c>).</summary>
    /// <typeparam name="T">The event type.</typeparam>
    /// <param name="typeInfo">How to read and write it.</param>
    /// <returns>This registry.</returns>
    /// <exception cref="ArgumentException">Another type is registered under the same name.</exception>
    public EventTypeRegistry Add<T>(JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return Add(typeof(T), typeInfo);
    }

    /// <summary>Registers <typeparamref name="T"/>, reading its JSON contract from <paramref name="options"/>.</summary>
    /// <typeparam name="T">The event type.</typeparam>
    /// <param name="options">Serializer options whose <see cref="JsonSerializerOptions.TypeInfoResolver"/> knows <typeparamref name="T"/>.</param>
    /// <returns>This registry.</returns>
    public EventTypeRegistry Add<T>(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.TypeInfoResolver is null)
            throw new ArgumentException("The JsonSerializerOptions need a TypeInfoResolver (a source-generated JsonSerializerContext, or DefaultJsonTypeInfoResolver).", nameof(options));
        return Add(typeof(T), options.GetTypeInfo(typeof(T)));
    }

    /// <summary>The registered names.</summary>
    public IReadOnlyCollection<string> Names => _names.Names;

    internal FrozenDictionary<string, JsonTypeInfo> Snapshot() => _names.SnapshotContracts();

    private EventTypeRegistry Add(Type type, JsonTypeInfo typeInfo)
    {
        _names.Add(type, typeInfo, nameof(typeInfo));
        return this;
    }
}
