using System.Diagnostics;
using Busbar.Dispatch;
using Busbar.Routing;

namespace Busbar;

/// <summary>The dispatch state of an event, kept on its context so a queued event costs one object.</summary>
/// <remarks>Stages: created (0) → queued (1) → running (2) → completing (4) → completed (3).</remarks>
[DebuggerDisplay("{Name,nq}: stage {_stage}, status {_status}")]
public sealed partial class EventContext
{
    internal const int StageCreated = 0;
    internal const int StageQueued = 1;
    internal const int StageRunning = 2;
    internal const int StageCompleted = 3;
    internal const int StageCompleting = 4;

    private static readonly TaskCompletionSource<EventOutcome> s_completedSentinel = new();

    private int _stage;
    private EventStatus _status;
    private EventOutcome? _outcome;
    private TaskCompletionSource<EventOutcome>? _completion;

    internal Route? Route { get; set; }

    /// <summary>The handler results the engine stored; <see langword="null"/> before any, or when its one handler succeeded plainly (see <see cref="GetResults"/>).</summary>
    internal HandlerResult[]? Results { get; set; }

    private TimeSpan _soleDuration;
    private bool _soleSucceeded;

    /// <summary>The event's one handler succeeded with no value: its result is kept as a duration instead of an array.</summary>
    internal void RecordSoleSuccess(TimeSpan duration)
    {
        _soleDuration = duration;
        _soleSucceeded = true;
    }

    /// <summary>Every handler result of the event, building the one a plain sole success left as a duration; <see langword="null"/> when no handler ran.</summary>
    internal HandlerResult[]? GetResults()
    {
        if (Results is { } results)
            return results;
        if (!_soleSucceeded || Route is not { Subscriptions: [var subscription] })
            return null;
        return [new HandlerResult(subscription.Name, HandlerStatus.Succeeded, null, null, 1, _soleDuration)];
    }

    internal long EnqueuedTimestamp { get; set; }

    /// <summary>
    /// The settler its source chose, when that is not the queue's own: events whose record is in the write-ahead log
    /// (a durable publish, recovery) end with a settler that also records their outcome there. The queue is shared by
    /// every source, so the choice travels with the event; <see langword="null"/> means the queue's settler.
    /// </summary>
    internal LocalSettler? Settler
    {
        get => _extras?.Settler;
        set
        {
            if (value is not null || _extras is not null)
                GetExtras().Settler = value;
        }
    }

    /// <summary>The publisher's execution context, captured under <see cref="EventBusOptions.FlowExecutionContext"/> until processing starts.</summary>
    internal ExecutionContext? FlowedExecutionContext
    {
        get => _extras?.FlowedExecutionContext;
        set
        {
            if (value is not null || _extras is not null)
                GetExtras().FlowedExecutionContext = value;
        }
    }

    internal int Stage => Volatile.Read(ref _stage);

    /// <summary>Its place in the queue's take order or in its ordering key's line, while queued (see <see cref="EventList"/>).</summary>
    internal EventLinks TakeLinks;

    /// <summary>Its place among the queued events of its priority, oldest first, while queued.</summary>
    internal EventLinks AgeLinks;

    /// <summary>The handler of this event that flows holding the event as their ambient frame see (see <see cref="Ambient.Enter"/>).</summary>
    internal Subscription? AmbientSubscription;

    private volatile bool _ambientClosed;
    private bool _isAmbient;

    /// <summary>Installed as an ambient frame: flows may hold it after the event ends, so it is never reused for another event.</summary>
    internal bool IsAmbient => _isAmbient;

    /// <summary>The event's handlers have ended: flows still holding it as their frame see no handler.</summary>
    internal bool IsAmbientClosed => _ambientClosed;

    internal void MarkAmbient() => _isAmbient = true;

    internal void CloseAmbient() => _ambientClosed = true;

    /// <summary>What a flow holding this event as its frame sees: the event and its running handler, or nothing once it ended.</summary>
    internal void AmbientVisible(out EventContext? context, out Subscription? subscription)
    {
        if (_ambientClosed)
        {
            context = null;
            subscription = null;
            return;
        }

        context = this;
        subscription = AmbientSubscription;
    }

    private void ResetDispatchState()
    {
        _stage = StageCreated;
        _status = EventStatus.Pending;
        _outcome = null;
        _completion = null;
        Route = null;
        Results = null;
        _soleDuration = default;
        _soleSucceeded = false;
        EnqueuedTimestamp = 0;
        TakeLinks = default;
        AgeLinks = default;
        Debug.Assert(!_isAmbient, "A context installed as an ambient frame is never reused.");
        AmbientSubscription = null;
    }

    internal bool IsCompleted => Volatile.Read(ref _stage) == StageCompleted;

    internal EventStatus Status => IsCompleted ? _status : EventStatus.Pending;

    internal void MarkQueued() => Volatile.Write(ref _stage, StageQueued);

