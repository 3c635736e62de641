using Busbar.Diagnostics;
using Busbar.Durability;
using Busbar.Engine;
using Busbar.Routing;

namespace Busbar.Dispatch;

/// <summary>
/// Ends an event dispatched by a local source: adds a dead letter for each failed or timed-out handler (and
/// records it in the write-ahead log), writes the log's finish record, counts the event processed and out of
/// flight, then completes its handle. The bus holds one per source kind, chosen by the source: queued (the
/// queue's workers, queue jumps, events a stop cancels), logged (queued events whose record is in the log: durable
/// publishes and recovery), inline (<c>SendAsync</c>, <c>InvokeAsync</c>), and re-drive with or without the log.
/// </summary>
/// <param name="deadLetters">Where failed handlers are kept.</param>
/// <param name="journal">Records outcomes in the write-ahead log; <see langword="null"/> for events that have no record there.</param>
/// <param name="metrics">Counts processed events (admitted ones only).</param>
/// <param name="inFlight">The in-flight count the event leaves; <see langword="null"/> for events that were never admitted (inline, re-drive).</param>
/// <param name="deadLetterFailures">Whether failed handlers become dead letters (always for queued events; for inline ones, <see cref="EventBusOptions.DeadLetterInlineFailures"/>).</param>
internal sealed class LocalSettler(DeadLetterStore deadLetters, WalRecorder? journal, BusMetrics metrics, InFlightCounter? inFlight, bool deadLetterFailures) : IEventSettler
{
    public ValueTask SettleAsync(EventContext context, EventStatus status)
    {
        Settle(context, status);
        return default;
    }

    /// <summary>
    /// Ends an event. Dead letters, the log, the counters and the in-flight count are updated before the handle
    /// completes, so an awaiter that resumes sees them; a stop waiting for the drain is woken only after, so every
    /// handle is complete when it returns.
    /// </summary>
    public void Settle(EventContext context, EventStatus status)
    {
        if (deadLetterFailures && context.Results is { } results && context.Route is { } route)
            AddDeadLetters(context, route.Subscriptions, results);
        if (!context.TryBeginComplete(status))
            return;
        var last = false;
        try
        {
            if (journal is not null)
            {
                if (status == EventStatus.Cancelled && context.GetResults() is null)
                    journal.OnCancelledWhileQueued();
                else
                    journal.OnEventFinished(context);
            }

            if (inFlight is not null)
            {
                metrics.Processed(context, status);
                last = inFlight.LeaveDuringStop();
            }
        }
        finally
        {
            context.EndComplete();
            if (last)
                inFlight!.SignalDrained();
        }
    }

    /// <summary>
    /// The event was refused or dropped before it ran (see <see cref="WalRecorder.OnRefused"/>): a logged event's
    /// subscriptions are finished in the log so it is not redelivered after a restart.
    /// </summary>
    public void RecordRefusal(EventContext context) => journal?.OnRefused(context);

    private void AddDeadLetters(EventContext context, Subscription[] subscriptions, HandlerResult[] results)
    {
        for (var i = 0; i < results.Length && i < subscriptions.Length; i++)
        {
            if (results[i].Status is not (HandlerStatus.Failed or HandlerStatus.TimedOut))
                continue;
            var letter = deadLetters.Add(context, subscriptions[i], results[i]);
            if (subscriptions[i].HasStableName)
                journal?.OnDeadLettered(context, letter);
        }
    }
}
