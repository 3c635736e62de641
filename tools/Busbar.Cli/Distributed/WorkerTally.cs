namespace Busbar.Cli.Distributed;

/// <summary>One worker's counts, as the view and the summary show them.</summary>
internal sealed record WorkerTally(int Number)
{
    public bool Ready { get; set; }

    public long Received { get; set; }

    public long Handled { get; set; }

    /// <summary>Handler attempts that failed, from the worker's bus counters: retries in the process plus events that failed.</summary>
    public long FailedAttempts { get; set; }

    public long DeadLettered { get; set; }

    /// <summary>Deliveries that came to this worker a second time or more: claimed from a dead worker (Redis) or redelivered (NATS).</summary>
    public long Redelivered { get; set; }

    public long Released { get; set; }

    public long Children { get; set; }

    public long Undecodable { get; set; }

    public string? LastDeadLetterReason { get; set; }

    /// <summary>Deliveries received and not yet settled: what a kill would strand.</summary>
    public long InFlight => Received - Handled - DeadLettered - Released;
}
