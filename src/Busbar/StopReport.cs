namespace Busbar;

/// <summary>What <see cref="IEventBus.StopAsync"/> did.</summary>
public sealed record StopReport
{
    /// <summary>Events that finished during the drain.</summary>
    public long Drained { get; init; }

    /// <summary>Events cancelled when the drain timeout expired (queued ones and running ones).</summary>
    /// <remarks>This stop's count only, like <see cref="Drained"/>; <see cref="BusStatistics.Cancelled"/> counts over the bus's life.</remarks>
    public long Cancelled { get; init; }

    /// <summary>Events the full queue dropped over the bus's life (<see cref="BusFullMode.DropNewest"/>, <see cref="BusFullMode.DropOldest"/>).</summary>
    /// <remarks>The same count as <see cref="BusStatistics.Dropped"/> at the end of the stop.</remarks>
    public long Dropped { get; init; }

    /// <summary>Events refused at publish over the bus's life (the queue was full under <see cref="BusFullMode.Reject"/>, or closed under the publish).</summary>
    /// <remarks>The same count as <see cref="BusStatistics.Rejected"/> at the end of the stop. Dropped and rejected events together
    /// are the ones reported to <see cref="EventBusOptions.OnEventShed"/>.</remarks>
    public long Rejected { get; init; }

    /// <summary>Events still pending in the write-ahead log (a subscription has not finished them), to be handled when a bus next opens the log.</summary>
    public long PendingInLog { get; init; }

    /// <summary>
    /// Broker deliveries the bus had received and not finished when it stopped (on a bus with a transport): they were given back
    /// unacknowledged, or left to their lease, so they come again to another consumer of the group.
    /// </summary>
    public long PendingInBroker { get; init; }

    /// <summary>True when everything drained before the timeout.</summary>
    public bool Completed { get; init; }

    /// <summary>How long the stop took.</summary>
    public TimeSpan Elapsed { get; init; }
}
