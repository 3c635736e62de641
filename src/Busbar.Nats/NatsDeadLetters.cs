using System.Text.Json;
using System.Text.Json.Serialization;
using Busbar.Transport;

namespace Busbar.Nats;

/// <summary>
/// The body of a message on the dead-letter stream: where it came from and why, beside the original message (its subject,
/// headers aside, and its bytes, base64 in JSON). One self-describing JSON document, so the reason may hold any text.
/// </summary>
internal sealed record NatsDeadLetter(
    [property: JsonPropertyName("group")] string Group,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("subject")] string Subject,
    [property: JsonPropertyName("sequence")] ulong Sequence,
    [property: JsonPropertyName("deliveries")] int Deliveries,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("envelope")] byte[] Envelope)
{
    public byte[] Encode() => JsonSerializer.SerializeToUtf8Bytes(this, NatsJsonContext.Default.NatsDeadLetter);

    public static TransportDeadLetter? Read(ulong id, ReadOnlyMemory<byte> data)
    {
        NatsDeadLetter? letter;
        try
        {
            letter = JsonSerializer.Deserialize(data.Span, NatsJsonContext.Default.NatsDeadLetter);
        }
        catch (JsonException)
        {
            return null;
        }

        return letter is null ? null : new TransportDeadLetter
        {
            Id = id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Group = letter.Group,
            Name = letter.Name,
            DeliveryId = letter.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture),
            DeliveryCount = letter.Deliveries,
            Reason = letter.Reason,
            FailedAt = letter.At,
            Envelope = letter.Envelope ?? [],
        };
    }
}

[JsonSerializable(typeof(NatsDeadLetter))]
internal sealed partial class NatsJsonContext : JsonSerializerContext;
