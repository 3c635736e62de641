namespace Busbar;

/// <summary>Per-publish settings. Every property is optional; unset ones fall back to the bus or the ambient event.</summary>
public sealed record PublishOptions
{
    /// <summary>Queue priority: higher is dequeued first, FIFO within a priority.</summary>
    /// <value>Default 0.</value>
    public int Priority { get; init; }

    /// <summary>Events sharing a key are handled one at a time, in publish order, even when <see cref="EventBusOptions.MaxConcurrentEvents"/> is above 1.</summary>
    /// <value>Default <see langword="null"/>: no key.</value>
    public string? OrderingKey { get; init; }

    /// <summary>The event's deadline, as a time after publish: a hard cap on the time from publish to the end of handling; handlers still running then are cancelled and recorded as timed out.</summary>
    /// <remarks>Sets <see cref="EventContext.Deadline"/>. Not to be confused with <see cref="HandlerTimeout"/>, which limits each attempt of each handler.</remarks>
    /// <value>Default <see langword="null"/>: no deadline.</value>
    public TimeSpan? DeadlineAfter { get; init; }

    /// <summary>Per-attempt handler timeout for this event, used where the subscription sets none.</summary>
    /// <value>Default <see langword="null"/>: the bus default.</value>
    public TimeSpan? HandlerTimeout { get; init; }

    /// <summary>Overrides <see cref="EventBusOptions.HandlerConcurrency"/> for this event.</summary>
    /// <value>Default <see langword="null"/>: the bus setting.</value>
    public HandlerConcurrency? HandlerConcurrency { get; init; }

    /// <summary>Overrides <see cref="EventBusOptions.Completion"/> for this event.</summary>
    /// <value>Default <see langword="null"/>: the bus setting.</value>
    public CompletionMode? Completion { get; init; }

    /// <summary>An explicit event id. Never overwritten by the bus.</summary>
    /// <value>Default <see langword="null"/>: a new UUIDv7.</value>
    public Guid? EventId { get; init; }

    /// <summary>An explicit correlation id. Never overwritten by the bus.</summary>
    /// <value>Default <see langword="null"/>: inherited from the handler publishing it, else the event id.</value>
    public Guid? CorrelationId { get; init; }

    /// <summary>An explicit causation id. Never overwritten by the bus.</summary>
    /// <value>Default <see langword="null"/>: the id of the event whose handler publishes it, else none.</value>
    public Guid? CausationId { get; init; }

    /// <summary>Headers carried with the event (string map).</summary>
    /// <value>Default <see langword="null"/>: none beyond the trace context the bus adds.</value>
    public IReadOnlyDictionary<string, string>? Headers { get; init; }

    internal void Validate()
    {
        if (OrderingKey is { Length: 0 })
            throw new ArgumentException("PublishOptions.OrderingKey must not be empty; use null for no key.", nameof(OrderingKey));
        if (DeadlineAfter is { } t && t <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(DeadlineAfter), t, $"PublishOptions.DeadlineAfter must be positive (was {t}).");
        if (HandlerTimeout is { } h && h <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(HandlerTimeout), h, $"PublishOptions.HandlerTimeout must be positive (was {h}).");
    }
}
