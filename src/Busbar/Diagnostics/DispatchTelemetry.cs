using Busbar.Engine;
using Busbar.Routing;

namespace Busbar.Diagnostics;

/// <summary>
/// The bus's <see cref="IDispatchObserver"/>: handler counters and durations, the slow-handler check, and the
/// handler logs. Holds the bus's metrics and logger, never the bus.
/// </summary>
internal sealed class DispatchTelemetry(BusMetrics metrics, EventLogger log, TimeSpan? slowHandlerThreshold) : IDispatchObserver
{
    public void HandlerSucceeded(EventContext context, Subscription subscription, TimeSpan elapsed)
    {
        metrics.HandlerSucceeded(context, subscription, elapsed);
        if (slowHandlerThreshold is { } threshold && elapsed >= threshold)
        {
            metrics.SlowHandler(context, subscription);
            log.SlowHandler(context, subscription, elapsed);
        }
    }

    public void HandlerFailed(EventContext context, Subscription subscription, HandlerResult result)
    {
        // A cancelled handler is the consequence of a stop or first-wins completion, not a failure of its own.
        if (result.Status is HandlerStatus.Failed or HandlerStatus.TimedOut)
        {
            metrics.HandlerFailed(context, subscription, result);
            log.HandlerFinished(context, subscription, result);
        }
    }

    public void HandlerAbandoned(EventContext context, Subscription subscription) =>
        log.HandlerAbandoned(context, subscription);

    public void DispatchFaulted(EventContext context, Exception exception) =>
        log.ProcessorFault(context, exception);
}
