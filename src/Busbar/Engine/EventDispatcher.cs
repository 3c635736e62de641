using System.Diagnostics;
using System.Runtime.CompilerServices;
using Busbar.Diagnostics;
using Busbar.Dispatch;
using Busbar.Routing;
using Microsoft.Extensions.Logging;

namespace Busbar.Engine;

/// <summary>
/// Runs the handlers of one event: priority tiers in order, each tier serially or in parallel,
/// every invocation isolated (its exception is recorded, never propagated), with timeouts,
/// retries and dead letters. The common case (no policies, handlers completing synchronously)
/// takes a synchronous path that allocates nothing beyond the event's result array.
/// </summary>
/// <remarks>
/// The engine of the bus: every source (the local queue's workers, write-ahead-log recovery, inline send and
/// invoke, queue jumps, re-drives; next, broker deliveries) hands it a context, its route and the caller's token,
/// and gets the event's status back. It knows nothing of queues, the log, the bus or a broker: the source's
/// <see cref="IEventSettler"/> ends the event with that status. Its collaborators are what it uses: the options
/// (defaults and grace), a clock, a logger for cancellation callbacks, an observer for telemetry, the bus's
/// stop token and the bus's middlewares (<see langword="null"/> when it has none), which run inside every attempt.
/// </remarks>
internal sealed partial class EventDispatcher(EventBusOptions defaults, TimeProvider timeProvider, ILogger logger, IDispatchObserver observer, CancellationToken stopToken, MiddlewarePipeline? middleware = null)
{
    // The grace after cancellation is a safety net against handlers that never return, so it runs on the
    // real clock: a test clock that is never advanced must not hold an event (or a stop) forever.
    private static readonly TimeProvider s_graceClock = TimeProvider.System;

    private readonly TimeProvider _time = timeProvider;

    /// <summary>Runs the handlers of a claimed event and returns its status; the caller settles it.</summary>
    /// <param name="context">The event.</param>
    /// <param name="route">The subscriptions that receive it.</param>
    /// <param name="token">
    /// The caller's token (<c>SendAsync</c>, <c>InvokeAsync</c>, re-drive): handlers see it linked to the stop token.
    /// <see langword="default"/> for queued events, whose handlers see the stop token alone.
    /// </param>
    /// <param name="callerFrame">
    /// <see langword="null"/>: the event is its own ambient frame, closed when it ends (queued events,
    /// <c>InvokeAsync</c>, queue jumps, re-drives). Otherwise the calling flow's frame, pointed at the event
    /// without allocating and restored before returning (<c>SendAsync</c>); see <see cref="Ambient"/>.
    /// </param>
    /// <param name="recordResults">Whether every handler result is kept on <see cref="EventContext.Results"/>; otherwise only failures and values are.</param>
    /// <param name="clock">
    /// A queue worker's <see cref="HandlerClock"/>: the first handler starts from the reading the worker's previous event carried, if
    /// any, and the last one's end is carried on when every handler ran synchronously on the serial path. <see langword="null"/>
    /// for every other source, whose events read the clock afresh.
    /// </param>
    /// <returns>The event's status, from its handler results and the completion mode. Never faults.</returns>
    public ValueTask<EventStatus> DispatchAsync(EventContext context, Route route, CancellationToken token, AmbientFrame? callerFrame, bool recordResults, HandlerClock? clock = null)
    {
        // Taken whichever way the event goes: only the synchronous serial path carries a reading on to the next event.
        var carried = clock is null ? 0 : clock.Take();
        var subscriptions = route.Subscriptions;
        if (subscriptions.Length == 0)
            return new ValueTask<EventStatus>(EventStatus.Completed);

        var options = context.Options;
        var concurrency = options?.HandlerConcurrency ?? defaults.HandlerConcurrency;
        var completion = options?.Completion ?? defaults.Completion;
        if (concurrency == HandlerConcurrency.Parallel && subscriptions.Length > 1)
            return DispatchParallelAsync(context, route, token, callerFrame, recordResults, completion);

        // Middlewares need an invocation object and run inside the attempt, which only the general path has.
        var fast = (middleware is null || middleware.For(context.Payload.GetType()) is null)
            && route.AllSimple
            && context.Deadline is null
            && completion == CompletionMode.All
            && (concurrency == HandlerConcurrency.Serial || subscriptions.Length == 1)
            && (options?.HandlerTimeout ?? defaults.HandlerTimeout) is null;
        if (!fast)
            return DispatchGeneral(context, route, token);
        return DispatchSerialSync(context, route, token, callerFrame, recordResults, 0, null, carried, clock);
    }

