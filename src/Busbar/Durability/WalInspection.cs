namespace Busbar.Durability;

/// <summary>A read-only snapshot of a log directory, for <c>busbar wal inspect</c>.</summary>
internal sealed record WalInspection(
    string Directory,
    IReadOnlyList<WalSegmentInfo> Segments,
    IReadOnlyList<WalPendingEvent> UnfinishedEvents,
    IReadOnlyList<WalDeadLetter> DeadLetters,
    IReadOnlyList<WalProblem> Problems);
