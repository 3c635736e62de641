using System.Buffers;
using System.Buffers.Binary;

namespace Busbar.Durability;

/// <summary>
/// Encodes records into version 2 frames ([int32 body length][type][uint32 CRC32C over length and type][body]
/// [uint32 CRC32C over everything before it]) and decodes bodies (the body encoding is the same in version 1).
/// </summary>
/// <remarks>
/// Hand-written binary rather than a serializer: the format is stable, AOT-safe and allocation-free to write, and
/// a length is known before writing so a frame goes straight into the group-commit buffer.
/// </remarks>
internal static class WalRecordCodec
{
    public static int GetFrameLength(WalRecord record) => WalFormat.FrameOverhead + GetBodyLength(record);

    public static int GetBodyLength(WalRecord record) => record switch
    {
        WalEventRecord e => 16 + WalSpanWriter.SizeOf(e.Name) + 16 + 1 + (e.CausationId.HasValue ? 16 : 0)
            + WalSpanWriter.SizeOf(e.Path) + 8 + 4 + WalSpanWriter.SizeOfNullable(e.OrderingKey)
            + 1 + (e.Deadline.HasValue ? 8 : 0) + SizeOfHeaders(e.Headers) + 4
            + WalSpanWriter.SizeOf(e.Subscriptions) + 4 + e.Payload.Length,
        WalHandlerFinishedRecord f => 16 + WalSpanWriter.SizeOf(f.SubscriptionName) + 1 + 4,
        WalDeadLetterRecord d => 16 + 16 + WalSpanWriter.SizeOf(d.SubscriptionName) + 4
            + WalSpanWriter.SizeOf(d.ExceptionType) + WalSpanWriter.SizeOf(d.ExceptionMessage) + 8,
        WalDeadLetterRedrivenRecord => 16,
        _ => throw new ArgumentException($"Unknown record type {record.GetType().Name}.", nameof(record)),
    };

    public static void WriteFrame(WalRecord record, IBufferWriter<byte> writer)
    {
        var length = GetFrameLength(record);
        var written = WriteFrame(record, writer.GetSpan(length), length - WalFormat.FrameOverhead);
        writer.Advance(written);
    }

    /// <summary>Writes the whole frame; <paramref name="bodyLength"/> must come from <see cref="GetBodyLength"/>.</summary>
    public static int WriteFrame(WalRecord record, Span<byte> destination, int bodyLength)
    {
        var frameLength = bodyLength + WalFormat.FrameOverhead;
        destination = destination[..frameLength];
        BinaryPrimitives.WriteInt32LittleEndian(destination, bodyLength);
        destination[4] = (byte)record.Type;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[5..], WalFormat.Crc32C(destination[..5]));
        var body = destination.Slice(WalFormat.FrameHeaderSize, bodyLength);
        var writer = new WalSpanWriter(body);
        WriteBody(record, ref writer);
        if (writer.Position != bodyLength)
        {
            throw new InvalidOperationException($"Encoded {writer.Position} body bytes but sized {bodyLength}.");
        }