    // Out of line: this entry point is inlined into the sources, which would otherwise zero the general path's argument
    // temporaries (a nullable Resume, the async method's state) on every event, fast or not.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ValueTask<EventStatus> DispatchGeneral(EventContext context, Route route, CancellationToken token) =>
        DispatchGeneralAsync(context, route, token, 0, framed: false, default, null);

    /// <summary>
    /// Whether this dispatcher's own policies (the bus's default timeout and completion mode, a parallel tier, a middleware of
    /// <paramref name="eventType"/>) need the engine for every event of that type, whatever its handlers: an
    /// <see cref="InlinePlan{T}"/> is built only when they do not.
    /// </summary>
    public bool NeedsEngine(Type eventType, int subscriptionCount) =>
        middleware?.For(eventType) is not null
        || defaults.Completion != CompletionMode.All
        || defaults.HandlerTimeout is not null
        || (defaults.HandlerConcurrency != HandlerConcurrency.Serial && subscriptionCount > 1);

    /// <summary>
    /// Carries on an inline send that an <see cref="InlinePlan{T}"/> ran up to <paramref name="index"/>: the handlers before it
    /// succeeded, the one at it returned <paramref name="started"/> (faulted, cancelled or still running). From there the event is
    /// dispatched as <see cref="DispatchAsync"/> would have, with <paramref name="callerFrame"/> back in its state before the send.
    /// </summary>
    public ValueTask<EventStatus> ContinueInlineAsync(EventContext context, Route route, CancellationToken token, AmbientFrame callerFrame, int index, ValueTask<object?> started)
    {
        Debug.Assert(route.AllSimple && context.Options is null && !NeedsEngine(context.Payload.GetType(), route.Subscriptions.Length), "Only a plan's route is continued here.");
        return DispatchSerialSync(context, route, token, callerFrame, recordResults: false, index, started);
    }

