namespace Busbar.Durability;

/// <summary>A dead letter was re-driven or discarded; it no longer appears after recovery.</summary>
internal sealed record WalDeadLetterRedrivenRecord : WalRecord
{
    public override WalRecordType Type => WalRecordType.DeadLetterRedriven;

    public required Guid DeadLetterId { get; init; }
}
