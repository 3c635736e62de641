namespace Busbar.Transport;

/// <summary>
/// The metadata that travels with an event between processes: ids, name, trace context, headers, creation time, and the
/// publish options a consumer must see (priority, ordering key, deadline).
/// </summary>
/// <remarks>The body (the event itself) is written beside it by <see cref="EnvelopeCodec"/>.</remarks>
public sealed record EventEnvelope
{
    /// <summary>The event's id (a UUIDv7 when the bus made it).</summary>
    public required Guid EventId { get; init; }

    /// <summary>The event name; it must be registered in the codec's <see cref="EventTypeRegistry"/>.</summary>
    public required string Name { get; init; }

    /// <summary>When the event was created.</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>The conversation the event belongs to.</summary>
    /// <value>Default: none (the event starts its own).</value>
    public Guid? CorrelationId { get; init; }

    /// <summary>The event that caused this one.</summary>
    /// <value>Default: none.</value>
    public Guid? CausationId { get; init; }

    /// <summary>The W3C <c>traceparent</c> of the publishing span, so the consumer's span joins the trace.</summary>
    /// <value>Default: none.</value>
    public string? TraceParent { get; init; }

    /// <summary>The W3C <c>tracestate</c> that goes with <see cref="TraceParent"/>.</summary>
    /// <value>Default: none.</value>
    public string? TraceState { get; init; }

    /// <summary>The event's priority as published (<see cref="PublishOptions.Priority"/>); a consumer's handlers see it as <see cref="EventContext.Priority"/>.</summary>
    /// <value>Default: 0.</value>
    public int Priority { get; init; }

    /// <summary>
    /// The event's ordering key as published (<see cref="PublishOptions.OrderingKey"/>); a consumer's handlers see it as
    /// <see cref="EventContext.OrderingKey"/>. The broker's order, not the key, decides the order of consumed events.
    /// </summary>
    /// <value>Default: none.</value>
    public string? OrderingKey { get; init; }

    /// <summary>
    /// When handling must be over (<see cref="PublishOptions.DeadlineAfter"/> from creation): a consuming bus does not start
    /// handlers after it and cancels those still running, as for a local event, and a delivery whose deadline passed goes to
    /// the transport's dead letters at once instead of being retried.
    /// </summary>
    /// <value>Default: none.</value>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Application headers.</summary>
    /// <value>Default: empty.</value>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = EmptyHeaders;

    internal static readonly IReadOnlyDictionary<string, string> EmptyHeaders = System.Collections.ObjectModel.ReadOnlyDictionary<string, string>.Empty;
}
