namespace Busbar;

/// <summary>One handler invocation that failed after its last attempt.</summary>
public sealed record DeadLetter
{
    /// <summary>The dead letter's own id.</summary>
    public required Guid Id { get; init; }

    /// <summary>The event's envelope (with its payload in <see cref="EventContext.Event"/>).</summary>
    public required EventContext Context { get; init; }

    /// <summary>The name of the subscription that failed (<see cref="ISubscription.Name"/>); re-drive finds the subscription by it.</summary>
    public required string SubscriptionName { get; init; }

    /// <summary>Attempts made.</summary>
    public required int Attempts { get; init; }

    /// <summary>The last exception, when still in memory (null for dead letters recovered from a log).</summary>
    public Exception? Exception { get; init; }

    /// <summary>The last exception's type name.</summary>
    public required string ExceptionType { get; init; }

    /// <summary>The last exception's message (the handler status, such as <c>TimedOut</c>, when there was no exception).</summary>
    public required string ExceptionMessage { get; init; }

    /// <summary>When it was dead-lettered.</summary>
    public required DateTimeOffset FailedAt { get; init; }
}