    /// <summary>
    /// The synchronous serial path, from <paramref name="startIndex"/>; <paramref name="started"/>, when given, is what the handler
    /// at that index already returned (see <see cref="ContinueInlineAsync"/>). <paramref name="carried"/>, when not 0, is where the
    /// first handler's time starts (what <paramref name="clock"/> carried from the worker's previous event); the last handler's end
    /// is carried on in <paramref name="clock"/> when the event ends here.
    /// </summary>
    private ValueTask<EventStatus> DispatchSerialSync(EventContext context, Route route, CancellationToken token, AmbientFrame? callerFrame, bool recordResults, int startIndex, ValueTask<object?>? started, long carried = 0, HandlerClock? clock = null)
    {
        var subscriptions = route.Subscriptions;
        // Handlers that succeed plainly need no result array: their durations are kept compactly on the context (see
        // EventContext.RecordPlainSuccess), which saves a queued event its largest allocation after the context.
        var compact = recordResults && context.Results is null && ReferenceEquals(context.Route, route);
        var results = recordResults && !compact ? context.EnsureResults(subscriptions) : null;
        // An inline caller's token reaches the handlers as is; queued events get the bus's stop token.
        var handlerToken = token.CanBeCanceled ? token : stopToken;
        var ownFrame = callerFrame is null;
        if (ownFrame)
            Ambient.Enter(context);
        // Only a caller's frame needs the thread (an event that is its own frame is visible to every flow holding it).
        var thread = ownFrame ? 0 : Environment.CurrentManagedThreadId;
        var savedSyncThread = callerFrame?.SyncThread ?? 0;
        var savedSyncContext = callerFrame?.SyncContext;
        var savedSyncSubscription = callerFrame?.SyncSubscription;
        var anyFailed = false;
        // An inline send's handlers that await resume through a hook bound to this event (see InlineResumeContext).
        var hook = ownFrame ? null : InlineContexts.Current.EnterSyncWindow(context, callerFrame!);

        // Queued events time every handler (one clock read per handler: the end of one is the start
        // of the next, and a worker running events back to back carries the last end to its next event).
        // Inline sends read the clock only when a listener wants handler durations.
        var timed = recordResults || BusMetrics.DurationEnabled;
        var start = timed ? (carried != 0 ? carried : _time.GetTimestamp()) : 0;
        for (var i = startIndex; i < subscriptions.Length; i++)
        {
            var subscription = subscriptions[i];
            ValueTask<object?> pending;
            ProcessSpan span = default;
            if (started is { } already && i == startIndex)
            {
                // The plan ran this handler under the same frame state this loop would have set.
                pending = already;
            }
            else
            {
                if (!subscription.IsActive)
                {
                    if (recordResults)
                        (results = context.EnsureResults(subscriptions))[i] = new HandlerResult(subscription.Name, HandlerStatus.Skipped, null, null, 0, TimeSpan.Zero);
                    continue;
                }

                if (ownFrame)
                {
                    context.AmbientSubscription = subscription;
                }
                else
                {
                    // Visible to this thread only: a flow another handler left running must not see this event.
                    callerFrame!.SyncContext = context;
                    callerFrame.SyncSubscription = subscription;
                    callerFrame.SyncThread = thread;
                }

                span = BusTracing.StartProcess(context, subscription);
                try
                {
                    pending = subscription.InvokeAsync(context.Payload, context, handlerToken);
                }
                catch (Exception ex)
                {
                    pending = ValueTask.FromException<object?>(ex);
                }
            }

            if (!pending.IsCompleted)
            {
                span.Detach();
                var resumeAt = timed ? start : _time.GetTimestamp();
                if (ownFrame)
                {
                    // The handler went asynchronous holding the event as its frame; the event stays its frame until it ends.
                    return DispatchGeneralAsync(context, route, token, i, framed: true, pending, new Resume(resumeAt, null, null, null, 0, span));
                }

                var caller = callerFrame!;
                // A handler invoked here may have captured the hook, which then stays bound to the event; one the plan already ran
                // (started) did so under the plan's own hook.
                if (started is not null && i == startIndex)
                    hook!.Leave();
                else
                    hook!.LeaveGoneAsync(subscription);
                if (savedSyncContext is not null && savedSyncThread == thread)
                    return NestedGoneAsync(context, route, token, i, pending, caller, savedSyncThread, savedSyncContext, savedSyncSubscription, new Resume(resumeAt, null, null, null, 0, span));

                // The handler went asynchronous holding the caller's frame: it names the event for every flow
                // holding the frame until the event ends, and nobody else may mutate it meanwhile.
                var resume = new Resume(resumeAt, caller, caller.Context, caller.Subscription, caller.OwnerThread, span);
                caller.Context = context;
                caller.Subscription = subscription;
                caller.OwnerThread = -1;
                caller.SyncThread = savedSyncThread;
                caller.SyncContext = savedSyncContext;
                caller.SyncSubscription = savedSyncSubscription;
                return DispatchGeneralAsync(context, route, token, i, framed: false, pending, resume);
            }

            var end = timed ? _time.GetTimestamp() : 0;
            var elapsed = timed ? _time.GetElapsedTime(start, end) : TimeSpan.Zero;
            start = end;
            if (!RecordFinished(context, subscriptions, i, pending, span, elapsed, timed, results, compact, handlerToken))
                anyFailed = true;
        }

        if (ownFrame)
        {
            context.CloseAmbient();
            clock?.Carry(start);
        }
        else
        {
            hook!.Leave();
            callerFrame!.SyncThread = savedSyncThread;
            callerFrame.SyncContext = savedSyncContext;
            callerFrame.SyncSubscription = savedSyncSubscription;
        }

        if (results is null && context.Results is { } lazily)
            FillPlainSuccesses(lazily, subscriptions);
        return new ValueTask<EventStatus>(anyFailed ? Summarize(context.Results!, CompletionMode.All) : EventStatus.Completed);
    }

