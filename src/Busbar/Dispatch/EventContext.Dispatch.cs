using System.Diagnostics;
using Busbar.Dispatch;
using Busbar.Routing;

namespace Busbar;

/// <summary>The dispatch state of an event, kept on its context so a queued event costs one object.</summary>
/// <remarks>Stages: created (0) → queued (1) → running (2) → completing (4) → completed (3).</remarks>
[DebuggerDisplay("{Name,nq}: stage {_stage}, status {Status}")]
public sealed partial class EventContext
{
    internal const int StageCreated = 0;
    internal const int StageQueued = 1;
    internal const int StageRunning = 2;
    internal const int StageCompleted = 3;
    internal const int StageCompleting = 4;

    /// <summary>Stands for a completed event in <see cref="_waiter"/> before anyone asked for its outcome.</summary>
    private static readonly object s_completedSentinel = new();

    private int _stage;
    private byte _status;

    /// <summary>
    /// One slot for whoever waits: <see langword="null"/>; the <see cref="TaskCompletionSource{TResult}"/> of a waiter that
    /// came before completion; <see cref="s_completedSentinel"/> once completed; then the <see cref="EventOutcome"/> built for
    /// the first reader.
    /// </summary>
    private object? _waiter;

    /// <summary>
    /// The handler results: <see langword="null"/> before any; a <see cref="HandlerResult"/> array once a handler failed,
    /// was skipped or returned a value; otherwise, while every handler of several succeeded plainly, an <see langword="int"/>
    /// array of their durations in ticks plus one (0 = not recorded), expanded only when read (see <see cref="GetResults"/>).
    /// </summary>
    private object? _results;

    /// <summary>The duration of the event's one handler in ticks plus one, when it succeeded plainly; 0 otherwise.</summary>
    /// <remarks>Four bytes, where the layout had padding: a duration that does not fit (over 214 s) is kept in the full results.</remarks>
    private int _soleTicks;

    internal Route? Route { get; set; }

    /// <summary>The full handler results the engine stored; <see langword="null"/> before any, or while plain successes are kept compactly (see <see cref="GetResults"/>).</summary>
    internal HandlerResult[]? Results
    {
        get => _results as HandlerResult[];
        set => _results = value;
    }

    /// <summary>
    /// Handler <paramref name="index"/> succeeded with no value: kept as a duration, in the full results if the event
    /// already has them, else in a field (a sole handler) or an array of durations (issue 16: an array of
    /// <see cref="HandlerResult"/> per event was the largest allocation of a fan-out).
    /// </summary>
    internal void RecordPlainSuccess(Subscription[] subscriptions, int index, TimeSpan duration)
    {
        if (_results is HandlerResult[] || duration.Ticks >= int.MaxValue - 1)
        {
            EnsureResults(subscriptions)[index] = new HandlerResult(subscriptions[index].Name, HandlerStatus.Succeeded, null, null, 1, duration);
        }
        else if (subscriptions.Length == 1)
        {
            _soleTicks = (int)duration.Ticks + 1;
        }
        else
        {
            var durations = _results as int[] ?? new int[subscriptions.Length];
            durations[index] = (int)duration.Ticks + 1;
            _results = durations;
        }
    }

    /// <summary>The full results, expanding plain successes kept compactly; only the dispatching flow calls it.</summary>
    internal HandlerResult[] EnsureResults(Subscription[] subscriptions)
    {
        if (_results is HandlerResult[] full)
            return full;
        var results = Expand(subscriptions, new HandlerResult[subscriptions.Length]);
        _soleTicks = 0;
        _results = results;
        return results;
    }

    /// <summary>Every handler result of the event, building those plain successes left as durations; <see langword="null"/> when no handler ran.</summary>
    internal HandlerResult[]? GetResults()
    {
        var stored = _results;
        if (stored is HandlerResult[] full)
            return full;
        if ((stored is null && _soleTicks == 0) || Route is not { } route)
            return null;
        return Expand(route.Subscriptions, new HandlerResult[route.Subscriptions.Length]);
    }

    private HandlerResult[] Expand(Subscription[] subscriptions, HandlerResult[] into)
    {
        if (_results is int[] durations)
        {
            for (var i = 0; i < into.Length && i < durations.Length; i++)
            {
                if (durations[i] != 0)
                    into[i] = new HandlerResult(subscriptions[i].Name, HandlerStatus.Succeeded, null, null, 1, TimeSpan.FromTicks(durations[i] - 1));
            }
        }
        else if (_soleTicks != 0 && into.Length == 1)
        {
            into[0] = new HandlerResult(subscriptions[0].Name, HandlerStatus.Succeeded, null, null, 1, TimeSpan.FromTicks(_soleTicks - 1));
        }

        return into;
    }

    /// <summary>
    /// The settler its source chose, when that is not the queue's own: events whose record is in the write-ahead log
    /// (a durable publish, recovery) end with a settler that also records their outcome there. The queue is shared by
    /// every source, so the choice travels with the event; <see langword="null"/> means the queue's settler.
    /// </summary>
    internal LocalSettler? Settler
    {
        get => ExtrasOrNull?.Settler;
        set
        {
            if (value is not null || ExtrasOrNull is not null)
                GetExtras().Settler = value;
        }
    }

    /// <summary>The publisher's execution context, captured under <see cref="EventBusOptions.FlowExecutionContext"/> until processing starts.</summary>
    internal ExecutionContext? FlowedExecutionContext
    {
        get => ExtrasOrNull?.FlowedExecutionContext;
        set
        {
            if (value is not null || ExtrasOrNull is not null)
                GetExtras().FlowedExecutionContext = value;
        }
    }

