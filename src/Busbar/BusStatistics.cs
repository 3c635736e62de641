namespace Busbar;

/// <summary>A snapshot of a bus's counters. Counters are totals since the bus started.</summary>
public sealed record BusStatistics
{
    /// <summary>The bus name.</summary>
    public required string Name { get; init; }

    /// <summary>Events queued now: admitted and not started, including those waiting behind a busy ordering key.</summary>
    /// <remarks>Read together with <see cref="InFlight"/>, which is never smaller.</remarks>
    public int QueueDepth { get; init; }

    /// <summary>The queue capacity.</summary>
    public int Capacity { get; init; }

    /// <summary>Events admitted and not yet completed (queued or running).</summary>
    public long InFlight { get; init; }

    /// <summary>Events that passed validation (admitted, dropped or rejected).</summary>
    public long Published { get; init; }

    /// <summary>
    /// Events whose handling finished (any status but dropped or rejected): the sum of <see cref="Completed"/>,
    /// <see cref="Failed"/>, <see cref="Cancelled"/> and <see cref="TimedOut"/>.
    /// </summary>
    /// <remarks>
    /// Every published event ends in exactly one of <see cref="Processed"/>, <see cref="Dropped"/> and
    /// <see cref="Rejected"/>, or is still <see cref="InFlight"/>; once the bus has stopped,
    /// <c>Published == Processed + Dropped + Rejected</c>. The counters are updated before the event's handle
    /// completes, so a snapshot taken right after awaiting a handle includes that event.
    /// </remarks>
    public long Processed { get; init; }

    /// <summary>Events that ended as completed.</summary>
    public long Completed { get; init; }

    /// <summary>Events that ended as failed.</summary>
    public long Failed { get; init; }

    /// <summary>Events that ended as cancelled (by <see cref="IEventBus.StopAsync"/>).</summary>
    public long Cancelled { get; init; }

    /// <summary>Events that ended as timed out.</summary>
    public long TimedOut { get; init; }

    /// <summary>Handler retries.</summary>
    public long Retried { get; init; }

    /// <summary>Events dropped by a drop mode.</summary>
    public long Dropped { get; init; }

    /// <summary>Events refused (reject mode, <c>TryPublish</c>, self-publish overflow, a cancelled wait for room, or the bus stopping during the publish).</summary>
    public long Rejected { get; init; }

    /// <summary>Handler invocations sent to the dead-letter store.</summary>
    public long DeadLettered { get; init; }

    /// <summary>Handler invocations slower than <see cref="EventBusOptions.SlowHandlerThreshold"/>.</summary>
    public long SlowHandlers { get; init; }

    /// <summary>Latency per subscription name.</summary>
    public IReadOnlyDictionary<string, HandlerLatency> Handlers { get; init; } = new Dictionary<string, HandlerLatency>();
}
