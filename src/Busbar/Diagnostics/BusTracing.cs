using System.Diagnostics;
using System.Globalization;
using Busbar.Dispatch;

namespace Busbar.Diagnostics;

/// <summary>
/// Spans through <c>ActivitySource "Busbar"</c>: a Producer span per publish, which writes W3C
/// <c>traceparent</c>/<c>tracestate</c> into the event's headers, and a Consumer span per handler
/// attempt whose parent is read back from those headers, so the handler continues the publisher's
/// trace across the queue (and, because the context travels in the headers, across a log or a broker).
/// </summary>
/// <remarks>
/// Every entry point tests <see cref="ActivitySource.HasListeners"/> first: with no listener a
/// publish or a handler call costs that one check and allocates nothing.
/// </remarks>
internal static class BusTracing
{
    public const string SourceName = "Busbar";
    public const string TraceParentHeader = "traceparent";
    public const string TraceStateHeader = "tracestate";

    public static readonly ActivitySource Source = new(SourceName, typeof(BusTracing).Assembly.GetName().Version?.ToString());

    public static bool IsEnabled => Source.HasListeners();

    /// <summary>Starts the publish span and stamps the trace context into the headers (copy-on-write).</summary>
    public static void StartPublish(EventContext context)
    {
        if (!Source.HasListeners())
            return;
        var previous = Activity.Current;
        var parent = previous is null && TryGetParent(context, out var remote) ? remote : default;
        var activity = Source.StartActivity(ActivityKind.Producer, parent, name: context.Name + " publish");
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
            activity.SetTag("busbar.bus", context.Origin);
        }

        context.PublishActivity = activity;
    }

    /// <summary>Ends the publish span: admitted, or refused with <paramref name="refused"/>.</summary>
    public static void EndPublish(EventContext context, EventStatus? refused)
    {
        var activity = context.PublishActivity;
        if (activity is null)
            return;
        context.PublishActivity = null;
        if (refused is { } status)
        {
            activity.SetStatus(ActivityStatusCode.Error, status == EventStatus.Dropped ? "dropped: the queue is full" : "rejected: the queue is full");
            activity.SetTag("error.type", status == EventStatus.Dropped ? "busbar.dropped" : "busbar.rejected");
        }

        activity.Stop();
    }

    /// <summary>Starts the process span of one handler attempt and makes it current; default when nobody traces.</summary>
    public static ProcessSpan StartProcess(EventContext context, SubscriptionEntry entry)
    {
        if (!Source.HasListeners())
            return default;
        var previous = Activity.Current;
        var activity = TryGetParent(context, out var parent)
            ? Source.StartActivity(ActivityKind.Consumer, parent, name: context.Name + " process")
            : Source.StartActivity(context.Name + " process", ActivityKind.Consumer);
        if (activity is null)
            return default;
        if (activity.IsAllDataRequested)
        {
            SetMessageTags(activity, context, "process");
            activity.SetTag("messaging.destination.subscription.name", entry.Name);
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
            activity.SetTag("error.type", exception?.GetType().FullName ?? status.ToString());
            if (exception is not null)
                activity.AddException(exception);
        }

        activity.Stop();
        System.Diagnostics.Activity.Current = previous;
    }
}