    /// <summary>
    /// A send made by a handler of another inline event on the same frame (its synchronous part, on this thread) went asynchronous:
    /// the frame stays the enclosing event's, which may go asynchronous in turn and take it; two events holding one frame would
    /// restore it out of order when they end. This event becomes the frame of its own dispatch; the continuation of the handler
    /// that went asynchronous sees it through the resume hook it posted to (see <see cref="InlineResumeContext"/>).
    /// </summary>
    private ValueTask<EventStatus> NestedGoneAsync(EventContext context, Route route, CancellationToken token, int index, ValueTask<object?> pending, AmbientFrame caller, int thread, EventContext enclosing, Subscription? enclosingSubscription, Resume resume)
    {
        caller.SyncThread = thread;
        caller.SyncContext = enclosing;
        caller.SyncSubscription = enclosingSubscription;
        return DispatchGeneralAsync(context, route, token, index, framed: false, pending, resume);
    }

    /// <summary>Entries left default by the allocation-free path succeeded plainly.</summary>
    private static void FillPlainSuccesses(HandlerResult[] results, Subscription[] subscriptions)
    {
        for (var i = 0; i < results.Length; i++)
        {
            if (results[i].SubscriptionName is null)
                results[i] = new HandlerResult(subscriptions[i].Name, HandlerStatus.Succeeded, null, null, 1, TimeSpan.Zero);
        }
    }

    /// <summary>A handler the synchronous path left running, and the caller's frame state to restore when the event ends.</summary>
    private readonly record struct Resume(long Start, AmbientFrame? CallerFrame, EventContext? SavedContext, Subscription? SavedSubscription, int Owner, ProcessSpan Span);

    /// <summary>
    /// The general path: policies, parallel tiers, first-wins, and handlers the synchronous path left running.
    /// <c>framed</c>: the synchronous path already made the event the flow's frame; otherwise this method does.
    /// </summary>
    private async ValueTask<EventStatus> DispatchGeneralAsync(EventContext context, Route route, CancellationToken token, int startIndex, bool framed, ValueTask<object?> inFlight, Resume? resume)
    {
        var subscriptions = route.Subscriptions;
        var results = context.EnsureResults(subscriptions);
        var options = context.Options;
        var concurrency = options?.HandlerConcurrency ?? defaults.HandlerConcurrency;
        var completion = options?.Completion ?? defaults.Completion;
        using var run = EventCancellation.Create(stopToken, token, context.Deadline, completion, _time, logger);
        EventStatus status;
        if (!framed)
            Ambient.Enter(context);
        try
        {
            var index = startIndex;
            var succeeded = false;
            if (resume is { } r)
            {
                // Finish the handler the synchronous path left running.
                var subscription = subscriptions[index];
                HandlerResult result;
                try
                {
                    var value = await AwaitAbandonableAsync(inFlight, run.Token, context, subscription).ConfigureAwait(false);
                    result = InFlightSucceeded(context, subscription, r, value);
                }
                catch (Exception ex)
                {
                    result = InFlightFailed(context, subscription, r, ex, run);
                }

                results[index] = result;
                succeeded = result.Status == HandlerStatus.Succeeded;
                index++;
            }

            var tiers = route.TierStarts;
            while (index < subscriptions.Length)
            {
                if (completion == CompletionMode.First && succeeded)
                {
                    MarkSkipped(results, subscriptions, index, subscriptions.Length);
                    break;
                }

                var tierEnd = TierEnd(tiers, subscriptions.Length, index);
                if (concurrency == HandlerConcurrency.Parallel && tierEnd - index > 1)
                {
                    succeeded |= await RunParallelTierAsync(context, subscriptions, results, index, tierEnd, run).ConfigureAwait(false);
                }
                else
                {
                    for (var i = index; i < tierEnd; i++)
                    {
                        if (completion == CompletionMode.First && succeeded)
                        {
                            MarkSkipped(results, subscriptions, i, tierEnd);
                            break;
                        }

                        context.AmbientSubscription = subscriptions[i];
                        results[i] = await InvokeAsync(context, subscriptions[i], run).ConfigureAwait(false);
                        succeeded |= results[i].Status == HandlerStatus.Succeeded;
                        if (succeeded)
                            run.OnSucceeded();
                    }
                }

                index = tierEnd;
            }

            status = Summarize(results, completion);
        }
        catch (Exception ex)
        {
            // Only a bug in the bus lands here: user exceptions are caught per invocation.
            observer.DispatchFaulted(context, ex);
            status = EventStatus.Failed;
        }
        finally
        {
            context.CloseAmbient();
            if (resume is { CallerFrame: { } caller } back)
            {
                caller.Context = back.SavedContext;
                caller.Subscription = back.SavedSubscription;
                caller.OwnerThread = back.Owner;
            }
        }

        return status;
    }

