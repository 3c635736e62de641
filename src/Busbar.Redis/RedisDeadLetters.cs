using System.Globalization;
using Busbar.Transport;
using StackExchange.Redis;

namespace Busbar.Redis;

/// <summary>The entry layout of the dead-letter stream: the reason and where it came from, beside the original envelope.</summary>
internal static class RedisDeadLetters
{
    private const string GroupField = "group";
    private const string NameField = "name";
    private const string EntryIdField = "entry-id";
    private const string DeliveriesField = "deliveries";
    private const string ReasonField = "reason";
    private const string AtField = "at";

    public static NameValueEntry[] Entry(string group, string name, string entryId, int deliveries, string reason, DateTimeOffset at, RedisValue envelope) =>
    [
        new(GroupField, group),
        new(NameField, name),
        new(EntryIdField, entryId),
        new(DeliveriesField, deliveries),
        new(ReasonField, reason),
        new(AtField, at.ToUnixTimeMilliseconds()),
        new(RedisKeys.EnvelopeField, envelope.IsNull ? RedisValue.EmptyString : envelope),
    ];

    public static TransportDeadLetter Read(StreamEntry entry)
    {
        var at = entry[AtField];
        return new TransportDeadLetter
        {
            Id = entry.Id!,
            Group = (string?)entry[GroupField] ?? string.Empty,
            Name = (string?)entry[NameField] ?? string.Empty,
            DeliveryId = (string?)entry[EntryIdField] ?? string.Empty,
            DeliveryCount = int.TryParse((string?)entry[DeliveriesField], NumberStyles.None, CultureInfo.InvariantCulture, out var count) ? count : 0,
            Reason = (string?)entry[ReasonField] ?? string.Empty,
            FailedAt = at.TryParse(out long ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : DateTimeOffset.MinValue,
            Envelope = (byte[]?)entry[RedisKeys.EnvelopeField] ?? [],
        };
    }
}
