namespace Busbar.Durability;

/// <summary>The type byte of a framed record. Values are part of the file format: never renumber.</summary>
internal enum WalRecordType : byte
{
    EventAppended = 1,
    HandlerFinished = 2,
    DeadLettered = 3,
    DeadLetterRedriven = 4,
}
