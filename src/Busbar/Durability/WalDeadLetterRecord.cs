namespace Busbar.Durability;

/// <summary>
/// A delivery moved to the dead letters. It finishes the subscription for the event and keeps the event record
/// alive until a <see cref="WalDeadLetterRedrivenRecord"/> releases it.
/// </summary>
internal sealed record WalDeadLetterRecord : WalRecord
{
    public override WalRecordType Type => WalRecordType.DeadLettered;

    public required Guid DeadLetterId { get; init; }

    public required Guid EventId { get; init; }

    public required string SubscriptionName { get; init; }

    public int Attempts { get; init; }

    public string ExceptionType { get; init; } = "";

    public string ExceptionMessage { get; init; } = "";

    public DateTimeOffset FailedAt { get; init; }
}
