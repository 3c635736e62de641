namespace Busbar;

/// <summary>What recovery does about a <see cref="WalProblem"/>.</summary>
/// <remarks>
/// Recovery copies every byte it truncates or skips to a side file first (<see cref="WalProblem.DamagedBytesFile"/>).
/// <see cref="WriteAheadLogInspector.Inspect"/> and a strict open (<see cref="WalRecoveryMode.Strict"/>) change
/// nothing: there the action is what a repairing open would do.
/// </remarks>
public enum WalRecoveryAction
{
    /// <summary>The segment is truncated at the problem's offset: its last <see cref="WalProblem.ByteCount"/> bytes are removed.</summary>
    Truncate = 0,

    /// <summary>The bytes stay on disk but are not read; recovery continues after them.</summary>
    Skip = 1,

    /// <summary>The segment file is deleted: it ends inside its header, so no record was ever written to it.</summary>
    DeleteSegment = 2,

    /// <summary>A record that was read is left out of the recovered state.</summary>
    Drop = 3,
}