    internal int Stage => Volatile.Read(ref _stage);

    /// <summary>Its place in the queue's take order or in its ordering key's line, while queued (see <see cref="EventList"/>).</summary>
    internal EventLinks QueueLinks;

    /// <summary>Its admission order in the queue, for <c>DropOldest</c> (see <see cref="EventQueue.IsOlder"/>); set under the queue's lock.</summary>
    internal int QueueSequence;

    /// <summary>Waiting in its ordering key's line rather than ready to take; only <see cref="EventList"/> sets it, under the queue's lock.</summary>
    internal bool InKeyLine;

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

    /// <summary>
    /// Whether the engine's part <see cref="ResetDispatchState"/> clears holds anything besides the queue's (which an inline context
    /// never sets): kept beside it so that the two name the same fields.
    /// </summary>
    private bool DispatchStateChanged =>
        _stage != StageCreated || _status != (byte)EventStatus.Pending || _waiter is not null || Route is not null || _results is not null
        || _soleTicks != 0 || AmbientSubscription is not null;

    private void ResetDispatchState()
    {
        _stage = StageCreated;
        _status = (byte)EventStatus.Pending;
        _waiter = null;
        Route = null;
        _results = null;
        _soleTicks = 0;
        QueueLinks = default;
        QueueSequence = 0;
        InKeyLine = false;
        Debug.Assert(!_isAmbient, "A context installed as an ambient frame is never reused.");
        AmbientSubscription = null;
    }

    internal bool IsCompleted => Volatile.Read(ref _stage) == StageCompleted;

    internal EventStatus Status => IsCompleted ? (EventStatus)_status : EventStatus.Pending;

    internal void MarkQueued() => Volatile.Write(ref _stage, StageQueued);

    /// <summary>Moves a queued event to running: the queue calls it, under its lock, for the one that removed the event.</summary>
    /// <remarks>
    /// A plain write, not a compare-exchange: only the queue moves an event out of the queued stage, under its lock
    /// (a worker taking it, a queue jump, an eviction, the stop), and every other stage change (<see cref="TryBeginComplete"/>)
    /// happens to an event the queue already claimed or never admitted. So nothing races this write.
    /// </remarks>
    internal void Claim()
    {
        Debug.Assert(Volatile.Read(ref _stage) == StageQueued, "Only the queue claims a queued event, once, under its lock.");
        Volatile.Write(ref _stage, StageRunning);
    }

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
        if (LineageOrNull is { Publisher: { } publisher } lineage)
        {
            publisher.AddChild(lineage.PublisherHandler, EventId);
            UnlinkPublisher();
        }
    }

    internal void UnlinkPublisher()
    {
        if (LineageOrNull is { } lineage)
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
        _status = (byte)status;
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

        _status = (byte)status;

        // An event that never started (dropped, rejected, cancelled) must not keep the publisher's context alive in the history.
        FlowedExecutionContext = null;
        return true;
    }

    /// <summary>Publishes the status decided by <see cref="TryBeginComplete"/> and wakes every awaiter.</summary>
    internal void EndComplete()
    {
        Debug.Assert(Volatile.Read(ref _stage) == StageCompleting, "EndComplete follows a successful TryBeginComplete.");
        Volatile.Write(ref _stage, StageCompleted);
        if (Interlocked.CompareExchange(ref _waiter, s_completedSentinel, null) is TaskCompletionSource<EventOutcome> waiter)
            waiter.TrySetResult(GetOutcome());
    }

    internal ValueTask<EventOutcome> WaitForOutcomeAsync()
    {
        if (IsCompleted)
            return new ValueTask<EventOutcome>(GetOutcome());
        var waiter = Volatile.Read(ref _waiter);
        if (waiter is null)
        {
            var created = new TaskCompletionSource<EventOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            waiter = Interlocked.CompareExchange(ref _waiter, created, null) ?? created;
        }

        // Anything but a waiter's source means the event completed meanwhile.
        return waiter is TaskCompletionSource<EventOutcome> source
            ? new ValueTask<EventOutcome>(source.Task)
            : new ValueTask<EventOutcome>(GetOutcome());
    }

    internal EventOutcome GetOutcome()
    {
        var current = Volatile.Read(ref _waiter);
        if (current is EventOutcome existing)
            return existing;
        var completed = IsCompleted;
        // The decided status, as before: a reader in the short window between the decision and the completed mark
        // (an event its own flow settles) sees it, not Pending.
        var outcome = new EventOutcome(this, (EventStatus)Volatile.Read(ref _status), BuildHandlerResults());

        // Kept once the event completed (the slot then holds the sentinel or the waiter's source, already woken), so
        // every reader gets the same outcome; an outcome read before completion is not kept.
        while (completed)
        {
            if (Interlocked.CompareExchange(ref _waiter, outcome, current) == current)
                return outcome;
            current = Volatile.Read(ref _waiter);
            if (current is EventOutcome winner)
                return winner;
        }

        return outcome;
    }

    private HandlerResult[] BuildHandlerResults()
    {
        var results = GetResults();
        if (results is null || results.Length == 0)
            return [];
        List<ChildLink>? children;
        lock (this)
        {
            children = LineageOrNull?.Children is { } links ? [.. links] : null;
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
            if (LineageOrNull?.Children is not { } children)
                return [];
            var ids = new Guid[children.Count];
            for (var i = 0; i < ids.Length; i++)
                ids[i] = children[i].ChildId;
            return ids;
        }
    }

    private readonly record struct ChildLink(Subscription? Handler, Guid ChildId);
}
