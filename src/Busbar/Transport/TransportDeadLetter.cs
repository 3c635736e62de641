namespace Busbar.Transport;

/// <summary>A message a group gave up on, with the reason.</summary>
public sealed record TransportDeadLetter
{
    /// <summary>The dead letter's own id in the broker's dead-letter store.</summary>
    public required string Id { get; init; }

    /// <summary>The group that gave up.</summary>
    public required string Group { get; init; }

    /// <summary>The event name the message was published under.</summary>
    public required string Name { get; init; }

    /// <summary>The broker's id of the original message.</summary>
    public required string DeliveryId { get; init; }

    /// <summary>How often it had been delivered to the group.</summary>
    public required int DeliveryCount { get; init; }

    /// <summary>Why: the terminating caller's reason, or that the maximum delivery count was reached.</summary>
    public required string Reason { get; init; }

    /// <summary>When it was dead-lettered.</summary>
    public required DateTimeOffset FailedAt { get; init; }

    /// <summary>The original envelope bytes (empty when the original had none).</summary>
    public required ReadOnlyMemory<byte> Envelope { get; init; }
}