    /// <summary>
    /// Awaits a handler. When <paramref name="token"/> fires, waits up to <see cref="EventBusOptions.CancellationGrace"/>
    /// more for the handler to end (a handler that honours its token ends here, its clean-up done); only a handler still
    /// running after that is abandoned.
    /// </summary>
    private async ValueTask<object?> AwaitAbandonableAsync(ValueTask<object?> pending, CancellationToken token, EventContext context, Subscription subscription)
    {
        if (pending.IsCompleted || !token.CanBeCanceled)
            return await pending.ConfigureAwait(false);
        var task = pending.AsTask();
        try
        {
            return await task.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Cancelled: the grace below decides between a cooperative end and abandonment. The handler may
            // have ended (or faulted) at this very moment, so its task is always awaited or observed below.
        }

        try
        {
            return await task.WaitAsync(defaults.CancellationGrace, s_graceClock).ConfigureAwait(false);
        }
        catch (Exception) when (task.IsCompleted)
        {
            // The handler ended (perhaps just as the grace ran out): its own outcome counts.
            return await task.ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Still running after the grace: stop waiting, and observe its end so no exception goes unobserved.
            observer.HandlerAbandoned(context, subscription);
            _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw new OperationCanceledException(token);
        }
    }

    private static void MarkSkipped(HandlerResult[] results, Subscription[] subscriptions, int from, int to)
    {
        for (var i = from; i < to; i++)
            results[i] = new HandlerResult(subscriptions[i].Name, HandlerStatus.Skipped, null, null, 0, TimeSpan.Zero);
    }

    private static int TierEnd(int[] tierStarts, int count, int index)
    {
        foreach (var start in tierStarts)
        {
            if (start > index)
                return start;
        }

        return count;
    }


