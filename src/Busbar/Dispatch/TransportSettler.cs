using System.Globalization;
using Busbar.Diagnostics;
using Busbar.Engine;
using Busbar.Transport;
using Microsoft.Extensions.Logging;

namespace Busbar.Dispatch;

/// <summary>
/// Ends an event that came from a broker delivery (<see cref="EventContext.Delivery"/>):
/// <list type="table">
/// <item><term><see cref="EventStatus.Completed"/></term><description>acknowledge: the group is done with it.</description></item>
/// <item><term><see cref="EventStatus.Failed"/>, <see cref="EventStatus.TimedOut"/></term><description>retry later with a doubling delay;
/// at <see cref="TransportBusOptions.MaxDeliveries"/> deliveries, terminate to the dead letters with the failed handler and the exception type as reason.
/// When the event's <see cref="EventContext.Deadline"/> has passed, terminate at once: another delivery could start no handler.</description></item>
/// <item><term><see cref="EventStatus.Cancelled"/></term><description>the bus is stopping: give it back at once, for another consumer of the group.</description></item>
/// </list>
/// </summary>
/// <remarks>
/// A settle the broker refuses (connection lost) is logged and dropped: the delivery stays unsettled and comes again after
/// its lease, which at-least-once allows. The event is counted processed with its status, so bus statistics and
/// <see cref="StopReport"/> include consumed events.
/// </remarks>
/// <param name="options">Maximum deliveries and the retry delays.</param>
/// <param name="metrics">Counts processed and dead-lettered events.</param>
/// <param name="logger">Logs retries, dead letters and settle failures.</param>
internal sealed class TransportSettler(TransportBusOptions options, BusMetrics metrics, ILogger logger) : IEventSettler
{
    private long _returned;

    /// <summary>Deliveries given back to the broker because the bus stopped before their handlers finished.</summary>
    public long Returned => Interlocked.Read(ref _returned);

    public async ValueTask SettleAsync(EventContext context, EventStatus status)
    {
        try
        {
            await SettleDirect(context, status).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            SettleFailed(logger, ex, context.Delivery!);
        }
    }

    /// <summary>
    /// Settles as <see cref="SettleAsync"/> does, but hands back the transport's own ack (the common case) rather than
    /// wrapping it, so the caller awaits one thing per delivery: a fault (thrown or in the result) is the broker's refusal,
    /// for the caller to log with <see cref="SettleFailed"/>. Retries, returns and dead letters never fault.
    /// </summary>
    internal ValueTask SettleDirect(EventContext context, EventStatus status)
    {
        if (status != EventStatus.Completed)
            return SettleOtherAsync(context, status);
        metrics.Processed(context, status);
        return context.Delivery!.AckAsync();
    }

    /// <summary>Logs a settlement the broker refused: the delivery stays unsettled and comes again after its lease.</summary>
    internal static void SettleFailed(ILogger logger, Exception ex, ITransportDelivery delivery) =>
        TransportLogMessages.SettleFailed(logger, ex, delivery.Name, delivery.DeliveryId);

    private async ValueTask SettleOtherAsync(EventContext context, EventStatus status)
    {
        var delivery = context.Delivery!;
        metrics.Processed(context, status);
        try
        {
            switch (status)
            {
                case EventStatus.Cancelled:
                    Interlocked.Increment(ref _returned);
                    await delivery.RetryLaterAsync(TimeSpan.Zero).ConfigureAwait(false);
                    break;
                default:
                    var expired = context.Deadline is { } deadline && context.Clock.GetUtcNow() >= deadline;
                    if (expired || (options.MaxDeliveries is { } max && delivery.DeliveryCount >= max))
                    {
                        var (reason, handler) = ReasonOf(context, status, delivery.DeliveryCount, expired);
                        TransportLogMessages.Terminated(logger, context.Name, context.EventId, delivery.DeliveryId, reason);
                        metrics.DeadLettered(context, handler);
                        await delivery.TerminateAsync(reason).ConfigureAwait(false);
                    }
                    else
                    {
                        var delay = DelayAfter(delivery.DeliveryCount);
                        TransportLogMessages.RetryLater(logger, context.Name, context.EventId, delivery.DeliveryId, status, delivery.DeliveryCount, delay.TotalMilliseconds);
                        await delivery.RetryLaterAsync(delay).ConfigureAwait(false);
                    }

                    break;
            }
        }
        catch (Exception ex)
        {
            TransportLogMessages.SettleFailed(logger, ex, context.Name, delivery.DeliveryId);
        }
    }

    /// <summary>Terminates a delivery that never became an event (undecodable); the reason says why.</summary>
    public async ValueTask TerminateUndecodableAsync(ITransportDelivery delivery, string reason)
    {
        TransportLogMessages.Undecodable(logger, delivery.Name, delivery.DeliveryId, reason);
        try
        {
            await delivery.TerminateAsync(reason).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            TransportLogMessages.SettleFailed(logger, ex, delivery.Name, delivery.DeliveryId);
        }
    }

    /// <summary><see cref="TransportBusOptions.RetryDelay"/> doubled for every delivery after the first, at most <see cref="TransportBusOptions.MaxRetryDelay"/>.</summary>
    internal TimeSpan DelayAfter(int deliveryCount)
    {
        var delay = options.RetryDelay;
        for (var i = 1; i < deliveryCount && delay < options.MaxRetryDelay; i++)
            delay += delay;
        return delay < options.MaxRetryDelay ? delay : options.MaxRetryDelay;
    }

    /// <summary>The first failed handler and its exception type (never the message: it may quote the payload).</summary>
    private static (string Reason, string Handler) ReasonOf(EventContext context, EventStatus status, int deliveries, bool expired)
    {
        var last = expired
            ? string.Create(CultureInfo.InvariantCulture, $"on delivery {deliveries}, after the event's deadline {context.Deadline!.Value:O}")
            : $"on delivery {deliveries}, the maximum";
        if (context.Results is { } results)
        {
            foreach (var result in results)
            {
                if (result.Status is HandlerStatus.Failed or HandlerStatus.TimedOut)
                {
                    var why = result.Status == HandlerStatus.TimedOut ? "timed out" : $"failed ({result.Exception?.GetType().FullName ?? "no exception"})";
                    return ($"Handler '{result.SubscriptionName}' {why} {last}", result.SubscriptionName);
                }
            }
        }

        return ($"The event ended {status} {last}", "(none)");
    }
}
