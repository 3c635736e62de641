using System.Text;
using System.Text.Json;
using Busbar.Durability;

namespace Busbar.Cli.Wal;

/// <summary>
/// The <c>--json</c> output of <c>wal inspect</c> and <c>wal dead-letters</c>: one indented document,
/// property names in camelCase, times in ISO 8601 UTC, every item (no "and N more").
/// </summary>
internal static class WalJson
{
    private static readonly JsonWriterOptions s_options = new() { Indented = true };

    public static string Inspection(WalInspection inspection, int exitCode) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("directory", inspection.Directory);
        writer.WriteBoolean("damaged", inspection.HasDamage);
        writer.WriteNumber("exitCode", exitCode);
        writer.WriteStartArray("segments");
        foreach (var s in inspection.Segments)
        {
            writer.WriteStartObject();
            writer.WriteString("file", s.FileName);
            writer.WriteNumber("bytes", s.SizeBytes);
            writer.WriteNumber("eventRecords", s.EventRecords);
            writer.WriteNumber("handlerFinishedRecords", s.HandlerFinishedRecords);
            writer.WriteNumber("deadLetterRecords", s.DeadLetterRecords);
            writer.WriteNumber("redrivenRecords", s.DeadLetterRedrivenRecords);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteStartArray("pendingEvents");
        foreach (var pending in inspection.UnfinishedEvents)
        {
            writer.WriteStartObject();
            writer.WriteString("eventId", pending.Event.EventId);
            writer.WriteString("name", pending.Event.Name);
            writer.WriteString("createdAt", pending.Event.CreatedAt.ToUniversalTime());
            writer.WriteStartArray("pendingSubscriptions");
            foreach (var subscription in pending.PendingSubscriptions)
                writer.WriteStringValue(subscription);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WritePropertyName("deadLetters");
        DeadLetterArray(writer, inspection.DeadLetters);
        writer.WriteStartArray("problems");
        foreach (var p in inspection.Problems)
        {
            writer.WriteStartObject();
            writer.WriteString("kind", p.Kind.ToString());
            writer.WriteString("segment", p.SegmentFileName);
            writer.WriteNumber("offset", p.Offset);
            writer.WriteNumber("bytes", p.ByteCount);
            writer.WriteString("action", p.Action.ToString());
            if (p.DamagedBytesFile is { } file)
                writer.WriteString("damagedBytesFile", file);
            writer.WriteString("message", p.Message);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    });

    public static string DeadLetters(string directory, IReadOnlyList<WalDeadLetter> deadLetters) => Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("directory", directory);
        writer.WritePropertyName("deadLetters");
        DeadLetterArray(writer, deadLetters);
        writer.WriteEndObject();
    });

    private static void DeadLetterArray(Utf8JsonWriter writer, IReadOnlyList<WalDeadLetter> deadLetters)
    {
        writer.WriteStartArray();
        foreach (var letter in deadLetters)
        {
            var record = letter.DeadLetter;
            writer.WriteStartObject();
            writer.WriteString("deadLetterId", record.DeadLetterId);
            writer.WriteString("subscription", record.SubscriptionName);
            writer.WriteNumber("attempts", record.Attempts);
            writer.WriteString("failedAt", record.FailedAt.ToUniversalTime());
            writer.WriteString("eventId", record.EventId);
            writer.WriteString("eventName", letter.Event.Name);
            writer.WriteString("exceptionType", record.ExceptionType);
            writer.WriteString("exceptionMessage", record.ExceptionMessage);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    private static string Write(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, s_options))
            write(writer);
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
