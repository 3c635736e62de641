namespace Busbar;

/// <summary>What <see cref="WriteAheadLogInspector.Inspect"/> read from a write-ahead log directory.</summary>
public sealed record WriteAheadLogInspection
{
    /// <summary>Gets the full path of the log directory.</summary>
    public required string Directory { get; init; }

    /// <summary>Gets the readable segment files, oldest first (a segment with an invalid header is only in <see cref="Problems"/>).</summary>
    public IReadOnlyList<WalSegmentInfo> Segments { get; init; } = [];

    /// <summary>Gets how many events are pending: a durable subscription has not finished with them (a bus opening the log handles them).</summary>
    public int PendingEvents { get; init; }

    /// <summary>Gets how many dead letters have not been re-driven (a count; a bus's letters are <see cref="IEventBus.DeadLetters"/>).</summary>
    public int DeadLetterCount { get; init; }

    /// <summary>Gets every problem found, in file order; empty for an undamaged log.</summary>
    public IReadOnlyList<WalProblem> Problems { get; init; } = [];

    /// <summary>Gets whether any problem other than a torn tail was found.</summary>
    /// <remarks>
    /// A torn tail is the normal trace of a crash mid-write (and, on a log a bus is writing, may be a record still
    /// being written), so it alone is not damage. Anything else means records were lost to corruption, and a
    /// <see cref="WalRecoveryMode.Strict"/> open would refuse the log.
    /// </remarks>
    public bool HasDamage
    {
        get
        {
            foreach (var problem in Problems)
            {
                if (problem.Kind != WalProblemKind.TornTail)
                {
                    return true;
                }
            }

            return false;
        }
    }
}
