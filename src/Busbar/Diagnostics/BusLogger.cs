using Busbar.Dispatch;
using Microsoft.Extensions.Logging;

namespace Busbar.Diagnostics;

/// <summary>
/// Writes the logs about one event, each inside an <see cref="EventLogScope"/>. Every method checks
/// <see cref="ILogger.IsEnabled"/> first, so with logging off (or the level filtered out) a call
/// costs that check and nothing else: no scope, no formatting, no payload serialization.
/// </summary>
internal sealed class BusLogger(ILogger logger, TimeProvider timeProvider)
{
    /// <summary>At most one drop/rejection warning per second per bus; the next one reports how many were held back.</summary>
    private readonly LogRateLimiter _refusals = new(timeProvider, TimeSpan.FromSeconds(1));

    public ILogger Logger => logger;

    /// <summary>Opt-in payload logging; null (the default) never logs payloads.</summary>
    public PayloadFormatter? Payloads { get; set; }

    public void Published(EventContext context)
    {
        if (!logger.IsEnabled(LogLevel.Debug))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        Log.Published(logger, context.Name, context.EventId, context.CorrelationId);
        WritePayload(LogLevel.Debug, context);
    }

    public void Dispatching(EventContext context, TimeSpan dwell)
    {
        if (!logger.IsEnabled(LogLevel.Debug))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        Log.Dispatching(logger, context.Name, context.EventId, dwell.TotalMilliseconds);
    }

    public void Refused(EventContext context, EventStatus status)
    {
        if (!logger.IsEnabled(LogLevel.Warning) || !_refusals.TryAcquire(out var suppressed))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        Log.RefusedRateLimited(logger, context.Name, context.EventId, status, suppressed);
    }

    public void HandlerFinished(EventContext context, SubscriptionEntry entry, HandlerResult result)
    {
        if (!logger.IsEnabled(LogLevel.Error))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, entry.Name));
        if (result.Status == HandlerStatus.TimedOut)
            Log.HandlerTimedOut(logger, context.Name, context.EventId, context.CorrelationId, entry.Name, result.Attempts);
        else
            Log.HandlerFailed(logger, result.Exception, context.Name, context.EventId, context.CorrelationId, entry.Name, result.Attempts);
        WritePayload(LogLevel.Error, context);
    }

    public void Retrying(EventContext context, SubscriptionEntry entry, Exception? exception, int attempt)
    {
        if (!logger.IsEnabled(LogLevel.Warning))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, entry.Name));
        Log.Retrying(logger, exception, context.Name, context.EventId, entry.Name, attempt);
    }

    public void SlowHandler(EventContext context, SubscriptionEntry entry, TimeSpan elapsed)
    {
        if (!logger.IsEnabled(LogLevel.Warning))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, entry.Name));
        Log.SlowHandler(logger, context.Name, context.EventId, entry.Name, elapsed.TotalMilliseconds);
    }

    public void HandlerAbandoned(EventContext context, SubscriptionEntry entry)
    {
        if (!logger.IsEnabled(LogLevel.Warning))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, entry.Name));
        Log.HandlerAbandoned(logger, context.Name, context.EventId, entry.Name);
    }

    public void ProcessorFault(EventContext context, Exception exception)
    {
        if (!logger.IsEnabled(LogLevel.Critical))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        Log.ProcessorFault(logger, exception, context.Name, context.EventId);
    }

    public void CallbackFailed(EventContext context, Exception exception)
    {
        if (!logger.IsEnabled(LogLevel.Error))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        Log.CallbackFailed(logger, exception, context.Name, context.EventId, context.Status);
    }

    private void WritePayload(LogLevel level, EventContext context)
    {
        if (Payloads is { } payloads)
            Log.Payload(logger, level, context.Name, context.EventId, payloads.Format(context.Payload));
    }
}
