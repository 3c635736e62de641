namespace Busbar.Durability;

/// <summary>
/// One segment file and the live items whose newest record it holds; compaction deletes it once it holds none.
/// </summary>
internal sealed class WalSegment
{
    private readonly int[] _recordCounts = new int[5];

    public WalSegment(string directory, long sequence)
    {
        Sequence = sequence;
        FileName = WalFormat.SegmentFileName(sequence);
        FilePath = Path.Combine(directory, FileName);
    }

    public long Sequence { get; }

    public string FileName { get; }

    public string FilePath { get; }

    /// <summary>Bytes in the segment, header included (for the current segment: including bytes not yet flushed).</summary>
    public long Size { get; set; }

    public int RecordCount { get; private set; }

    public HashSet<Guid> LiveEvents { get; } = [];

    public HashSet<Guid> LiveDeadLetters { get; } = [];

    /// <summary>Frame bytes of the live items: what compaction would copy to free this segment.</summary>
    public long LiveBytes { get; private set; }

    public int LiveCount => LiveEvents.Count + LiveDeadLetters.Count;

    public void CountRecord(WalRecordType type)
    {
        RecordCount++;
        _recordCounts[(int)type]++;
    }

    public int RecordsOfType(WalRecordType type) => _recordCounts[(int)type];

    public void AddLiveEvent(Guid eventId, int frameLength)
    {
        if (LiveEvents.Add(eventId))
        {
            LiveBytes += frameLength;
        }
    }

    public void RemoveLiveEvent(Guid eventId, int frameLength)
    {
        if (LiveEvents.Remove(eventId))
        {
            LiveBytes -= frameLength;
        }
    }

    public void AddLiveDeadLetter(Guid deadLetterId, int frameLength)
    {
        if (LiveDeadLetters.Add(deadLetterId))
        {
            LiveBytes += frameLength;
        }
    }

    public void RemoveLiveDeadLetter(Guid deadLetterId, int frameLength)
    {
        if (LiveDeadLetters.Remove(deadLetterId))
        {
            LiveBytes -= frameLength;
        }
    }

    public WalSegmentInfo ToInfo() => new()
    {
        FileName = FileName,
        SizeBytes = Size,
        EventRecords = RecordsOfType(WalRecordType.EventAppended),
        HandlerFinishedRecords = RecordsOfType(WalRecordType.HandlerFinished),
        DeadLetterRecords = RecordsOfType(WalRecordType.DeadLettered),
        DeadLetterRedrivenRecords = RecordsOfType(WalRecordType.DeadLetterRedriven),
    };
}
