using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Busbar.Routing;

namespace Busbar.Diagnostics;

/// <summary>
/// The counters of one bus, exposed both as a snapshot (<see cref="Snapshot"/>) and through the
/// shared <c>Meter "Busbar"</c>. Instruments cost one <c>Enabled</c> check when nothing listens.
/// Counters touched by every event sit on separate cache lines: the publisher and the worker
/// increment different ones.
/// </summary>
internal sealed class BusMetrics : IDisposable
{
    public const string MeterName = "Busbar";

    private static readonly Meter s_meter = new(MeterName, typeof(BusMetrics).Assembly.GetName().Version?.ToString());
    private static readonly Counter<long> s_published = s_meter.CreateCounter<long>("messaging.client.sent.messages", "{message}", "Events published (accepted by validation).");
    private static readonly Counter<long> s_processed = s_meter.CreateCounter<long>("messaging.client.consumed.messages", "{message}", "Events whose handling finished.");
    private static readonly Counter<long> s_failed = s_meter.CreateCounter<long>("busbar.events.failed", "{message}", "Events that ended as failed.");
    private static readonly Counter<long> s_handlerFailed = s_meter.CreateCounter<long>("busbar.handler.failures", "{invocation}", "Handler invocations that failed or timed out after their last attempt.");
    private static readonly Counter<long> s_retried = s_meter.CreateCounter<long>("busbar.handler.retries", "{retry}", "Handler retries.");
    private static readonly Counter<long> s_dropped = s_meter.CreateCounter<long>("busbar.events.dropped", "{message}", "Events dropped by a drop mode.");
    private static readonly Counter<long> s_rejected = s_meter.CreateCounter<long>("busbar.events.rejected", "{message}", "Events refused because the queue was full.");
    private static readonly Counter<long> s_deadLettered = s_meter.CreateCounter<long>("busbar.dead_letters", "{invocation}", "Handler invocations sent to the dead-letter store.");
    private static readonly Counter<long> s_slow = s_meter.CreateCounter<long>("busbar.handler.slow", "{invocation}", "Handler invocations slower than the slow-handler threshold.");
    private static readonly Histogram<double> s_handlerDuration = s_meter.CreateHistogram<double>("messaging.process.duration", "s", "Duration of handler invocations.");
    private static readonly Histogram<double> s_publishDuration = s_meter.CreateHistogram<double>("messaging.client.operation.duration", "s", "Duration of publish operations, from the call until the event is admitted or refused, including time spent waiting for room.");
    private static readonly Histogram<double> s_dwell = s_meter.CreateHistogram<double>("busbar.queue.dwell_time", "s", "Time events spend queued before a worker takes them.");
    private static readonly List<BusMetrics> s_live = [];

    private readonly string _bus;
    private Func<int>? _depth;
    private Func<long>? _inFlight;
    private PaddedCounter _publishedCount;
    // Processed is the sum of the four per-status counters, so a snapshot's parts always add up to it.
    private PaddedCounter _completedCount;
    private PaddedCounter _failedCount;
    private PaddedCounter _cancelledCount;
    private PaddedCounter _timedOutCount;
    private PaddedCounter _retriedCount;
    private PaddedCounter _droppedCount;
    private PaddedCounter _rejectedCount;
    private PaddedCounter _deadLetteredCount;
    private PaddedCounter _slowCount;

    static BusMetrics()
    {
        s_meter.CreateObservableGauge("busbar.queue.depth", ObserveDepth, "{message}", "Events queued per bus.");
        s_meter.CreateObservableUpDownCounter("busbar.events.in_flight", ObserveInFlight, "{message}", "Events admitted and not yet completed, per bus.");
    }

    public BusMetrics(string bus)
    {
        _bus = bus;
        lock (s_live)
        {
            s_live.Add(this);
        }
    }

    /// <summary>Someone listens to queue dwell time: only then is the enqueue time read from the clock.</summary>
    public bool DwellEnabled => s_dwell.Enabled;

    /// <summary>Someone listens to publish durations: only then is the publish start read from the clock.</summary>
    public static bool PublishDurationEnabled => s_publishDuration.Enabled;

    /// <summary>Someone listens to handler durations.</summary>
    public static bool DurationEnabled => s_handlerDuration.Enabled;

    public long ProcessedCount =>
        Volatile.Read(ref _completedCount.Value) + Volatile.Read(ref _failedCount.Value) + Volatile.Read(ref _cancelledCount.Value) + Volatile.Read(ref _timedOutCount.Value);

    public long CancelledCount => Volatile.Read(ref _cancelledCount.Value);

    public long DroppedCount => Volatile.Read(ref _droppedCount.Value);

    public long RejectedCount => Volatile.Read(ref _rejectedCount.Value);

    public void ObserveQueue(Func<int> depth, Func<long> inFlight)
    {
        _depth = depth;
        _inFlight = inFlight;
    }

    private KeyValuePair<string, object?> BusTag => new(BusTagName, _bus);

