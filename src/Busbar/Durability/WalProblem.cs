namespace Busbar.Durability;

/// <summary>A problem found while reading the log. Corruption is reported, never thrown.</summary>
/// <param name="Kind">What went wrong.</param>
/// <param name="SegmentFileName">The segment file, e.g. <c>0000000000000003.wal</c>.</param>
/// <param name="Offset">Byte offset of the affected record in the segment.</param>
/// <param name="ByteCount">Bytes truncated or skipped.</param>
/// <param name="Message">A human-readable explanation.</param>
internal sealed record WalProblem(WalProblemKind Kind, string SegmentFileName, long Offset, long ByteCount, string Message);
