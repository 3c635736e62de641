using System.Buffers;
using System.Collections.Frozen;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Busbar.Routing;
using Busbar.Serialization;

namespace Busbar.Transport;

/// <summary>
/// Writes and reads the one envelope format every transport carries: a UTF-8 JSON object with the
/// metadata and the event as its <c>body</c>, e.g.
/// <c>{"v":1,"id":"…","name":"orders.placed","createdAt":"…","correlationId":"…","traceparent":"…","headers":{…},"body":{…}}</c>;
/// <c>causationId</c>, <c>tracestate</c>, <c>priority</c> (when not 0), <c>orderingKey</c> and <c>deadline</c> appear when set.
/// </summary>
/// <remarks>
/// <para>Decoding never throws and never resolves a type from the data: the name is looked up in the
/// <see cref="EventTypeRegistry"/> snapshot taken here; anything else is an <see cref="EnvelopeDecodeResult"/>
/// failure with a reason a consumer puts on the dead letter.</para>
/// <para>The body is written and read by the same payload serializer as the write-ahead log's records, so an
/// event's JSON is the same on disk and on the wire; the envelope's metadata is this codec's own.</para>
/// </remarks>
public sealed class EnvelopeCodec
{
    private const int Version = 1;
    private static readonly JsonEncodedText s_v = JsonEncodedText.Encode("v");
    private static readonly JsonEncodedText s_id = JsonEncodedText.Encode("id");
    private static readonly JsonEncodedText s_name = JsonEncodedText.Encode("name");
    private static readonly JsonEncodedText s_createdAt = JsonEncodedText.Encode("createdAt");
    private static readonly JsonEncodedText s_correlationId = JsonEncodedText.Encode("correlationId");
    private static readonly JsonEncodedText s_causationId = JsonEncodedText.Encode("causationId");
    private static readonly JsonEncodedText s_traceParent = JsonEncodedText.Encode("traceparent");
    private static readonly JsonEncodedText s_traceState = JsonEncodedText.Encode("tracestate");
    private static readonly JsonEncodedText s_headers = JsonEncodedText.Encode("headers");
    private static readonly JsonEncodedText s_priority = JsonEncodedText.Encode("priority");
    private static readonly JsonEncodedText s_orderingKey = JsonEncodedText.Encode("orderingKey");
    private static readonly JsonEncodedText s_deadline = JsonEncodedText.Encode("deadline");
    private static readonly JsonEncodedText s_body = JsonEncodedText.Encode("body");

    [ThreadStatic]
    private static Scratch? t_scratch;

    private readonly PayloadSerializer _payloads;
    private readonly FrozenDictionary<string, KnownName> _known;
    private readonly int _maxBytes;

    /// <summary>Creates a codec over a snapshot of <paramref name="registry"/>.</summary>
    /// <param name="registry">The allow-list of names and types.</param>
    /// <param name="options">Limits; validated here. Default: <see cref="EnvelopeCodecOptions"/> defaults.</param>
    public EnvelopeCodec(EventTypeRegistry registry, EnvelopeCodecOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        options ??= new EnvelopeCodecOptions();
        options.Validate();
        var contracts = registry.Snapshot();
        _payloads = new PayloadSerializer(contracts, "a transport");
        _known = contracts
            .Where(static c => EventNaming.Validate(c.Key) is null)
            .ToFrozenDictionary(static c => c.Key, static c => new KnownName(c.Key, Encoding.UTF8.GetBytes(c.Key), c.Value), StringComparer.Ordinal);
        _maxBytes = options.MaxEnvelopeBytes;
    }

    /// <summary>Encodes an event for a transport.</summary>
    /// <param name="envelope">The metadata; its name must be registered for the payload's type.</param>
    /// <param name="payload">The event.</param>
    /// <returns>The message to publish.</returns>
    /// <exception cref="ArgumentException">The name is not registered, is registered for another type, the payload
    /// cannot be serialized, or the envelope is larger than <see cref="EnvelopeCodecOptions.MaxEnvelopeBytes"/>.</exception>
    public TransportMessage Encode(EventEnvelope envelope, object payload)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(payload);
        if (_payloads.Find(envelope.Name) is not { } typeInfo)
            throw new ArgumentException($"The event name '{envelope.Name}' is not registered in the EventTypeRegistry; register its type before publishing it to a transport.", nameof(envelope));
        if (typeInfo.Type != payload.GetType())
            throw new ArgumentException($"The event name '{envelope.Name}' is registered for {typeInfo.Type.FullName}, not {payload.GetType().FullName}.", nameof(payload));

