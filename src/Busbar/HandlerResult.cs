namespace Busbar;

/// <summary>What one handler did with one event.</summary>
public readonly struct HandlerResult
{
    internal HandlerResult(string subscription, HandlerStatus status, object? value, Exception? exception, int attempts, TimeSpan duration, IReadOnlyList<Guid>? children = null)
    {
        SubscriptionName = subscription;
        Status = status;
        Value = value;
        Exception = exception;
        Attempts = attempts;
        Duration = duration;
        ChildEventIds = children ?? [];
    }

    /// <summary>The subscription's name (<see cref="ISubscription.Name"/>).</summary>
    public string SubscriptionName { get; }

    /// <summary>How the invocation ended.</summary>
    public HandlerStatus Status { get; }

    /// <summary>The value returned by a handler with a result, else <see langword="null"/>.</summary>
    public object? Value { get; }

    /// <summary>The exception of the last attempt when it failed or timed out.</summary>
    public Exception? Exception { get; }

    /// <summary>How many attempts ran (0 when skipped before any attempt; a middleware that skips the handler still counts its attempt).</summary>
    public int Attempts { get; }

    /// <summary>Wall time from the first attempt to the end, retries and their delays included.</summary>
    /// <remarks>
    /// <para>
    /// Handlers that run one after another on the synchronous serial path (every queued event's plain handlers; an inline send's
    /// when a duration listener is attached) are timed with one clock reading each: a handler's time starts where the previous
    /// one's ended, so it also covers the bus's own work in between (recording the previous result, ending its span, and any
    /// tracing or metrics listener that work calls).
    /// </para>
    /// <para>
    /// A queue worker that takes events back to back carries this over from one event's last handler to the next event's first:
    /// that handler's time then also covers the worker's hand-over between the two events (settling the previous one: its
    /// counters, dead letters, write-ahead-log record and waking its awaiters, with any listener or logger called meanwhile;
    /// then taking this event from the queue, its lock included). Uncontended that is a few tens of nanoseconds, below the
    /// 100 ns resolution of a <see cref="TimeSpan"/>. It never includes time the worker spent waiting: after the queue was found
    /// empty, after any wait, and after an event whose handlers went asynchronous, the clock is read afresh. The time an event
    /// waited in the queue is not part of any handler's duration (the <c>busbar.queue.dwell_time</c> metric measures it).
    /// </para>
    /// </remarks>
    public TimeSpan Duration { get; }

    /// <summary>Ids of the events this handler published while it ran.</summary>
    public IReadOnlyList<Guid> ChildEventIds { get; }

    internal HandlerResult WithChildren(IReadOnlyList<Guid> children) => new(SubscriptionName, Status, Value, Exception, Attempts, Duration, children);

    /// <inheritdoc/>
    public override string ToString() => $"{SubscriptionName}: {Status} after {Attempts} attempt(s)";
}
