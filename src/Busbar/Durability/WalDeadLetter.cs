namespace Busbar.Durability;

/// <summary>A dead letter that has not been re-driven, with the event it holds.</summary>
internal sealed record WalDeadLetter(WalDeadLetterRecord DeadLetter, WalEventRecord Event);
