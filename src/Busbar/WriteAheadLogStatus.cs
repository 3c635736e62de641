namespace Busbar;

/// <summary>The state of a bus's write-ahead log: where it is, what recovered work still waits, what recovery found.</summary>
public sealed record WriteAheadLogStatus
{
    /// <summary>The log directory (full path).</summary>
    public required string Directory { get; init; }

    /// <summary>Recovered events still waiting for a named subscription to be registered.</summary>
    public int WaitingEvents { get; init; }

    /// <summary>Recovered (event, subscription) pairs waiting, by subscription name.</summary>
    public IReadOnlyDictionary<string, int> WaitingBySubscription { get; init; } = new Dictionary<string, int>();

    /// <summary>Problems recovery found and repaired or skipped: torn tails, damaged records, with where and what was done.</summary>
    public IReadOnlyList<WalProblem> Problems { get; init; } = [];
}