        // One buffer and writer per thread, reused: the envelope is copied out at its exact size, so an event costs one array.
        var scratch = t_scratch ?? new Scratch();
        t_scratch = null; // a payload converter that encodes again on this thread gets its own
        try
        {
            var writer = scratch.Start();
            WriteMetadata(writer, envelope);
            writer.WritePropertyName(s_body);
            _payloads.Serialize(writer, envelope.Name, payload, typeInfo, nameof(payload));
            writer.WriteEndObject();
            writer.Flush();
            if (scratch.Buffer.WrittenCount > _maxBytes)
                throw new ArgumentException($"Event '{envelope.Name}' {envelope.EventId} encodes to {scratch.Buffer.WrittenCount} bytes, over {nameof(EnvelopeCodecOptions)}.{nameof(EnvelopeCodecOptions.MaxEnvelopeBytes)} ({_maxBytes}).", nameof(payload));
            return new TransportMessage(envelope.EventId, envelope.Name, scratch.Buffer.WrittenSpan.ToArray());
        }
        finally
        {
            scratch.Done();
            t_scratch = scratch;
        }
    }

    /// <summary>Decodes a delivered envelope. Never throws: a failure carries its reason.</summary>
    /// <param name="routedName">The name the broker delivered the message under; the envelope's own name must equal it.</param>
    /// <param name="envelope">The envelope bytes.</param>
    public EnvelopeDecodeResult Decode(string routedName, ReadOnlyMemory<byte> envelope)
    {
        if (!TryDecode(routedName, envelope.Span, out var decoded, out var failure))
            return failure;
        var metadata = new EventEnvelope
        {
            EventId = decoded.EventId,
            Name = decoded.Name,
            CreatedAt = decoded.CreatedAt,
            CorrelationId = decoded.CorrelationId,
            CausationId = decoded.CausationId,
            TraceParent = decoded.TraceParent,
            TraceState = decoded.TraceState,
            Priority = decoded.Priority,
            OrderingKey = decoded.OrderingKey,
            Deadline = decoded.Deadline,
            Headers = decoded.Headers ?? EventEnvelope.EmptyHeaders,
        };
        return EnvelopeDecodeResult.Success(new DecodedEvent(metadata, decoded.Payload, decoded.PayloadType));
    }

    /// <summary>
    /// <see cref="Decode"/> without the public result objects, for the bus's transport source: one pass of a
    /// <see cref="Utf8JsonReader"/> over the bytes, ids read without strings, and a registered name recognised by its
    /// UTF-8 bytes (no string, no validation, no second lookup). Never throws; fails exactly as <see cref="Decode"/> does.
    /// </summary>
    /// <param name="routedName">The name the broker delivered the message under.</param>
    /// <param name="envelope">The envelope bytes.</param>
    /// <param name="decoded">The event and its metadata, when decoded.</param>
    /// <param name="failure">Why not, when not.</param>
    internal bool TryDecode(string routedName, ReadOnlySpan<byte> envelope, out DecodedFields decoded, out EnvelopeDecodeResult failure)
    {
        decoded = default;
        if (envelope.IsEmpty)
        {
            failure = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MissingEnvelope, "the message has no envelope");
            return false;
        }

        if (envelope.Length > _maxBytes)
        {
            failure = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.Oversized, $"the envelope is {envelope.Length} bytes, over the limit of {_maxBytes}");
            return false;
        }

        var known = routedName is null ? null : _known.GetValueOrDefault(routedName);
        Fields fields;
        try
        {
            if (!TryReadFields(envelope, known, out fields, out failure))
                return false;
        }
        catch (JsonException ex)
        {
            failure = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, $"not valid JSON (line {ex.LineNumber}, byte {ex.BytePositionInLine})");
            return false;
        }

        if (fields.Id is null)
            return Missing("id", out failure);
        if (fields.Name is null && fields.Known is null)
            return Missing("name", out failure);
        if (fields.CreatedAt is null)
            return Missing("createdAt", out failure);
        if (fields.BodyLength == 0)
            return Missing("body", out failure);

        JsonTypeInfo typeInfo;
        string name;
        if (fields.Known is { } match)
        {
            // The envelope's name is the routed name, a registered and valid one: nothing left to check.
            (name, typeInfo) = (match.Name, match.TypeInfo);
        }
        else
        {
            name = fields.Name!;
            if (EventNaming.Validate(name) is { } nameError)
                return Fail(EnvelopeDecodeFailure.MissingField, $"field 'name' is not a valid event name ({nameError})", out failure);
            if (!string.Equals(name, routedName, StringComparison.Ordinal))
                return Fail(EnvelopeDecodeFailure.NameMismatch, $"the envelope names '{name}' but was delivered as '{routedName}'", out failure);
            if (_payloads.Find(name) is not { } found)
                return Fail(EnvelopeDecodeFailure.UnknownName, $"'{name}' is not a registered event name", out failure);
            typeInfo = found;
        }

        object? payload;
        try
        {
            payload = PayloadSerializer.Deserialize(envelope.Slice(fields.BodyStart, fields.BodyLength), typeInfo);
        }
        catch (JsonException ex)
        {
            return Fail(EnvelopeDecodeFailure.UndecodableBody, $"the body is not a valid {typeInfo.Type.Name} (at '{ex.Path}')", out failure);
        }
        catch (Exception ex)
        {
            // A custom converter may throw anything; its message may quote the payload, so only its type is kept.
            return Fail(EnvelopeDecodeFailure.UndecodableBody, $"the body could not be read as {typeInfo.Type.Name} ({ex.GetType().Name})", out failure);
        }

        if (payload is null)
            return Fail(EnvelopeDecodeFailure.UndecodableBody, $"the body is null, not a {typeInfo.Type.Name}", out failure);

        decoded = new DecodedFields(payload, typeInfo.Type, name, fields.Id.Value, fields.CreatedAt.Value, fields.CorrelationId, fields.CausationId, fields.TraceParent, fields.TraceState, fields.Headers)
        {
            Priority = fields.Priority,
            OrderingKey = fields.OrderingKey,
            Deadline = fields.Deadline,
        };
        failure = default;
        return true;

        static bool Missing(string field, out EnvelopeDecodeResult failure) =>
            Fail(EnvelopeDecodeFailure.MissingField, $"the envelope has no '{field}' field", out failure);

        static bool Fail(EnvelopeDecodeFailure kind, string reason, out EnvelopeDecodeResult failure)
        {
            failure = EnvelopeDecodeResult.Fail(kind, reason);
            return false;
        }
    }

    /// <summary>
    /// Encodes an event whose body is already JSON (the <c>busbar publish</c> command has no type for it), with the same
    /// metadata and size limit as <see cref="Encode"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not a valid event name, or the envelope is larger than <paramref name="maxBytes"/>.</exception>
    internal static TransportMessage EncodeJson(EventEnvelope envelope, JsonElement body, int maxBytes)
    {
        EventNaming.ThrowIfInvalid(envelope.Name, nameof(envelope));
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteMetadata(writer, envelope);
            writer.WritePropertyName(s_body);
            body.WriteTo(writer);
            writer.WriteEndObject();
        }

        if (buffer.WrittenCount > maxBytes)
            throw new ArgumentException($"Event '{envelope.Name}' {envelope.EventId} encodes to {buffer.WrittenCount} bytes, over the limit of {maxBytes}.", nameof(body));
        return new TransportMessage(envelope.EventId, envelope.Name, buffer.WrittenMemory);
    }

    /// <summary>
    /// Reads an envelope's metadata and its raw body without the registry, for tools that show events they have no types
    /// for. Never throws: null, with <paramref name="problem"/> saying why, when it is not a readable envelope.
    /// </summary>
    internal static EventEnvelope? ReadMetadata(ReadOnlyMemory<byte> envelope, out ReadOnlyMemory<byte> body, out string? problem)
    {
        body = default;
        problem = null;
        if (envelope.IsEmpty)
        {
            problem = "the message has no envelope";
            return null;
        }

        Fields fields;
        try
        {
            if (!TryReadFields(envelope.Span, null, out fields, out var failure))
            {
                problem = failure.Reason;
                return null;
            }
        }
        catch (JsonException ex)
        {
            problem = $"not valid JSON (line {ex.LineNumber}, byte {ex.BytePositionInLine})";
            return null;
        }

        if (fields.Id is null || fields.Name is null || fields.CreatedAt is null || fields.BodyLength == 0)
        {
            problem = "the envelope lacks one of 'id', 'name', 'createdAt' and 'body'";
            return null;
        }

        body = envelope.Slice(fields.BodyStart, fields.BodyLength);
        return new EventEnvelope
        {
            EventId = fields.Id.Value,
            Name = fields.Name,
            CreatedAt = fields.CreatedAt.Value,
            CorrelationId = fields.CorrelationId,
            CausationId = fields.CausationId,
            TraceParent = fields.TraceParent,
            TraceState = fields.TraceState,
            Priority = fields.Priority,
            OrderingKey = fields.OrderingKey,
            Deadline = fields.Deadline,
            Headers = fields.Headers ?? EventEnvelope.EmptyHeaders,
        };
    }

    private static void WriteMetadata(Utf8JsonWriter writer, EventEnvelope envelope)
    {
        writer.WriteStartObject();
        writer.WriteNumber(s_v, Version);
        writer.WriteString(s_id, envelope.EventId);
        writer.WriteString(s_name, envelope.Name);
        writer.WriteString(s_createdAt, envelope.CreatedAt);
        if (envelope.CorrelationId is { } correlationId)
            writer.WriteString(s_correlationId, correlationId);
        if (envelope.CausationId is { } causationId)
            writer.WriteString(s_causationId, causationId);
        if (envelope.TraceParent is { } traceParent)
            writer.WriteString(s_traceParent, traceParent);
        if (envelope.TraceState is { } traceState)
            writer.WriteString(s_traceState, traceState);
        if (envelope.Priority != 0)
            writer.WriteNumber(s_priority, envelope.Priority);
        if (envelope.OrderingKey is { } orderingKey)
            writer.WriteString(s_orderingKey, orderingKey);
        if (envelope.Deadline is { } deadline)
            writer.WriteString(s_deadline, deadline);
        if (envelope.Headers.Count > 0)
        {
            writer.WriteStartObject(s_headers);
            foreach (var header in envelope.Headers)
                writer.WriteString(header.Key, header.Value);
            writer.WriteEndObject();
        }
    }

    private static bool TryReadFields(ReadOnlySpan<byte> data, KnownName? expected, out Fields fields, out EnvelopeDecodeResult problem)
    {
        fields = default;
        problem = default;
        var reader = new Utf8JsonReader(data, new JsonReaderOptions { MaxDepth = 64 });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            problem = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, "the envelope is not a JSON object");
            return false;
        }

        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                if (reader.Read())
                {
                    problem = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, "data follows the envelope object");
                    return false;
                }

                return true;
            }

            var field = FieldOf(ref reader);
            reader.Read();
            if (field == Field.Body)
            {
                // Skipped, then read as its type once the name is known: a serializer reading from this reader would
                // find the value's end first and read it again all the same.
                fields.BodyStart = checked((int)reader.TokenStartIndex);
                reader.Skip();
                fields.BodyLength = checked((int)reader.BytesConsumed) - fields.BodyStart;
            }
            else if (field == Field.Version)
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var version) || version != Version)
                {
                    problem = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, $"envelope version is not {Version}");
                    return false;
                }
            }
            else if (field == Field.Id)
            {
                fields.Id = reader.TokenType == JsonTokenType.String && reader.TryGetGuid(out var id) ? id : null;
            }
            else if (field == Field.Name)
            {
                // The name the broker routed by is almost always the envelope's own, a registered one: recognise its bytes
                // rather than allocate, validate and look up a string.
                fields.Known = null;
                fields.Name = null;
                if (reader.TokenType == JsonTokenType.String)
                {
                    if (expected is not null && reader.ValueTextEquals(expected.Utf8))
                        fields.Known = expected;
                    else
                        fields.Name = reader.GetString();
                }
            }
            else if (field == Field.CreatedAt)
            {
                fields.CreatedAt = reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var at) ? at : null;
            }
            else if (field == Field.CorrelationId)
            {
                fields.CorrelationId = reader.TokenType == JsonTokenType.String && reader.TryGetGuid(out var id) ? id : null;
            }
            else if (field == Field.CausationId)
            {
                fields.CausationId = reader.TokenType == JsonTokenType.String && reader.TryGetGuid(out var id) ? id : null;
            }
            else if (field == Field.TraceParent)
            {
                fields.TraceParent = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (field == Field.TraceState)
            {
                fields.TraceState = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (field == Field.Priority)
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var priority))
                {
                    problem = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, "field 'priority' is not a 32-bit integer");
                    return false;
                }

                fields.Priority = priority;
            }
            else if (field == Field.OrderingKey)
            {
                if (reader.TokenType != JsonTokenType.String)
                {
                    problem = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, "field 'orderingKey' is not a string");
                    return false;
                }

                fields.OrderingKey = reader.GetString();
            }
            else if (field == Field.Deadline)
            {
                // A deadline that cannot be read is refused rather than dropped: the event would run without its limit.
                if (reader.TokenType != JsonTokenType.String || !reader.TryGetDateTimeOffset(out var deadline))
                {
                    problem = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, "field 'deadline' is not an ISO 8601 date and time");
                    return false;
                }

                fields.Deadline = deadline;
            }
            else if (field == Field.Headers)
            {
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    problem = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, "field 'headers' is not an object of strings");
                    return false;
                }

                var headers = new Dictionary<string, string>(StringComparer.Ordinal);
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var key = reader.GetString()!;
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        problem = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, $"header '{key}' is not a string");
                        return false;
                    }

                    headers[key] = reader.GetString()!;
                }

                fields.Headers = headers;
            }
            else
            {
                // Fields added by a later version are skipped, so older consumers keep reading newer envelopes.
                reader.Skip();
            }
        }

        problem = EnvelopeDecodeResult.Fail(EnvelopeDecodeFailure.MalformedEnvelope, "the envelope object is not closed");
        return false;
    }

    private static Field FieldOf(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals(s_body.EncodedUtf8Bytes))
            return Field.Body;
        if (reader.ValueTextEquals(s_v.EncodedUtf8Bytes))
            return Field.Version;
        if (reader.ValueTextEquals(s_id.EncodedUtf8Bytes))
            return Field.Id;
        if (reader.ValueTextEquals(s_name.EncodedUtf8Bytes))
            return Field.Name;
        if (reader.ValueTextEquals(s_createdAt.EncodedUtf8Bytes))
            return Field.CreatedAt;
        if (reader.ValueTextEquals(s_correlationId.EncodedUtf8Bytes))
            return Field.CorrelationId;
        if (reader.ValueTextEquals(s_causationId.EncodedUtf8Bytes))
            return Field.CausationId;
        if (reader.ValueTextEquals(s_traceParent.EncodedUtf8Bytes))
            return Field.TraceParent;
        if (reader.ValueTextEquals(s_traceState.EncodedUtf8Bytes))
            return Field.TraceState;
        if (reader.ValueTextEquals(s_priority.EncodedUtf8Bytes))
            return Field.Priority;
        if (reader.ValueTextEquals(s_orderingKey.EncodedUtf8Bytes))
            return Field.OrderingKey;
        if (reader.ValueTextEquals(s_deadline.EncodedUtf8Bytes))
            return Field.Deadline;
        return reader.ValueTextEquals(s_headers.EncodedUtf8Bytes) ? Field.Headers : Field.Other;
    }

    /// <summary>A thread's reusable encode buffer and writer; a buffer grown past 64 KiB by a large event is not kept.</summary>
    private sealed class Scratch
    {
        private const int KeepBytes = 64 * 1024;
        private Utf8JsonWriter? _writer;

        public ArrayBufferWriter<byte> Buffer { get; private set; } = new(1024);

        public Utf8JsonWriter Start()
        {
            if (_writer is null)
                _writer = new Utf8JsonWriter(Buffer);
            else
                _writer.Reset(Buffer);
            return _writer;
        }

        public void Done()
        {
            _writer?.Reset();
            if (Buffer.Capacity > KeepBytes)
                Buffer = new ArrayBufferWriter<byte>(1024);
            else
                Buffer.ResetWrittenCount();
        }
    }

    /// <summary>A registered, valid event name with its UTF-8 bytes and contract, for recognising it in an envelope.</summary>
    private sealed record KnownName(string Name, byte[] Utf8, JsonTypeInfo TypeInfo);

    private enum Field
    {
        Other,
        Version,
        Id,
        Name,
        CreatedAt,
        CorrelationId,
        CausationId,
        TraceParent,
        TraceState,
        Priority,
        OrderingKey,
        Deadline,
        Headers,
        Body,
    }

    private struct Fields
    {
        public Guid? Id;
        public string? Name;
        public KnownName? Known;
        public DateTimeOffset? CreatedAt;
        public Guid? CorrelationId;
        public Guid? CausationId;
        public string? TraceParent;
        public string? TraceState;
        public int Priority;
        public string? OrderingKey;
        public DateTimeOffset? Deadline;
        public Dictionary<string, string>? Headers;
        public int BodyStart;
        public int BodyLength;
    }

    /// <summary>A decoded event and its metadata, as <see cref="TryDecode"/> returns it.</summary>
    internal readonly record struct DecodedFields(
        object Payload,
        Type PayloadType,
        string Name,
        Guid EventId,
        DateTimeOffset CreatedAt,
        Guid? CorrelationId,
        Guid? CausationId,
        string? TraceParent,
        string? TraceState,
        Dictionary<string, string>? Headers)
    {
        /// <summary>The published priority (0 when the envelope has none).</summary>
        public int Priority { get; init; }

        /// <summary>The published ordering key.</summary>
        public string? OrderingKey { get; init; }

        /// <summary>When handling must be over.</summary>
        public DateTimeOffset? Deadline { get; init; }
    }
}
