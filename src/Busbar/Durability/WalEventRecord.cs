namespace Busbar.Durability;

/// <summary>An event published to the bus, with the durable subscriptions that still have to handle it.</summary>
internal sealed record WalEventRecord : WalRecord
{
    public override WalRecordType Type => WalRecordType.EventAppended;

    public required Guid EventId { get; init; }

    public required string Name { get; init; }

    public Guid CorrelationId { get; init; }

    public Guid? CausationId { get; init; }

    public IReadOnlyList<string> Path { get; init; } = [];

    public DateTimeOffset CreatedAt { get; init; }

    public int Priority { get; init; }

    public string? OrderingKey { get; init; }

    public DateTimeOffset? Deadline { get; init; }

    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    public int Attempt { get; init; }

    /// <summary>Names of the durable subscriptions that must handle the event; recovery re-dispatches the unfinished ones.</summary>
    public required IReadOnlyList<string> Subscriptions { get; init; }

    /// <summary>The serialized payload (UTF-8 JSON from the bus); opaque to the log.</summary>
    public ReadOnlyMemory<byte> Payload { get; init; }
}
