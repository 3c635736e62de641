namespace Busbar.Durability;

/// <summary>
/// A read-only snapshot of a log directory with the records themselves, for <c>busbar wal</c>; the public
/// <see cref="WriteAheadLogInspection"/> carries its counts and problems.
/// </summary>
internal sealed record WalInspection(
    string Directory,
    IReadOnlyList<WalSegmentInfo> Segments,
    IReadOnlyList<WalPendingEvent> UnfinishedEvents,
    IReadOnlyList<WalDeadLetter> DeadLetters,
    IReadOnlyList<WalProblem> Problems)
{
    /// <summary>Gets whether any problem other than a torn tail was found (see <see cref="WriteAheadLogInspection.HasDamage"/>).</summary>
    public bool HasDamage => Problems.Any(static p => p.Kind != WalProblemKind.TornTail);
}
