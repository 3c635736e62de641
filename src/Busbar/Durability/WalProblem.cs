using System.Globalization;

namespace Busbar;

/// <summary>A problem found while reading a write-ahead log: where it is, how large, and what recovery does about it.</summary>
/// <remarks>Recovery and inspection report damage as data; a corrupt log never makes them throw (except a strict open).</remarks>
public sealed record WalProblem
{
    /// <summary>Gets what went wrong.</summary>
    public required WalProblemKind Kind { get; init; }

    /// <summary>Gets the segment file name, for example <c>0000000000000003.wal</c>.</summary>
    public required string SegmentFileName { get; init; }

    /// <summary>Gets the byte offset of the damage in the segment.</summary>
    /// <value>-1 when the problem has no position in a file (<see cref="WalProblemKind.OrphanedRecord"/>).</value>
    public required long Offset { get; init; }

    /// <summary>Gets how many bytes are affected: truncated, skipped, or the size of the dropped record.</summary>
    public required long ByteCount { get; init; }

    /// <summary>Gets what recovery does about the problem (for an inspection or a strict open: what it would do).</summary>
    public required WalRecoveryAction Action { get; init; }

    /// <summary>Gets the full path of the side file holding a copy of the truncated or skipped bytes.</summary>
    /// <value>
    /// Null when nothing was copied: the problem was found by <see cref="WriteAheadLogInspector.Inspect"/> or a
    /// strict open, which never write, or nothing was cut (<see cref="WalRecoveryAction.Drop"/>).
    /// </value>
    /// <remarks>
    /// The copy is written to the log directory (named <c>&lt;segment&gt;.&lt;offset&gt;.damaged</c>) before the
    /// segment is truncated or later compacted away, so an operator can examine what was lost. Busbar never deletes it.
    /// </remarks>
    public string? DamagedBytesFile { get; init; }

    /// <summary>Gets a human-readable explanation.</summary>
    public required string Message { get; init; }

    /// <summary>Returns the problem on one line, starting with its kind.</summary>
    /// <returns>For example <c>TornTail in 0000000000000001.wal at offset 4096 (23 bytes, Truncate): ...</c>.</returns>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"{Kind} in {SegmentFileName} at offset {Offset} ({ByteCount} bytes, {Action}): {Message}");
}