    public const string BusTagName = "busbar.bus";
    public const string SystemTagName = "messaging.system";
    public const string OperationTagName = "messaging.operation.name";
    public const string OperationTypeTagName = "messaging.operation.type";
    public const string ConsumerGroupTagName = "messaging.consumer.group.name";
    public const string DestinationTagName = "messaging.destination.name";
    public const string SubscriptionTagName = "messaging.destination.subscription.name";
    public const string StatusTagName = "busbar.status";
    public const string ErrorTypeTagName = "error.type";

    /// <summary>A batch of published events: one interlocked add for the count.</summary>
    public void PublishedMany(List<EventContext> contexts, int start, int count)
    {
        Interlocked.Add(ref _publishedCount.Value, count);
        if (!s_published.Enabled)
            return;
        for (var i = start; i < start + count; i++)
        {
            var tags = new TagList { BusTag, { SystemTagName, "busbar" }, { OperationTagName, "publish" }, { OperationTypeTagName, "send" }, { DestinationTagName, contexts[i].Name } };
            s_published.Add(1, tags);
        }
    }

    public void Published(EventContext context)
    {
        Interlocked.Increment(ref _publishedCount.Value);
        if (s_published.Enabled)
            RecordPublished(context);
    }

    // The instrument's side of the per-event counters is a method of its own: a TagList is a large struct holding
    // references, which the JIT zeroes on entry to any method that declares one, listened to or not.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordPublished(EventContext context)
    {
        var tags = new TagList { BusTag, { SystemTagName, "busbar" }, { OperationTagName, "publish" }, { OperationTypeTagName, "send" }, { DestinationTagName, context.Name } };
        s_published.Add(1, tags);
    }

    /// <summary>A publish ended: admitted (<paramref name="errorType"/> null) or refused.</summary>
    public static void PublishFinished(EventContext context, TimeSpan elapsed, string? errorType)
    {
        if (!s_publishDuration.Enabled)
            return;
        var tags = new TagList
        {
            { BusTagName, context.Origin }, { SystemTagName, "busbar" }, { OperationTagName, "publish" }, { OperationTypeTagName, "send" }, { DestinationTagName, context.Name },
        };
        if (errorType is not null)
            tags.Add(ErrorTypeTagName, errorType);
        s_publishDuration.Record(elapsed.TotalSeconds, tags);
    }