    /// <summary>One invocation with filter, once, timeout and retry policies. Never throws.</summary>
    private async ValueTask<HandlerResult> InvokeAsync(EventContext context, Subscription subscription, EventCancellation run)
    {
        if (!subscription.IsActive)
            return new HandlerResult(subscription.Name, HandlerStatus.Skipped, null, null, 0, TimeSpan.Zero);
        if (subscription.Filter is { } filter)
        {
            bool accepted;
            try
            {
                accepted = filter(context.Payload, context);
            }
            catch (Exception ex)
            {
                var failed = new HandlerResult(subscription.Name, HandlerStatus.Failed, null, ex, 0, TimeSpan.Zero);
                observer.HandlerFailed(context, subscription, failed);
                return failed;
            }

            if (!accepted)
                return new HandlerResult(subscription.Name, HandlerStatus.Skipped, null, null, 0, TimeSpan.Zero);
        }

        if (subscription.Once && !subscription.TryConsumeOnce())
            return new HandlerResult(subscription.Name, HandlerStatus.Skipped, null, null, 0, TimeSpan.Zero);
        var timeout = subscription.Timeout ?? context.Options?.HandlerTimeout ?? defaults.HandlerTimeout;
        var start = _time.GetTimestamp();
        HandlerResult result;
        if (run.IsDeadlinePassed)
        {
            result = DeadlinePassed(context, subscription, 0, TimeSpan.Zero);
        }
        else if (run.Reason == CancelReason.Stopping)
        {
            // The stop's drain timeout has passed: a handler not started yet does not start.
            result = new HandlerResult(subscription.Name, HandlerStatus.Cancelled, null, null, 0, TimeSpan.Zero);
        }
        else if (subscription.RetryPipeline is { } pipeline)
        {
            var state = new RetryState(this, context, subscription, run, timeout);
            try
            {
                await pipeline.ExecuteAsync(
                    static async (s, _) =>
                    {
                        if (s.Attempts > 0 && s.Run.IsDeadlinePassed)
                        {
                            // A retry is a start like any other: none after the deadline.
                            s.Last = DeadlinePassed(s.Context, s.Entry, s.Attempts, s.Last.Duration);
                            return;
                        }

                        s.Attempts++;
                        var attemptContext = s.Attempts == 1 ? s.Context : s.Context.CloneForAttempt(s.Context.Attempt + s.Attempts - 1);
                        s.Last = await s.Dispatcher.RunAttemptAsync(attemptContext, s.Entry, s.Run, s.Timeout, s.Attempts).ConfigureAwait(false);
                        if (s.Last.Status is HandlerStatus.Failed or HandlerStatus.TimedOut && s.Last.Exception is { } ex)
                            throw ex;
                    },
                    state,
                    run.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (state.Attempts == 0)
            {
                state.Last = Classify(ex, subscription, run.Token, null, run, 0, TimeSpan.Zero);
            }
            catch (OperationCanceledException ex) when (run.Token.IsCancellationRequested)
            {
                // The token fired during the back-off between attempts: the invocation ends for that
                // reason (Cancelled on stop, TimedOut at the deadline), not with the previous attempt's failure.
                state.Last = Classify(ex, subscription, run.Token, null, run, state.Attempts, state.Last.Duration);
            }
            catch (Exception)
            {
                // The last attempt's result is in state.Last.
            }

            var last = state.Last;
            result = new HandlerResult(subscription.Name, last.Status, last.Value, last.Exception, state.Attempts, _time.GetElapsedTime(start));
        }
        else
        {
            var single = await RunAttemptAsync(context, subscription, run, timeout, 1).ConfigureAwait(false);
            result = new HandlerResult(subscription.Name, single.Status, single.Value, single.Exception, single.Attempts, _time.GetElapsedTime(start));
        }

        if (result.Status == HandlerStatus.Succeeded)
            observer.HandlerSucceeded(context, subscription, result.Duration);
        else if (result.Status != HandlerStatus.Skipped)
            observer.HandlerFailed(context, subscription, result);

        return result;
    }

    private ValueTask<HandlerResult> RunAttemptAsync(EventContext context, Subscription subscription, EventCancellation run, TimeSpan? timeout, int attempt) =>
        BusTracing.IsEnabled ? RunTracedAttemptAsync(context, subscription, run, timeout, attempt) : RunAttemptCoreAsync(context, subscription, run, timeout, attempt);

    private async ValueTask<HandlerResult> RunTracedAttemptAsync(EventContext context, Subscription subscription, EventCancellation run, TimeSpan? timeout, int attempt)
    {
        var span = BusTracing.StartProcess(context, subscription);
        var result = await RunAttemptCoreAsync(context, subscription, run, timeout, attempt).ConfigureAwait(false);
        span.End(result.Status, result.Exception);
        return result;
    }

    private async ValueTask<HandlerResult> RunAttemptCoreAsync(EventContext context, Subscription subscription, EventCancellation run, TimeSpan? timeout, int attempt)
    {
        var eventToken = run.Token;
        var attemptTimeout = timeout is { } limit ? AttemptTimeout.Start(eventToken, limit, _time, logger) : null;
        var token = attemptTimeout?.Token ?? eventToken;

        var start = _time.GetTimestamp();
        var pipeline = middleware?.For(context.Payload.GetType());
        var invocation = pipeline is null ? null : new HandlerInvocation(subscription, context, token);
        try
        {
            ValueTask<object?> pending;
            try
            {
                pending = invocation is not null ? RunPipeline(pipeline!, invocation)
                    : subscription.Blocking ? RunBlocking(subscription, context, token, null)
                    : subscription.InvokeAsync(context.Payload, context, token);
            }
            catch (Exception ex)
            {
                return Classify(ex, subscription, eventToken, attemptTimeout, run, attempt, _time.GetElapsedTime(start), timeout);
            }

            if (pending.IsCompleted || !token.CanBeCanceled)
            {
                try
                {
                    var value = await pending.ConfigureAwait(false);
                    return Ended(subscription, invocation, value, attempt, _time.GetElapsedTime(start));
                }
                catch (Exception ex)
                {
                    return Classify(ex, subscription, eventToken, attemptTimeout, run, attempt, _time.GetElapsedTime(start), timeout);
                }
            }

            try
            {
                var value = await AwaitAbandonableAsync(pending, token, context, subscription).ConfigureAwait(false);
                return Ended(subscription, invocation, value, attempt, _time.GetElapsedTime(start));
            }
            catch (Exception ex)
            {
                return Classify(ex, subscription, eventToken, attemptTimeout, run, attempt, _time.GetElapsedTime(start), timeout);
            }
        }
        finally
        {
            attemptTimeout?.Dispose();
        }
    }

    /// <summary>An attempt that returned normally: succeeded, or skipped when a middleware did not call the handler.</summary>
    private static HandlerResult Ended(Subscription subscription, HandlerInvocation? invocation, object? value, int attempt, TimeSpan elapsed) =>
        invocation is { HandlerCalled: false }
            ? new HandlerResult(subscription.Name, HandlerStatus.Skipped, null, null, attempt, elapsed)
            : new HandlerResult(subscription.Name, HandlerStatus.Succeeded, value, null, attempt, elapsed);

    /// <summary>Runs the middlewares around the handler; the value is the handler's, read once the pipeline has ended.</summary>
    private static ValueTask<object?> RunPipeline(HandlerDelegate pipeline, HandlerInvocation invocation)
    {
        var pending = pipeline(invocation);
        if (pending.IsCompletedSuccessfully)
        {
            pending.GetAwaiter().GetResult();
            return new ValueTask<object?>(invocation.Value);
        }

        return AwaitAsync(pending, invocation);

        static async ValueTask<object?> AwaitAsync(ValueTask pending, HandlerInvocation invocation)
        {
            await pending.ConfigureAwait(false);
            return invocation.Value;
        }
    }

    /// <summary>Runs a <see cref="SubscriptionOptions.Blocking"/> handler on a dedicated thread (with its invocation visible there when middlewares run).</summary>
    internal static ValueTask<object?> RunBlocking(Subscription subscription, EventContext context, CancellationToken token, HandlerInvocation? invocation)
    {
        // A blocking handler gets a dedicated thread so it cannot starve the pool.
        var task = Task.Factory.StartNew(
            static state =>
            {
                var (e, c, t, i) = ((Subscription, EventContext, CancellationToken, HandlerInvocation?))state!;
                return (i is null ? e.InvokeAsync(c.Payload, c, t) : i.InvokeHandler()).AsTask();
            },
            (subscription, context, token, invocation),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default).Unwrap();
        return new ValueTask<object?>(task);
    }
    /// <summary>
    /// Records a handler the synchronous path saw finish (serial or Parallel tier): its span, telemetry and result — a full
    /// result when results are kept or it returned a value, a compact plain success otherwise, a classified failure.
    /// </summary>
    /// <returns>False when the handler failed.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool RecordFinished(EventContext context, Subscription[] subscriptions, int i, ValueTask<object?> pending, ProcessSpan span, TimeSpan elapsed, bool timed, HandlerResult[]? results, bool compact, CancellationToken handlerToken)
    {
        if (!pending.IsCompletedSuccessfully)
            return RecordFailed(context, subscriptions, i, pending, span, elapsed, handlerToken);
        var value = pending.Result;
        span.End(HandlerStatus.Succeeded, null);
        if (timed)
            observer.HandlerSucceeded(context, subscriptions[i], elapsed);
        if (results is not null || value is not null)
            RecordSucceeded(context, subscriptions, i, value, elapsed, results);
        else if (compact)
            context.RecordPlainSuccess(subscriptions, i, elapsed);
        return true;
    }

    // The full-result and failure paths are kept out of the inlined fast path: a HandlerResult is a struct holding references,
    // which the JIT zeroes on entry to every method it is inlined into, on every call, whichever branch runs.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RecordSucceeded(EventContext context, Subscription[] subscriptions, int i, object? value, TimeSpan elapsed, HandlerResult[]? results) =>
        (results ?? context.EnsureResults(subscriptions))[i] = new HandlerResult(subscriptions[i].Name, HandlerStatus.Succeeded, value, null, 1, elapsed);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool RecordFailed(EventContext context, Subscription[] subscriptions, int i, ValueTask<object?> pending, ProcessSpan span, TimeSpan elapsed, CancellationToken handlerToken)
    {
        var subscription = subscriptions[i];
        var result = Classify(GetException(pending), subscription, handlerToken, null, null, 1, elapsed);
        span.End(result.Status, result.Exception);
        context.EnsureResults(subscriptions)[i] = result;
        observer.HandlerFailed(context, subscription, result);
        return false;
    }

    private HandlerResult Classify(Exception exception, Subscription subscription, CancellationToken eventToken, AttemptTimeout? attemptTimeout, EventCancellation? run, int attempt, TimeSpan elapsed, TimeSpan? timeout = null)
    {
        if (exception is OperationCanceledException)
        {
            if (attemptTimeout is { IsCancellationRequested: true } && !eventToken.IsCancellationRequested)
                return new HandlerResult(subscription.Name, HandlerStatus.TimedOut, null, new HandlerTimeoutException($"Handler '{subscription.Name}' exceeded its timeout of {timeout}."), attempt, elapsed);
            if (eventToken.IsCancellationRequested)
            {
                return run?.Reason == CancelReason.Deadline
                    ? new HandlerResult(subscription.Name, HandlerStatus.TimedOut, null, new HandlerTimeoutException($"Handler '{subscription.Name}' was cancelled at the event deadline."), attempt, elapsed)
                    : new HandlerResult(subscription.Name, HandlerStatus.Cancelled, null, exception, attempt, elapsed);
            }
        }

        return new HandlerResult(subscription.Name, HandlerStatus.Failed, null, exception, attempt, elapsed);
    }

    private static HandlerResult DeadlinePassed(EventContext context, Subscription subscription, int attempts, TimeSpan elapsed) =>
        new(subscription.Name, HandlerStatus.TimedOut, null, new HandlerTimeoutException($"The deadline of event '{context.Name}' passed before handler '{subscription.Name}' started (attempt {attempts + 1})."), attempts, elapsed);

    private static Exception GetException(ValueTask<object?> faulted)
    {
        try
        {
            faulted.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            return ex;
        }

        return new InvalidOperationException("The handler faulted without an exception.");
    }

    internal static EventStatus Summarize(HandlerResult[] results, CompletionMode completion)
    {
        bool failed = false, timedOut = false, cancelled = false, succeeded = false;
        foreach (var result in results)
        {
            switch (result.Status)
            {
                case HandlerStatus.Failed: failed = true; break;
                case HandlerStatus.TimedOut: timedOut = true; break;
                case HandlerStatus.Cancelled: cancelled = true; break;
                case HandlerStatus.Succeeded: succeeded = true; break;
            }
        }

        if (completion == CompletionMode.First && succeeded)
            return EventStatus.Completed;
        if (failed)
            return EventStatus.Failed;
        if (timedOut)
            return EventStatus.TimedOut;
        if (cancelled)
            return EventStatus.Cancelled;
        return EventStatus.Completed;
    }

    private sealed class RetryState(EventDispatcher dispatcher, EventContext context, Subscription subscription, EventCancellation run, TimeSpan? timeout)
    {
        public EventDispatcher Dispatcher { get; } = dispatcher;
        public EventContext Context { get; } = context;
        public Subscription Entry { get; } = subscription;
        public EventCancellation Run { get; } = run;
        public TimeSpan? Timeout { get; } = timeout;
        public int Attempts { get; set; }
        public HandlerResult Last { get; set; }
    }
}
