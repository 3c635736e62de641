using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Busbar.Serialization;

/// <summary>
/// Reads and writes event payloads as JSON by event name, with the contracts a source-generated
/// <c>JsonSerializerContext</c> (or any <see cref="IJsonTypeInfoResolver"/>) provides. Shared by the write-ahead
/// log's records and the transports' envelope, so a payload is written the same way on disk and on the wire.
/// </summary>
/// <remarks>
/// Two ways to find a name's contract: a frozen allow-list (<see cref="Transport.EnvelopeCodec"/>: a name not listed
/// is never read), or the bus's <see cref="EventNameRegistry"/> with the serializer options of the log (types are
/// added as they are published and subscribed, and their contracts come from the options when needed).
/// </remarks>
internal sealed class PayloadSerializer
{
    private readonly FrozenDictionary<string, JsonTypeInfo>? _contracts;
    private readonly EventNameRegistry? _names;
    private readonly JsonSerializerOptions? _options;
    private readonly string _destination;

    /// <summary>A serializer over a fixed allow-list of contracts.</summary>
    /// <param name="contracts">Name → contract.</param>
    /// <param name="destination">Where payloads go, for error messages ("a transport").</param>
    public PayloadSerializer(FrozenDictionary<string, JsonTypeInfo> contracts, string destination)
    {
        _contracts = contracts;
        _destination = destination;
    }

    /// <summary>A serializer over a growing registry, with contracts from <paramref name="options"/>.</summary>
    /// <param name="names">Name → type.</param>
    /// <param name="options">Serializer options whose resolver knows the registered types.</param>
    /// <param name="destination">Where payloads go, for error messages ("the write-ahead log").</param>
    public PayloadSerializer(EventNameRegistry names, JsonSerializerOptions options, string destination)
    {
        _names = names;
        _options = options;
        _destination = destination;
    }

    /// <summary>The registry types are added to, or <see langword="null"/> for a fixed allow-list.</summary>
    public EventNameRegistry? Names => _names;

    /// <summary>The type registered for <paramref name="name"/>, or <see langword="null"/>.</summary>
    public Type? Resolve(string name) =>
        _contracts is not null
            ? _contracts.TryGetValue(name, out var contract) ? contract.Type : null
            : _names!.Resolve(name);

    /// <summary>The contract of <paramref name="name"/>, or <see langword="null"/> when the name is not known.</summary>
    /// <exception cref="NotSupportedException">The options' resolver does not know the registered type.</exception>
    public JsonTypeInfo? Find(string name)
    {
        if (_contracts is not null)
            return _contracts.TryGetValue(name, out var contract) ? contract : null;
        return _names!.Resolve(name) is { } type ? _options!.GetTypeInfo(type) : null;
    }

    /// <summary>Serializes <paramref name="payload"/> for the log: its type is registered and its contract taken from the options.</summary>
    /// <exception cref="ArgumentException">The payload cannot be serialized; the message names the event and the cause.</exception>
    public byte[] SerializeToUtf8Bytes(string name, object payload)
    {
        var type = payload.GetType();
        _names?.Add(type);
        try
        {
            var typeInfo = _options is not null ? _options.GetTypeInfo(type) : Find(name) ?? throw new NotSupportedException($"No contract is registered for '{name}'.");
            return JsonSerializer.SerializeToUtf8Bytes(payload, typeInfo);
        }
        catch (Exception ex)
        {
            throw CannotSerialize(name, type, ex, "event");
        }
    }

    /// <summary>Writes <paramref name="payload"/> as the next value of <paramref name="writer"/> with <paramref name="typeInfo"/>.</summary>
    /// <exception cref="ArgumentException">The payload cannot be serialized; the message names the event and the cause.</exception>
    public void Serialize(Utf8JsonWriter writer, string name, object payload, JsonTypeInfo typeInfo, string paramName)
    {
        try
        {
            JsonSerializer.Serialize(writer, payload, typeInfo);
        }
        catch (Exception ex)
        {
            // Any serializer failure, including an exception thrown by a property getter of the event.
            throw CannotSerialize(name, typeInfo.Type, ex, paramName);
        }
    }

    /// <summary>Reads <paramref name="json"/> with <paramref name="typeInfo"/>; the exception, when it fails, is the caller's to word.</summary>
    public static object? Deserialize(ReadOnlySpan<byte> json, JsonTypeInfo typeInfo) => JsonSerializer.Deserialize(json, typeInfo);

    private ArgumentException CannotSerialize(string name, Type type, Exception ex, string paramName) =>
        new($"Event '{name}' ({type.FullName}) cannot be serialized for {_destination}: {ex.Message}", paramName, ex);
}