    public void Dequeued(EventContext context, TimeSpan dwell)
    {
        if (s_dwell.Enabled)
            RecordDwell(context, dwell);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordDwell(EventContext context, TimeSpan dwell) =>
        s_dwell.Record(dwell.TotalSeconds, BusTag, new(DestinationTagName, context.Name));

    public void Processed(EventContext context, EventStatus status)
    {
        switch (status)
        {
            case EventStatus.Failed:
                Interlocked.Increment(ref _failedCount.Value);
                if (s_failed.Enabled)
                    s_failed.Add(1, BusTag, new(DestinationTagName, context.Name));
                break;
            case EventStatus.Cancelled:
                Interlocked.Increment(ref _cancelledCount.Value);
                break;
            case EventStatus.TimedOut:
                Interlocked.Increment(ref _timedOutCount.Value);
                break;
            default:
                Interlocked.Increment(ref _completedCount.Value);
                break;
        }

        if (s_processed.Enabled)
            RecordProcessed(context, status);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordProcessed(EventContext context, EventStatus status)
    {
        var tags = new TagList { BusTag, { SystemTagName, "busbar" }, { OperationTagName, "process" }, { OperationTypeTagName, "process" }, { DestinationTagName, context.Name }, { StatusTagName, StatusName(status) } };
        s_processed.Add(1, tags);
    }

    public void HandlerSucceeded(EventContext context, Subscription subscription, TimeSpan elapsed)
    {
        subscription.Latency.Record(elapsed);
        if (s_handlerDuration.Enabled)
            RecordHandlerDuration(context, subscription, elapsed);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordHandlerDuration(EventContext context, Subscription subscription, TimeSpan elapsed)
    {
        var tags = new TagList { BusTag, { SystemTagName, "busbar" }, { OperationTagName, "process" }, { OperationTypeTagName, "process" }, { DestinationTagName, context.Name }, { ConsumerGroupTagName, subscription.Name }, { SubscriptionTagName, subscription.Name } };
        s_handlerDuration.Record(elapsed.TotalSeconds, tags);
    }

    public void HandlerFailed(EventContext context, Subscription subscription, HandlerResult result)
    {
        subscription.Latency.Record(result.Duration);
        if (!s_handlerFailed.Enabled && !s_handlerDuration.Enabled)
            return;
        var errorType = BusTracing.ErrorTypeOf(result.Status, result.Exception);
        if (s_handlerFailed.Enabled)
        {
            var tags = new TagList { BusTag, { OperationTypeTagName, "process" }, { DestinationTagName, context.Name }, { ConsumerGroupTagName, subscription.Name }, { SubscriptionTagName, subscription.Name }, { ErrorTypeTagName, errorType } };
            s_handlerFailed.Add(1, tags);
        }

        if (s_handlerDuration.Enabled)
        {
            var tags = new TagList { BusTag, { SystemTagName, "busbar" }, { OperationTagName, "process" }, { OperationTypeTagName, "process" }, { DestinationTagName, context.Name }, { ConsumerGroupTagName, subscription.Name }, { SubscriptionTagName, subscription.Name }, { ErrorTypeTagName, errorType } };
            s_handlerDuration.Record(result.Duration.TotalSeconds, tags);
        }
    }

    public void Retried(EventContext? context, Subscription? subscription)
    {
        Interlocked.Increment(ref _retriedCount.Value);
        if (s_retried.Enabled)
            s_retried.Add(1, BusTag, new(DestinationTagName, context?.Name), new(ConsumerGroupTagName, subscription?.Name), new(SubscriptionTagName, subscription?.Name));
    }

    public void Dropped(EventContext context)
    {
        Interlocked.Increment(ref _droppedCount.Value);
        if (s_dropped.Enabled)
            s_dropped.Add(1, BusTag, new(DestinationTagName, context.Name), new(ErrorTypeTagName, BusTracing.DroppedErrorType));
    }

    public void Rejected(EventContext context)
    {
        Interlocked.Increment(ref _rejectedCount.Value);
        if (s_rejected.Enabled)
            s_rejected.Add(1, BusTag, new(DestinationTagName, context.Name), new(ErrorTypeTagName, BusTracing.RejectedErrorType));
    }

    public void DeadLettered(EventContext context, string subscription)
    {
        Interlocked.Increment(ref _deadLetteredCount.Value);
        if (s_deadLettered.Enabled)
            s_deadLettered.Add(1, BusTag, new(DestinationTagName, context.Name), new(ConsumerGroupTagName, subscription), new(SubscriptionTagName, subscription));
    }

    public void SlowHandler(EventContext context, Subscription subscription)
    {
        Interlocked.Increment(ref _slowCount.Value);
        if (s_slow.Enabled)
            s_slow.Add(1, BusTag, new(DestinationTagName, context.Name), new(SubscriptionTagName, subscription.Name));
    }

    private static string StatusName(EventStatus status) => status switch
    {
        EventStatus.Completed => "completed",
        EventStatus.Failed => "failed",
        EventStatus.Cancelled => "cancelled",
        EventStatus.TimedOut => "timed_out",
        EventStatus.Dropped => "dropped",
        EventStatus.Rejected => "rejected",
        _ => "pending",
    };

    public BusStatistics Snapshot(int depth, int capacity, long inFlight, IReadOnlyList<Subscription> subscriptions)
    {
        var handlers = new Dictionary<string, HandlerLatency>(subscriptions.Count, StringComparer.Ordinal);
        foreach (var subscription in subscriptions)
            handlers[subscription.Name] = subscription.Latency.Summarize();

        // Outcomes first, Published last: an event is counted published before its outcome, so a snapshot
        // taken while events flow shows Published >= Processed + Dropped + Rejected + InFlight - never less.
        var completed = Volatile.Read(ref _completedCount.Value);
        var failed = Volatile.Read(ref _failedCount.Value);
        var cancelled = Volatile.Read(ref _cancelledCount.Value);
        var timedOut = Volatile.Read(ref _timedOutCount.Value);
        var dropped = Volatile.Read(ref _droppedCount.Value);
        var rejected = Volatile.Read(ref _rejectedCount.Value);
        var published = Volatile.Read(ref _publishedCount.Value);
        return new BusStatistics
        {
            Name = _bus,
            QueueDepth = depth,
            Capacity = capacity,
            InFlight = inFlight,
            Published = published,
            Processed = completed + failed + cancelled + timedOut,
            Completed = completed,
            Failed = failed,
            Cancelled = cancelled,
            TimedOut = timedOut,
            Retried = Volatile.Read(ref _retriedCount.Value),
            Dropped = dropped,
            Rejected = rejected,
            DeadLettered = Volatile.Read(ref _deadLetteredCount.Value),
            SlowHandlers = Volatile.Read(ref _slowCount.Value),
            Handlers = handlers,
        };
    }

    private static IEnumerable<Measurement<int>> ObserveDepth()
    {
        BusMetrics[] live;
        lock (s_live)
        {
            live = [.. s_live];
        }

        foreach (var metrics in live)
        {
            if (metrics._depth is { } depth)
                yield return new Measurement<int>(depth(), metrics.BusTag);
        }
    }

    private static IEnumerable<Measurement<long>> ObserveInFlight()
    {
        BusMetrics[] live;
        lock (s_live)
        {
            live = [.. s_live];
        }

        foreach (var metrics in live)
        {
            if (metrics._inFlight is { } inFlight)
                yield return new Measurement<long>(inFlight(), metrics.BusTag);
        }
    }

    public void Dispose()
    {
        lock (s_live)
        {
            s_live.Remove(this);
        }
    }

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedCounter
    {
        [FieldOffset(64)]
        public long Value;
    }
}
