using System.Collections;

namespace Busbar.Diagnostics;

/// <summary>
/// The logging scope of one event: <c>EventId</c>, <c>EventName</c>, <c>CorrelationId</c> (and the
/// subscription when a handler is concerned). Providers that render scopes as key/value pairs
/// (JSON console, OpenTelemetry) read the list; the others call <see cref="ToString"/>.
/// </summary>
/// <remarks>Created only after <c>ILogger.IsEnabled</c> said yes, so a disabled log costs no allocation.</remarks>
internal sealed class EventLogScope(EventContext context, string? subscription) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public const string EventIdKey = "EventId";
    public const string EventNameKey = "EventName";
    public const string CorrelationIdKey = "CorrelationId";
    public const string SubscriptionKey = "Subscription";

    public int Count => subscription is null ? 3 : 4;

    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new(EventIdKey, context.EventId),
        1 => new(EventNameKey, context.Name),
        2 => new(CorrelationIdKey, context.CorrelationId),
        3 when subscription is not null => new(SubscriptionKey, subscription),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
            yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => subscription is null
        ? $"EventId:{context.EventId} EventName:{context.Name} CorrelationId:{context.CorrelationId}"
        : $"EventId:{context.EventId} EventName:{context.Name} CorrelationId:{context.CorrelationId} Subscription:{subscription}";
}