        var checksummed = WalFormat.FrameHeaderSize + bodyLength;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[checksummed..], WalFormat.Crc32C(destination[..checksummed]));
        return frameLength;
    }

    public static WalRecord DecodeBody(WalRecordType type, ReadOnlySpan<byte> body)
    {
        var reader = new WalSpanReader(body);
        WalRecord record = type switch
        {
            WalRecordType.EventAppended => ReadEvent(ref reader),
            WalRecordType.HandlerFinished => ReadHandlerFinished(ref reader),
            WalRecordType.DeadLettered => ReadDeadLetter(ref reader),
            WalRecordType.DeadLetterRedriven => new WalDeadLetterRedrivenRecord { DeadLetterId = reader.ReadGuid() },
            _ => throw new WalFormatException($"Unknown record type {(byte)type}."),
        };
        reader.EnsureEnd();
        return record;
    }

    private static int SizeOfHeaders(IReadOnlyDictionary<string, string>? headers)
    {
        if (headers is null)
        {
            return 4;
        }

        var size = 4;
        foreach (var pair in headers)
        {
            size += WalSpanWriter.SizeOf(pair.Key) + WalSpanWriter.SizeOf(pair.Value);
        }

        return size;
    }

    private static void WriteBody(WalRecord record, ref WalSpanWriter writer)
    {
        switch (record)
        {
            case WalEventRecord e:
                writer.WriteGuid(e.EventId);
                writer.WriteString(e.Name);
                writer.WriteGuid(e.CorrelationId);
                writer.WriteNullableGuid(e.CausationId);
                writer.WriteStrings(e.Path);
                writer.WriteTimestamp(e.CreatedAt);
                writer.WriteInt32(e.Priority);
                writer.WriteNullableString(e.OrderingKey);
                writer.WriteNullableTimestamp(e.Deadline);
                if (e.Headers is null)
                {
                    writer.WriteInt32(-1);
                }
                else
                {
                    writer.WriteInt32(e.Headers.Count);
                    foreach (var pair in e.Headers)
                    {
                        writer.WriteString(pair.Key);
                        writer.WriteString(pair.Value);
                    }
                }

                writer.WriteInt32(e.Attempt);
                writer.WriteStrings(e.Subscriptions);
                writer.WriteBytes(e.Payload.Span);
                break;
            case WalHandlerFinishedRecord f:
                writer.WriteGuid(f.EventId);
                writer.WriteString(f.SubscriptionName);
                writer.WriteByte((byte)f.Status);
                writer.WriteInt32(f.Attempts);
                break;
            case WalDeadLetterRecord d:
                writer.WriteGuid(d.DeadLetterId);
                writer.WriteGuid(d.EventId);
                writer.WriteString(d.SubscriptionName);
                writer.WriteInt32(d.Attempts);
                writer.WriteString(d.ExceptionType);
                writer.WriteString(d.ExceptionMessage);
                writer.WriteTimestamp(d.FailedAt);
                break;
            case WalDeadLetterRedrivenRecord r:
                writer.WriteGuid(r.DeadLetterId);
                break;
            default:
                throw new ArgumentException($"Unknown record type {record.GetType().Name}.", nameof(record));
        }
    }

    private static WalEventRecord ReadEvent(ref WalSpanReader reader)
    {
        var eventId = reader.ReadGuid();
        var name = reader.ReadString();
        var correlationId = reader.ReadGuid();
        var causationId = reader.ReadNullableGuid();
        var path = reader.ReadStrings();
        var createdAt = reader.ReadTimestamp();
        var priority = reader.ReadInt32();
        var orderingKey = reader.ReadNullableString();
        var deadline = reader.ReadNullableTimestamp();
        Dictionary<string, string>? headers = null;
        var headerCount = reader.ReadInt32();
        if (headerCount != -1)
        {
            if (headerCount < 0 || headerCount > reader.Remaining / 8)
            {
                throw new WalFormatException($"Header count {headerCount} is out of range.");
            }

            headers = new Dictionary<string, string>(headerCount, StringComparer.Ordinal);
            for (var i = 0; i < headerCount; i++)
            {
                var key = reader.ReadString();
                if (!headers.TryAdd(key, reader.ReadString()))
                {
                    throw new WalFormatException($"Duplicate header '{key}'.");
                }
            }
        }

        var attempt = reader.ReadInt32();
        var subscriptions = reader.ReadStrings();
        var payload = reader.ReadBytes().ToArray();
        return new WalEventRecord
        {
            EventId = eventId,
            Name = name,
            CorrelationId = correlationId,
            CausationId = causationId,
            Path = path,
            CreatedAt = createdAt,
            Priority = priority,
            OrderingKey = orderingKey,
            Deadline = deadline,
            Headers = headers,
            Attempt = attempt,
            Subscriptions = subscriptions,
            Payload = payload,
        };
    }

    private static WalHandlerFinishedRecord ReadHandlerFinished(ref WalSpanReader reader)
    {
        var eventId = reader.ReadGuid();
        var subscription = reader.ReadString();
        var status = reader.ReadByte();
        if (status > (byte)WalHandlerStatus.DeadLettered)
        {
            throw new WalFormatException($"Unknown handler status {status}.");
        }

        return new WalHandlerFinishedRecord
        {
            EventId = eventId,
            SubscriptionName = subscription,
            Status = (WalHandlerStatus)status,
            Attempts = reader.ReadInt32(),
        };
    }

    private static WalDeadLetterRecord ReadDeadLetter(ref WalSpanReader reader) => new()
    {
        DeadLetterId = reader.ReadGuid(),
        EventId = reader.ReadGuid(),
        SubscriptionName = reader.ReadString(),
        Attempts = reader.ReadInt32(),
        ExceptionType = reader.ReadString(),
        ExceptionMessage = reader.ReadString(),
        FailedAt = reader.ReadTimestamp(),
    };
}
