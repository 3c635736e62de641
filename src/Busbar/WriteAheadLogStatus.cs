namespace Busbar;

/// <summary>The state of a bus's write-ahead log: where it is, what recovered work is still pending, what recovery found.</summary>
public sealed record WriteAheadLogStatus
{
    /// <summary>The log directory (full path).</summary>
    public required string Directory { get; init; }

    /// <summary>Recovered events still pending: a subscription they were logged for has not handled them yet (it may not be registered yet).</summary>
    public int PendingEvents { get; init; }

    /// <summary>Recovered (event, subscription) pairs still pending, by subscription name.</summary>
    public IReadOnlyDictionary<string, int> PendingBySubscription { get; init; } = new Dictionary<string, int>();

    /// <summary>Problems recovery found and repaired or skipped: torn tails, damaged records, with where and what was done.</summary>
    public IReadOnlyList<WalProblem> Problems { get; init; } = [];
}
