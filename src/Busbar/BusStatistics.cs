namespace Busbar;

/// <summary>A snapshot of a bus's counters. Counters are totals since the bus started.</summary>
public sealed record BusStatistics
{
    /// <summary>The bus name.</summary>
    public required string Name { get; init; }

    /// <summary>Events queued now.</summary>
    public int QueueDepth { get; init; }

    /// <summary>The queue capacity.</summary>
    public int Capacity { get; init; }

    /// <summary>Events admitted and not yet completed (queued or running).</summary>
    public long InFlight { get; init; }

    /// <summary>Events that passed validation (admitted, dropped or rejected).</summary>
    public long Published { get; init; }

    /// <summary>Events whose handling finished (any status but dropped or rejected).</summary>
    public long Processed { get; init; }

    /// <summary>Events that ended as failed.</summary>
    public long Failed { get; init; }

    /// <summary>Handler retries.</summary>
    public long Retried { get; init; }

    /// <summary>Events dropped by a drop mode.</summary>
    public long Dropped { get; init; }

    /// <summary>Events refused (reject mode, <c>TryPublish</c>, or self-publish overflow).</summary>
    public long Rejected { get; init; }

    /// <summary>Handler invocations sent to the dead-letter store.</summary>
    public long DeadLettered { get; init; }

    /// <summary>Handler invocations slower than <see cref="EventBusOptions.SlowHandlerThreshold"/>.</summary>
    public long SlowHandlers { get; init; }

    /// <summary>Latency per subscription name.</summary>
    public IReadOnlyDictionary<string, HandlerLatency> Handlers { get; init; } = new Dictionary<string, HandlerLatency>();
}
