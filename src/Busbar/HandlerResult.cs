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
    public TimeSpan Duration { get; }

    /// <summary>Ids of the events this handler published while it ran.</summary>
    public IReadOnlyList<Guid> ChildEventIds { get; }

    internal HandlerResult WithChildren(IReadOnlyList<Guid> children) => new(SubscriptionName, Status, Value, Exception, Attempts, Duration, children);

    /// <inheritdoc/>
    public override string ToString() => $"{SubscriptionName}: {Status} after {Attempts} attempt(s)";
}
