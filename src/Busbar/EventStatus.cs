namespace Busbar;

/// <summary>The final state of an event.</summary>
public enum EventStatus
{
    /// <summary>Still queued or being handled.</summary>
    Pending,

    /// <summary>Every handler that ran succeeded (or, in <see cref="CompletionMode.First"/>, one did).</summary>
    Completed,

    /// <summary>At least one handler failed after its retries.</summary>
    Failed,

    /// <summary>The event was cancelled before or while it was handled (for example by <c>StopAsync</c>).</summary>
    Cancelled,

    /// <summary>The queue was full and the event was dropped under <see cref="BusFullMode.DropNewest"/> or <see cref="BusFullMode.DropOldest"/>.</summary>
    Dropped,

    /// <summary>The queue was full and the event was refused (<see cref="BusFullMode.Reject"/> or <c>TryPublish</c>).</summary>
    Rejected,

    /// <summary>A handler timed out or the event's deadline passed.</summary>
    TimedOut,
}
