namespace Busbar;

/// <summary>One handler invocation that failed after its last attempt.</summary>
public sealed record DeadLetter
{
    /// <summary>The dead letter's own id.</summary>
    public required Guid Id { get; init; }

    /// <summary>The event's envelope (with its payload in <see cref="EventContext.Event"/>).</summary>
    public required EventContext Context { get; init; }

    /// <summary>The subscription that failed.</summary>
    public required string Subscription { get; init; }

    /// <summary>Attempts made.</summary>
    public required int Attempts { get; init; }

    /// <summary>The last exception, when still in memory (null for dead letters recovered from a log).</summary>
    public Exception? Exception { get; init; }

    /// <summary>The last exception's type name.</summary>
    public required string ExceptionType { get; init; }

    /// <summary>The last exception's message.</summary>
    public required string Reason { get; init; }

    /// <summary>When it was dead-lettered.</summary>
    public required DateTimeOffset FailedAt { get; init; }
}
