using System.Collections;

namespace Busbar.Diagnostics;

/// <summary>
/// The logging scope of one event: <c>busbar.event_id</c>, <c>busbar.event_name</c>,
/// <c>busbar.correlation_id</c> (and <c>busbar.subscription</c> when a handler is concerned).
/// Providers that render scopes as key/value pairs (JSON console, OpenTelemetry) read the list; the
/// others call <see cref="ToString"/>.
/// </summary>
/// <remarks>
/// The keys are prefixed because sinks that flatten scopes into one property bag (Serilog, Seq,
/// OpenTelemetry log attributes) would otherwise collide with Microsoft.Extensions.Logging's own
/// <c>EventId</c> (the log message's id) and with the application's own scopes. Created only after
/// <c>ILogger.IsEnabled</c> said yes, so a disabled log costs no allocation.
/// </remarks>
internal sealed class EventLogScope(EventContext context, string? subscription) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public const string EventIdKey = "busbar.event_id";
    public const string EventNameKey = "busbar.event_name";
    public const string CorrelationIdKey = "busbar.correlation_id";
    public const string SubscriptionKey = "busbar.subscription";

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
        ? $"{EventIdKey}:{context.EventId} {EventNameKey}:{context.Name} {CorrelationIdKey}:{context.CorrelationId}"
        : $"{EventIdKey}:{context.EventId} {EventNameKey}:{context.Name} {CorrelationIdKey}:{context.CorrelationId} {SubscriptionKey}:{subscription}";
}
