namespace Busbar.Cli.Distributed;

/// <summary>What the distributed demo's view shows at one moment.</summary>
internal sealed record DistributedSnapshot
{
    public required string Broker { get; init; }

    /// <summary><c>publishing</c>, <c>settling</c> (waiting for the workers to finish what was published), <c>stopping workers</c>, <c>stopped</c>.</summary>
    public required string Phase { get; init; }

    public required TimeSpan Elapsed { get; init; }

    public required long OrdersPublished { get; init; }

    /// <summary>Published events (orders and invoices) no worker has finished yet.</summary>
    public required long Unsettled { get; init; }

    public required IReadOnlyList<WorkerRow> Workers { get; init; }

    public KillReport? Kill { get; init; }

    /// <summary>When the kill is due, while it is still to come.</summary>
    public TimeSpan? KillDue { get; init; }
}

/// <summary>A worker's line in the view: its process and its counts.</summary>
internal sealed record WorkerRow(WorkerTally Tally, int Pid, string State);
