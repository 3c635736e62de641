namespace Busbar;

/// <summary>One segment file of a write-ahead log, as seen by <see cref="WriteAheadLogInspector.Inspect"/>.</summary>
public sealed record WalSegmentInfo
{
    /// <summary>Gets the file name, for example <c>0000000000000003.wal</c>.</summary>
    public required string FileName { get; init; }

    /// <summary>Gets the file size in bytes, header included.</summary>
    public long SizeBytes { get; init; }

    /// <summary>Gets how many valid event records the segment holds (compacted copies included).</summary>
    public int EventRecords { get; init; }

    /// <summary>Gets how many valid handler-finished records the segment holds.</summary>
    public int HandlerFinishedRecords { get; init; }

    /// <summary>Gets how many valid dead-letter records the segment holds.</summary>
    public int DeadLetterRecords { get; init; }

    /// <summary>Gets how many valid dead-letter re-driven records the segment holds.</summary>
    public int DeadLetterRedrivenRecords { get; init; }
}
