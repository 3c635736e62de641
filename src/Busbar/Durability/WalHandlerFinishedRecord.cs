namespace Busbar.Durability;

/// <summary>A durable subscription finished with an event; recovery will not re-dispatch it to that subscription.</summary>
internal sealed record WalHandlerFinishedRecord : WalRecord
{
    public override WalRecordType Type => WalRecordType.HandlerFinished;

    public required Guid EventId { get; init; }

    public required string SubscriptionName { get; init; }

    public WalHandlerStatus Status { get; init; }

    public int Attempts { get; init; }
}
