using System.Globalization;
using System.Text;
using System.Text.Json;
using Busbar.Transport;

namespace Busbar.Cli.Broker;

/// <summary>
/// How the broker commands show one message: its metadata read from the envelope (no types needed), its size, and the
/// body only when asked. One line of text (<c>key=value</c>, for terminals, logs and grep) or one JSON object.
/// </summary>
internal sealed record BrokerEvent(string Name, int Bytes, EventEnvelope? Metadata, ReadOnlyMemory<byte> Body, string? Problem)
{
    public static BrokerEvent Read(string name, ReadOnlyMemory<byte> envelope)
    {
        var metadata = EnvelopeCodec.ReadMetadata(envelope, out var body, out var problem);
        return new BrokerEvent(name, envelope.Length, metadata, body, problem);
    }

    /// <summary>
    /// E.g. <c>2026-11-30T09:30:01.123Z orders.placed id=… corr=… cause=- size=312</c>, with <c>priority=…</c> and
    /// <c>deadline=…</c> when the event has them, then <c>key=…</c> (an ordering key is application data, like the payload)
    /// and <c>payload=…</c> when asked.
    /// </summary>
    public string ToLine(bool payload)
    {
        var line = new StringBuilder();
        if (Metadata is { } m)
        {
            line.Append(CultureInfo.InvariantCulture, $"{Time(m.CreatedAt)} {Name} id={m.EventId} corr={Id(m.CorrelationId)} cause={Id(m.CausationId)} size={Bytes}");
            if (m.Priority != 0)
                line.Append(CultureInfo.InvariantCulture, $" priority={m.Priority}");
            if (m.Deadline is { } deadline)
                line.Append(" deadline=").Append(Time(deadline));
            if (payload && m.OrderingKey is { } key)
                line.Append(" key=").Append(key);
            if (payload)
                line.Append(" payload=").Append(Encoding.UTF8.GetString(Body.Span));
        }
        else
        {
            line.Append(CultureInfo.InvariantCulture, $"- {Name} size={Bytes} undecodable: {Problem}");
        }

        return line.ToString();
    }

    /// <summary>
    /// One object: name, eventId, correlationId, causationId, createdAt, bytes, priority and deadline when set, and
    /// orderingKey and payload (the body's JSON) when asked; problem when undecodable.
    /// </summary>
    public void WriteJson(Utf8JsonWriter writer, bool payload)
    {
        writer.WriteString("name", Name);
        writer.WriteNumber("bytes", Bytes);
        if (Metadata is not { } m)
        {
            writer.WriteString("problem", Problem);
            return;
        }

        writer.WriteString("eventId", m.EventId);
        writer.WriteString("createdAt", m.CreatedAt.ToUniversalTime());
        if (m.CorrelationId is { } correlation)
            writer.WriteString("correlationId", correlation);
        else
            writer.WriteNull("correlationId");
        if (m.CausationId is { } causation)
            writer.WriteString("causationId", causation);
        else
            writer.WriteNull("causationId");
        if (m.Priority != 0)
            writer.WriteNumber("priority", m.Priority);
        if (m.Deadline is { } deadline)
            writer.WriteString("deadline", deadline.ToUniversalTime());
        if (payload && m.OrderingKey is { } key)
            writer.WriteString("orderingKey", key);
        if (payload)
        {
            writer.WritePropertyName("payload");
            writer.WriteRawValue(Body.Span, skipInputValidation: true);
        }
    }

    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Id(Guid? id) => id?.ToString() ?? "-";
}
