namespace Busbar;

/// <summary>What a publish does when the bus queue is at <see cref="EventBusOptions.Capacity"/>.</summary>
public enum BusFullMode
{
    /// <summary>The publish waits (asynchronously, cancellably) until there is room.</summary>
    Wait,

    /// <summary>The publish throws <see cref="BusFullException"/> at once.</summary>
    Reject,

    /// <summary>The event being published is dropped; its handle completes as <see cref="EventStatus.Dropped"/>.</summary>
    DropNewest,

    /// <summary>The oldest queued event of the lowest priority is dropped to make room.</summary>
    DropOldest,
}