    /// <summary>Moves a queued event to running; false when a worker or an awaiting handler took it first.</summary>
    internal bool TryClaim() => Interlocked.CompareExchange(ref _stage, StageRunning, StageQueued) == StageQueued;

    internal void MarkRunning() => Volatile.Write(ref _stage, StageRunning);

    /// <summary>The event and handler that published this queued event, until admission makes it their child.</summary>
    internal void SetPublisher(EventContext publisher, Subscription? handler)
    {
        var lineage = GetLineage();
        lineage.Publisher = publisher;
        lineage.PublisherHandler = handler;
    }

    /// <summary>Admitted: listed among its publisher's children (an event refused at admission never is).</summary>
    internal void LinkToPublisher()
    {
        if (_lineage is { Publisher: { } publisher } lineage)
        {
            publisher.AddChild(lineage.PublisherHandler, EventId);
            UnlinkPublisher();
        }
    }

    internal void UnlinkPublisher()
    {
        if (_lineage is { } lineage)
        {
            lineage.Publisher = null;
            lineage.PublisherHandler = null;
        }
    }

    internal void AddChild(Subscription? parentHandler, Guid childId)
    {
        var lineage = GetLineage();
        lock (this)
        {
            (lineage.Children ??= []).Add(new ChildLink(parentHandler, childId));
        }
    }

    /// <summary>Completes an inline event nobody can await (no handle was handed out): no lock, no wake-up.</summary>
    internal void CompleteUnobserved(EventStatus status)
    {
        _status = status;
        _stage = StageCompleted;
    }

    /// <summary>
    /// Completes the event in two steps. This one decides the status once (later calls return false) without waking
    /// anyone: the caller updates counters and records, then calls <see cref="EndComplete"/>, so an awaiter that
    /// resumes sees them.
    /// </summary>
    internal bool TryBeginComplete(EventStatus status)
    {
        // One compare-exchange decides the winner; the status is written before the stage is published.
        while (true)
        {
            var stage = Volatile.Read(ref _stage);
            if (stage == StageCompleted || stage == StageCompleting)
                return false;
            if (Interlocked.CompareExchange(ref _stage, StageCompleting, stage) == stage)
                break;
        }

        _status = status;

        // An event that never started (dropped, rejected, cancelled) must not keep the publisher's context alive in the history.
        FlowedExecutionContext = null;
        return true;
    }

    /// <summary>Publishes the status decided by <see cref="TryBeginComplete"/> and wakes every awaiter.</summary>
    internal void EndComplete()
    {
        Debug.Assert(Volatile.Read(ref _stage) == StageCompleting, "EndComplete follows a successful TryBeginComplete.");
        Volatile.Write(ref _stage, StageCompleted);
        var waiter = Interlocked.CompareExchange(ref _completion, s_completedSentinel, null);
        if (waiter is not null && waiter != s_completedSentinel)
            waiter.TrySetResult(GetOutcome());
    }

    internal ValueTask<EventOutcome> WaitForOutcomeAsync()
    {
        if (IsCompleted)
            return new ValueTask<EventOutcome>(GetOutcome());
        var waiter = Volatile.Read(ref _completion);
        if (waiter is null)
        {
            var created = new TaskCompletionSource<EventOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            waiter = Interlocked.CompareExchange(ref _completion, created, null) ?? created;
        }

        return waiter == s_completedSentinel
            ? new ValueTask<EventOutcome>(GetOutcome())
            : new ValueTask<EventOutcome>(waiter.Task);
    }

    internal EventOutcome GetOutcome()
    {
        if (_outcome is { } existing)
            return existing;
        var outcome = new EventOutcome(this, _status, BuildHandlerResults());
        return Interlocked.CompareExchange(ref _outcome, outcome, null) ?? outcome;
    }

    private HandlerResult[] BuildHandlerResults()
    {
        var results = GetResults();
        if (results is null || results.Length == 0)
            return [];
        List<ChildLink>? children;
        lock (this)
        {
            children = _lineage?.Children is { } links ? [.. links] : null;
        }

        if (children is null)
            return results;
        var copy = (HandlerResult[])results.Clone();
        var subscriptions = Route?.Subscriptions;
        for (var i = 0; i < copy.Length; i++)
        {
            List<Guid>? ids = null;
            foreach (var link in children)
            {
                if (subscriptions is not null && i < subscriptions.Length && ReferenceEquals(link.Handler, subscriptions[i]))
                    (ids ??= []).Add(link.ChildId);
            }

            if (ids is not null)
                copy[i] = copy[i].WithChildren(ids);
        }

        return copy;
    }

    internal IReadOnlyList<Guid> GetAllChildren()
    {
        lock (this)
        {
            if (_lineage?.Children is not { } children)
                return [];
            var ids = new Guid[children.Count];
            for (var i = 0; i < ids.Length; i++)
                ids[i] = children[i].ChildId;
            return ids;
        }
    }

    private readonly record struct ChildLink(Subscription? Handler, Guid ChildId);
}
