namespace Busbar.Durability;

/// <summary>One segment file as seen by <see cref="WriteAheadLog.Inspect"/>.</summary>
internal sealed record WalSegmentInfo(
    string FileName,
    long SizeBytes,
    int EventRecords,
    int HandlerFinishedRecords,
    int DeadLetterRecords,
    int DeadLetterRedrivenRecords);
