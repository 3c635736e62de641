namespace Busbar.Durability;

/// <summary>How a durable subscription finished with an event. Values are part of the file format: never renumber.</summary>
internal enum WalHandlerStatus : byte
{
    Succeeded = 0,
    Failed = 1,
    TimedOut = 2,
    Cancelled = 3,
    DeadLettered = 4,
}
