namespace Busbar.Durability;

/// <summary>What recovery or inspection found wrong in a segment.</summary>
internal enum WalProblemKind
{
    /// <summary>The last segment ends in a partial or unverifiable record, typical of a crash mid-write; it is truncated.</summary>
    TornTail,

    /// <summary>A record's checksum does not match and valid records follow it; the record is skipped.</summary>
    ChecksumMismatch,

    /// <summary>A record or segment header passed framing checks but could not be decoded; it is skipped.</summary>
    MalformedRecord,

    /// <summary>A dead letter whose event record is missing (lost to corruption); it is dropped.</summary>
    OrphanedRecord,
}
