using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Busbar.Routing;

namespace Busbar.Diagnostics;

/// <summary>
/// Spans through <c>ActivitySource "Busbar"</c>, named and tagged by the OpenTelemetry messaging
/// conventions: a Producer span <c>publish {event name}</c> per publish, which writes W3C
/// <c>traceparent</c>/<c>tracestate</c> into the event's headers, and a Consumer span
/// <c>process {event name}</c> per handler attempt whose parent is read back from those headers and
/// which also links to it (the creation context), so the handler continues the publisher's trace across
/// the queue (and, because the context travels in the headers, across a log or a broker).
/// </summary>
/// <remarks>
/// Every entry point tests <see cref="ActivitySource.HasListeners"/> first: with no listener a
/// publish or a handler call costs that one check (and one for the publish-duration histogram) and
/// allocates nothing. <c>error.type</c> takes the same values on spans and on metrics (<c>ErrorTypeOf</c>).
/// </remarks>
internal static class BusTracing
{
    public const string SourceName = "Busbar";
    public const string TraceParentHeader = "traceparent";
    public const string TraceStateHeader = "tracestate";

    public static readonly ActivitySource Source = new(SourceName, typeof(BusTracing).Assembly.GetName().Version?.ToString());

    public static bool IsEnabled => Source.HasListeners();

    /// <summary><c>error.type</c> of a publish refused because the queue was full under a drop mode.</summary>
    public const string DroppedErrorType = "busbar.dropped";

    /// <summary><c>error.type</c> of a publish refused because the queue was full under <see cref="BusFullMode.Reject"/> (or closed).</summary>
    public const string RejectedErrorType = "busbar.rejected";

    /// <summary><c>error.type</c> of a handler attempt that exceeded its timeout or the event's deadline.</summary>
    public const string TimeoutErrorType = "timeout";

    /// <summary><c>error.type</c> of a handler attempt cancelled by the bus's stop.</summary>
    public const string CancelledErrorType = "cancelled";

    /// <summary>The one <c>error.type</c> of a failed handler attempt, written on its span and on the handler metrics alike.</summary>
    public static string ErrorTypeOf(HandlerStatus status, Exception? exception) => status switch
    {
        HandlerStatus.TimedOut => TimeoutErrorType,
        HandlerStatus.Cancelled => CancelledErrorType,
        _ => exception?.GetType().FullName ?? "_OTHER",
    };

    /// <summary>The <c>error.type</c> of a refused publish.</summary>
    public static string ErrorTypeOf(EventStatus refused) => refused == EventStatus.Dropped ? DroppedErrorType : RejectedErrorType;

    /// <summary>Starts the publish span and stamps the trace context into the headers (copy-on-write).</summary>
    public static void StartPublish(EventContext context)
    {
        if (BusMetrics.PublishDurationEnabled)
            context.SetPublishStart(context.Clock.GetTimestamp());
        if (Source.HasListeners())
            StartPublishSpan(context);
    }

    // Kept out of the entry point, as in StartProcess: its struct locals (a parent context) are zeroed on entry to any
    // method that declares them, and the entry point runs for every publish, listened to or not.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void StartPublishSpan(EventContext context)
    {
        var previous = Activity.Current;
        var parent = previous is null && TryGetParent(context, out var remote) ? remote : default;
        var activity = Source.StartActivity("publish " + context.Name, ActivityKind.Producer, parent);
        var propagated = activity ?? previous;
        if (propagated is not null)
            Inject(context, propagated);
        if (activity is null)
            return;

        // The span runs until the event is admitted or refused, not for the caller's flow:
        // CreateContext is synchronous, so restore the caller's current activity now.
        Activity.Current = previous;
        if (activity.IsAllDataRequested)
        {
            SetMessageTags(activity, context, "send");
            activity.SetTag("messaging.message.conversation_id", context.CorrelationId.ToString());
            activity.SetTag("busbar.bus", context.Origin);
        }

        context.PublishActivity = activity;
    }

