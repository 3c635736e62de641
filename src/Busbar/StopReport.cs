namespace Busbar;

/// <summary>What <see cref="IEventBus.StopAsync"/> did.</summary>
public sealed record StopReport
{
    /// <summary>Events that finished during the drain.</summary>
    public long Drained { get; init; }

    /// <summary>Events cancelled when the drain timeout expired (queued ones and running ones).</summary>
    public long Cancelled { get; init; }

    /// <summary>Events dropped or rejected over the bus's life.</summary>
    public long Dropped { get; init; }

    /// <summary>Events whose handling is recorded as unfinished in the write-ahead log, to be redelivered on restart.</summary>
    public long LeftInLog { get; init; }

    /// <summary>
    /// Broker deliveries the bus had received and not finished when it stopped (on a bus with a transport): they were given back
    /// unacknowledged, or left to their lease, so they come again to another consumer of the group.
    /// </summary>
    public long LeftInBroker { get; init; }

    /// <summary>True when everything drained before the timeout.</summary>
    public bool Completed { get; init; }

    /// <summary>How long the stop took.</summary>
    public TimeSpan Elapsed { get; init; }
}
