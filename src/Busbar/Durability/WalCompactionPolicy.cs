namespace Busbar.Durability;

/// <summary>
/// When the write-ahead log copies the live records of its oldest closed segment forward, so the segment can be
/// deleted. Head segments with nothing live are deleted without asking: this decides only when copying pays.
/// </summary>
internal static class WalCompactionPolicy
{
    /// <summary>Closed segments kept as they are: work that finishes shortly after it is appended frees them for free.</summary>
    public const int KeptClosedSegments = 2;

    /// <summary>
    /// True when the oldest segment should be copied forward: more than <see cref="KeptClosedSegments"/> closed
    /// segments, and either the oldest is at least half garbage or the closed segments together are.
    /// </summary>
    /// <param name="segments">The log's segments, oldest first; the last one is the current (open) segment.</param>
    public static bool ShouldCopyOldest(IReadOnlyList<WalSegment> segments)
    {
        var closed = segments.Count - 1;
        if (closed <= KeptClosedSegments)
            return false;

        long closedSize = 0, closedLive = 0;
        for (var i = 0; i < closed; i++)
        {
            closedSize += segments[i].Size;
            closedLive += segments[i].LiveBytes;
        }

        var oldest = segments[0];
        var sparse = oldest.LiveBytes * 2 <= oldest.Size;
        var mostlyGarbage = closedLive * 2 <= closedSize;
        return sparse || mostlyGarbage;
    }
}
