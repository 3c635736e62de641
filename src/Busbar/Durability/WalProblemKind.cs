namespace Busbar;

/// <summary>What recovery or inspection found wrong in a write-ahead log segment.</summary>
/// <remarks>Values are stable: tools may store or compare them.</remarks>
public enum WalProblemKind
{
    /// <summary>
    /// The last segment ends in bytes that hold no valid record, typical of a crash mid-write; recovery truncates
    /// them. Under <see cref="WalFlushMode.Always"/> a torn tail never holds an acknowledged event.
    /// </summary>
    TornTail = 0,

    /// <summary>
    /// A record whose length field is intact but whose checksum does not match, followed by valid records; the record
    /// is skipped and what follows is recovered.
    /// </summary>
    ChecksumMismatch = 1,

    /// <summary>A record passed its checksum but could not be decoded; it is skipped.</summary>
    MalformedRecord = 2,

    /// <summary>A dead letter whose event record is missing (lost to corruption); it is dropped.</summary>
    OrphanedRecord = 3,

    /// <summary>
    /// A run of bytes that does not frame as records (a damaged length field, a partial record, overwritten bytes),
    /// found between valid records or at the end of a segment that is not the last; it is skipped.
    /// </summary>
    CorruptSpan = 4,

    /// <summary>A segment file whose header is not a Busbar write-ahead log header; the whole segment is skipped.</summary>
    InvalidSegmentHeader = 5,
}
