using System.Runtime.CompilerServices;
using Busbar.Routing;
using Microsoft.Extensions.Logging;

namespace Busbar.Diagnostics;

/// <summary>
/// Writes the logs about one event, each inside an <see cref="EventLogScope"/>. Every method checks
/// <see cref="ILogger.IsEnabled"/> first, so with logging off (or the level filtered out) a call
/// costs that check and nothing else: no scope, no formatting, no payload serialization.
/// </summary>
internal sealed class EventLogger(ILogger logger, TimeProvider timeProvider)
{
    /// <summary>At most one drop/rejection warning per second per bus; the next one reports how many were held back.</summary>
    private readonly LogRateLimiter _refusals = new(timeProvider, TimeSpan.FromSeconds(1));

    public ILogger Logger => logger;

    /// <summary>Opt-in payload logging; null (the default) never logs payloads.</summary>
    public PayloadFormatter? Payloads { get; set; }

    public void Published(EventContext context)
    {
        if (logger.IsEnabled(LogLevel.Debug))
            WritePublished(context);
    }

    public void Dispatching(EventContext context, TimeSpan dwell)
    {
        if (logger.IsEnabled(LogLevel.Debug))
            WriteDispatching(context, dwell);
    }

    // The per-event entry points above are inlined into the publish and the worker's dispatch; the scope and the message's
    // struct locals stay here, so those callers do not zero them on every event with logging off.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WritePublished(EventContext context)
    {
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        LogMessages.Published(logger, context.Name, context.EventId, context.CorrelationId);
        WritePayload(LogLevel.Debug, context);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WriteDispatching(EventContext context, TimeSpan dwell)
    {
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        LogMessages.Dispatching(logger, context.Name, context.EventId, dwell.TotalMilliseconds);
    }

    public void Refused(EventContext context, EventStatus status)
    {
        if (!logger.IsEnabled(LogLevel.Warning) || !_refusals.TryAcquire(out var suppressed))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        LogMessages.RefusedRateLimited(logger, context.Name, context.EventId, status, suppressed);
    }

    public void HandlerFinished(EventContext context, Subscription subscription, HandlerResult result)
    {
        if (!logger.IsEnabled(LogLevel.Error))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, subscription.Name));
        if (result.Status == HandlerStatus.TimedOut)
            LogMessages.HandlerTimedOut(logger, context.Name, context.EventId, context.CorrelationId, subscription.Name, result.Attempts);
        else
            LogMessages.HandlerFailed(logger, result.Exception, context.Name, context.EventId, context.CorrelationId, subscription.Name, result.Attempts);
        WritePayload(LogLevel.Error, context);
    }

    public void Retrying(EventContext context, Subscription subscription, Exception? exception, int attempt)
    {
        if (!logger.IsEnabled(LogLevel.Warning))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, subscription.Name));
        LogMessages.Retrying(logger, exception, context.Name, context.EventId, subscription.Name, attempt);
    }

    public void SlowHandler(EventContext context, Subscription subscription, TimeSpan elapsed)
    {
        if (!logger.IsEnabled(LogLevel.Warning))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, subscription.Name));
        LogMessages.SlowHandler(logger, context.Name, context.EventId, subscription.Name, elapsed.TotalMilliseconds);
    }

    public void HandlerAbandoned(EventContext context, Subscription subscription)
    {
        if (!logger.IsEnabled(LogLevel.Warning))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, subscription.Name));
        LogMessages.HandlerAbandoned(logger, context.Name, context.EventId, subscription.Name);
    }

    public void ProcessorFault(EventContext context, Exception exception)
    {
        if (!logger.IsEnabled(LogLevel.Critical))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        LogMessages.ProcessorFault(logger, exception, context.Name, context.EventId);
    }

    public void CallbackFailed(EventContext context, Exception exception)
    {
        if (!logger.IsEnabled(LogLevel.Error))
            return;
        using var scope = logger.BeginScope(new EventLogScope(context, null));
        LogMessages.CallbackFailed(logger, exception, context.Name, context.EventId, context.Status);
    }

    private void WritePayload(LogLevel level, EventContext context)
    {
        if (Payloads is { } payloads)
            LogMessages.Payload(logger, level, context.Name, context.EventId, payloads.Format(context.Payload));
    }
}