    /// <summary>Starts the span of a batch publish (<c>PublishBatchAsync</c>); the events' publish spans are its children.</summary>
    public static Activity? StartPublishBatch(string bus)
    {
        if (!Source.HasListeners())
            return null;
        var activity = Source.StartActivity("publish", ActivityKind.Producer);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "busbar");
            activity.SetTag("messaging.operation.type", "send");
            activity.SetTag("messaging.operation.name", "publish");
            activity.SetTag("busbar.bus", bus);
        }

        return activity;
    }

    /// <summary>
    /// Ends the batch span: <c>messaging.batch.message_count</c> and, when every event has the same name, the name
    /// <c>publish {name}</c> with that destination; a failed batch gets <c>error.type</c>.
    /// </summary>
    public static void EndPublishBatch(Activity batch, IReadOnlyList<EventHandle>? handles, Exception? failure)
    {
        if (batch.IsAllDataRequested)
        {
            if (handles is not null)
            {
                batch.SetTag("messaging.batch.message_count", handles.Count);
                string? destination = handles.Count > 0 ? handles[0].Context.Name : null;
                for (var i = 1; i < handles.Count && destination is not null; i++)
                {
                    if (handles[i].Context.Name != destination)
                        destination = null;
                }

                if (destination is not null)
                {
                    batch.DisplayName = "publish " + destination;
                    batch.SetTag("messaging.destination.name", destination);
                }
            }

            if (failure is not null)
            {
                batch.SetStatus(ActivityStatusCode.Error, failure.Message);
                batch.SetTag("error.type", failure.GetType().FullName);
            }
        }
    }

    /// <summary>Ends the publish span: admitted, or refused with <paramref name="refused"/>.</summary>
    public static void EndPublish(EventContext context, EventStatus? refused)
    {
        // Once per publish: an event evicted by DropOldest after its admission is refused a second time,
        // possibly on another publisher's thread while its own admission is still ending.
        var started = context.TakePublishStart();
        if (started != 0)
            BusMetrics.PublishFinished(context, context.Clock.GetElapsedTime(started), refused is { } failed ? ErrorTypeOf(failed) : null);

        var activity = context.PublishActivity;
        if (activity is null)
            return;
        context.PublishActivity = null;
        if (refused is { } status)
        {
            activity.SetStatus(ActivityStatusCode.Error, status == EventStatus.Dropped ? "dropped: the queue is full" : "rejected: the queue is full");
            activity.SetTag("error.type", ErrorTypeOf(status));
        }

        activity.Stop();
    }

    /// <summary>Ends the publish span of an event the broker refused (a bus with a transport): error status and the exception's type.</summary>
    public static void EndPublishFailed(EventContext context, Exception exception)
    {
        var started = context.TakePublishStart();
        if (started != 0)
            BusMetrics.PublishFinished(context, context.Clock.GetElapsedTime(started), exception.GetType().FullName);

        var activity = context.PublishActivity;
        if (activity is null)
            return;
        context.PublishActivity = null;
        activity.SetStatus(ActivityStatusCode.Error, "the broker did not accept the event");
        activity.SetTag("error.type", exception.GetType().FullName);
        activity.Stop();
    }

    /// <summary>Starts the process span of one handler attempt and makes it current; default when nobody traces.</summary>
    public static ProcessSpan StartProcess(EventContext context, Subscription subscription) =>
        Source.HasListeners() ? StartProcessSpan(context, subscription) : default;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ProcessSpan StartProcessSpan(EventContext context, Subscription subscription)
    {
        var previous = Activity.Current;
        var name = "process " + context.Name;

        // The creation context is both the parent (one event per span, so the trace reads straight through
        // the queue) and a link, which the conventions require and which survives a backend that re-parents.
        var activity = TryGetParent(context, out var parent)
            ? Source.StartActivity(name, ActivityKind.Consumer, parent, links: [new ActivityLink(parent)])
            : Source.StartActivity(name, ActivityKind.Consumer);
        if (activity is null)
            return default;
        if (activity.IsAllDataRequested)
        {
            SetMessageTags(activity, context, "process");
            activity.SetTag("messaging.consumer.group.name", subscription.Name);
            activity.SetTag("messaging.destination.subscription.name", subscription.Name);
            activity.SetTag("messaging.message.conversation_id", context.CorrelationId.ToString());
            activity.SetTag("busbar.bus", context.Origin);
            if (context.Attempt > 1)
                activity.SetTag("messaging.message.delivery_count", context.Attempt);
        }

        return new ProcessSpan(activity, previous);
    }

    private static void SetMessageTags(Activity activity, EventContext context, string operation)
    {
        activity.SetTag("messaging.system", "busbar");
        activity.SetTag("messaging.operation.type", operation);
        activity.SetTag("messaging.operation.name", operation == "send" ? "publish" : "process");
        activity.SetTag("messaging.destination.name", context.Name);
        activity.SetTag("messaging.message.id", context.EventId.ToString());
    }

    private static bool TryGetParent(EventContext context, out ActivityContext parent)
    {
        if (context.Headers.TryGetValue(TraceParentHeader, out var traceParent))
        {
            context.Headers.TryGetValue(TraceStateHeader, out var traceState);
            return ActivityContext.TryParse(traceParent, traceState, isRemote: true, out parent);
        }

        parent = default;
        return false;
    }

    private static void Inject(EventContext context, Activity activity)
    {
        var headers = new Dictionary<string, string>(context.Headers.Count + 2, StringComparer.Ordinal);
        foreach (var (key, value) in context.Headers)
            headers[key] = value;
        headers[TraceParentHeader] = activity.Id is { } id && activity.IdFormat == ActivityIdFormat.W3C
            ? id
            : string.Create(CultureInfo.InvariantCulture, $"00-{activity.TraceId}-{activity.SpanId}-{(activity.Recorded ? "01" : "00")}");
        if (activity.TraceStateString is { Length: > 0 } state)
            headers[TraceStateHeader] = state;
        else
            headers.Remove(TraceStateHeader);
        context.Headers = headers;
    }
}

/// <summary>A started process span and the activity to restore when it ends or the handler goes asynchronous.</summary>
internal readonly struct ProcessSpan(Activity? activity, Activity? previous)
{
    public Activity? Activity => activity;

    /// <summary>The handler went asynchronous: its flow keeps the span; give the caller's flow its activity back.</summary>
    public void Detach()
    {
        if (activity is not null)
            System.Diagnostics.Activity.Current = previous;
    }

    /// <summary>Ends the span with the handler's outcome.</summary>
    public void End(HandlerStatus status, Exception? exception)
    {
        if (activity is null)
            return;
        if (status is HandlerStatus.Failed or HandlerStatus.TimedOut or HandlerStatus.Cancelled)
        {
            activity.SetStatus(ActivityStatusCode.Error, exception?.Message ?? status.ToString());
            activity.SetTag("error.type", BusTracing.ErrorTypeOf(status, exception));
            if (exception is not null)
                activity.AddException(exception);
        }

        activity.Stop();
        System.Diagnostics.Activity.Current = previous;
    }
}
