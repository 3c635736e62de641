namespace Busbar.Cli.Demo;

/// <summary>One frame of the demo's progress: the bus's statistics plus what the demo itself counts.</summary>
internal sealed record DemoSnapshot
{
    public required DemoSettings Settings { get; init; }

    public required TimeSpan Elapsed { get; init; }

    public required DemoPhase Phase { get; init; }

    /// <summary>What asked for the stop (<c>Ctrl+C</c>, <c>SIGTERM</c>); null when the run was not interrupted.</summary>
    public string? InterruptedBy { get; init; }

    public required BusStatistics Statistics { get; init; }

    /// <summary>The deepest the queue was seen since the previous frame (at least its depth now).</summary>
    public int QueuePeak { get; init; }

    /// <summary>Events the bus finished per second since the previous frame.</summary>
    public required double Throughput { get; init; }

    /// <summary>Events the bus finished per second over the whole run so far.</summary>
    public required double AverageThroughput { get; init; }

    public required long Orders { get; init; }

    public required long Children { get; init; }

    public required IReadOnlyList<BurstReport> Bursts { get; init; }

    /// <summary>The burst being published now; null between bursts.</summary>
    public string? CurrentBurst { get; init; }

    public required TimeSpan PublisherWaited { get; init; }

    public required long CorrelatedChildren { get; init; }

    public required string WalDirectory { get; init; }

    /// <summary>
    /// Publishes the bus counted as rejected that the demo saw refused with <see cref="BusStoppedException"/>: a
    /// <c>billing</c> invoice that raced the stop (counted published, then the closing queue refused it). Zero
    /// while publishing; with a core that does not count such a publish at all, always zero.
    /// </summary>
    public long RejectedRacingStop { get; init; }

    /// <summary>Events a handler published above the capacity: the bus lets handlers fill the queue to twice its capacity, so they never wait for room.</summary>
    public int HandlerOverflow => Math.Max(0, Statistics.QueueDepth - Statistics.Capacity);
}
