using Busbar.Diagnostics;
using Busbar.Dispatch;
using Busbar.Routing;

namespace Busbar.Engine;

/// <summary>The Parallel tier: handlers of one priority tier run concurrently.</summary>
/// <remarks>
/// A handler starts on the dispatching thread and runs until its first await, so a tier of handlers that complete
/// synchronously runs one after the other on that thread and costs what a serial tier costs: no ambient frame, no state
/// machine, no join. Concurrency is paid for only by handlers that go asynchronous: the first one turns the event
/// into an asynchronous dispatch that starts the rest of the tier while it runs, then waits for all of them.
/// </remarks>
internal sealed partial class EventDispatcher
{
    /// <summary>
    /// Dispatches an event whose handlers run in parallel tiers. For an event that is its own ambient frame (queued,
    /// <c>InvokeAsync</c>, re-drives), without policies (no timeout, retry, filter, deadline, middleware) and with
    /// <see cref="CompletionMode.All"/>, the handlers start inline as on the serial synchronous path until one goes
    /// asynchronous; anything else (an inline send, which shares its caller's frame, included) takes the general path.
    /// </summary>
    private ValueTask<EventStatus> DispatchParallelAsync(EventContext context, Route route, CancellationToken token, AmbientFrame? callerFrame, bool recordResults, CompletionMode completion)
    {
        var options = context.Options;
        var inline = callerFrame is null
            && completion == CompletionMode.All
            && route.AllSimple
            && context.Deadline is null
            && (options?.HandlerTimeout ?? defaults.HandlerTimeout) is null
            && (middleware is null || middleware.For(context.Payload.GetType()) is null);
        if (!inline)
            return DispatchGeneralAsync(context, route, token, 0, framed: false, default, null);

        var subscriptions = route.Subscriptions;
        // As on the serial path, plain successes are kept compactly until something else needs the full results.
        var compact = recordResults && context.Results is null && ReferenceEquals(context.Route, route);
        var results = recordResults && !compact ? context.EnsureResults(subscriptions) : null;
        // An inline caller's token reaches the handlers as is; queued events get the bus's stop token.
        var handlerToken = token.CanBeCanceled ? token : stopToken;
        Ambient.Enter(context);
        var anyFailed = false;

        // As on the serial path: queued events time every handler, inline sends only when a listener wants durations.
        var timed = recordResults || BusMetrics.DurationEnabled;
        var start = timed ? _time.GetTimestamp() : 0;
        for (var i = 0; i < subscriptions.Length; i++)
        {
            var subscription = subscriptions[i];
            if (!subscription.IsActive)
            {
                if (recordResults)
                    (results = context.EnsureResults(subscriptions))[i] = new HandlerResult(subscription.Name, HandlerStatus.Skipped, null, null, 0, TimeSpan.Zero);
                continue;
            }

            // Until a handler goes asynchronous the tier runs on this thread, so each handler runs under the event's
            // frame pointed at it, exactly as a serial handler does (see Ambient).
            context.AmbientSubscription = subscription;

            var span = BusTracing.StartProcess(context, subscription);
            ValueTask<object?> pending;
            try
            {
                pending = subscription.InvokeAsync(context.Payload, context, handlerToken);
            }
            catch (Exception ex)
            {
                pending = ValueTask.FromException<object?>(ex);
            }

            if (!pending.IsCompleted)
            {
                span.Detach();
                // The handler keeps the event as its frame, still naming it, until it ends. The last handler of its tier
                // has nobody to run beside: the general path waits for it, then runs the later tiers (in parallel).
                // Otherwise the rest of the tier starts now, while it runs.
                var resume = new Resume(timed ? start : _time.GetTimestamp(), null, null, null, 0, span);
                return i + 1 < TierEnd(route.TierStarts, subscriptions.Length, i)
                    ? ContinueParallelTierAsync(context, route, token, i, pending, resume)
                    : DispatchGeneralAsync(context, route, token, i, framed: true, pending, resume);
            }

            var end = timed ? _time.GetTimestamp() : 0;
            var elapsed = timed ? _time.GetElapsedTime(start, end) : TimeSpan.Zero;
            start = end;
            if (!RecordFinished(context, subscriptions, i, pending, span, elapsed, timed, results, compact, handlerToken))
                anyFailed = true;
        }

        context.CloseAmbient();
        if (results is null && context.Results is { } lazily)
            FillPlainSuccesses(lazily, subscriptions);
        return new ValueTask<EventStatus>(anyFailed ? Summarize(context.Results!, CompletionMode.All) : EventStatus.Completed);
    }

    /// <summary>
    /// Handler <paramref name="index"/> of a parallel tier went asynchronous: starts the rest of its tier while it runs,
    /// waits for the tier, then runs the later tiers. The handlers before it completed synchronously.
    /// </summary>
    private async ValueTask<EventStatus> ContinueParallelTierAsync(EventContext context, Route route, CancellationToken token, int index, ValueTask<object?> inFlight, Resume resume)
    {
        var subscriptions = route.Subscriptions;
        var results = context.EnsureResults(subscriptions);
        // The synchronous start kept only failures and values when results were not recorded; the rest succeeded plainly.
        for (var i = 0; i < index; i++)
        {
            if (results[i].SubscriptionName is null)
                results[i] = new HandlerResult(subscriptions[i].Name, HandlerStatus.Succeeded, null, null, 1, TimeSpan.Zero);
        }

        using var run = EventCancellation.Create(stopToken, token, null, CompletionMode.All, _time, logger);
        EventStatus status;
        try
        {
            var tierEnd = TierEnd(route.TierStarts, subscriptions.Length, index);
            // The handler in flight holds the event as its frame: the event's end closes it, not the handler's.
            List<(int Index, ValueTask<HandlerResult> Pending)> running = [(index, FinishInFlightAsync(context, subscriptions[index], inFlight, resume, run))];
            await RunParallelTierAsync(context, subscriptions, results, index + 1, tierEnd, run, running).ConfigureAwait(false);
            for (index = tierEnd; index < subscriptions.Length; index = tierEnd)
            {
                tierEnd = TierEnd(route.TierStarts, subscriptions.Length, index);
                if (tierEnd - index > 1)
                {
                    await RunParallelTierAsync(context, subscriptions, results, index, tierEnd, run).ConfigureAwait(false);
                }
                else
                {
                    context.AmbientSubscription = subscriptions[index];
                    results[index] = await InvokeAsync(context, subscriptions[index], run).ConfigureAwait(false);
                }
            }

            status = Summarize(results, CompletionMode.All);
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
        }

        return status;
    }

    /// <summary>Waits for a handler the synchronous start left running and records its outcome. Never throws.</summary>
    private async ValueTask<HandlerResult> FinishInFlightAsync(EventContext context, Subscription subscription, ValueTask<object?> inFlight, Resume resume, EventCancellation run)
    {
        try
        {
            var value = await AwaitAbandonableAsync(inFlight, run.Token, context, subscription).ConfigureAwait(false);
            return InFlightSucceeded(context, subscription, resume, value);
        }
        catch (Exception ex)
        {
            return InFlightFailed(context, subscription, resume, ex, run);
        }
    }

    /// <summary>Records the success of a handler the synchronous path left running: its result, span and telemetry.</summary>
    private HandlerResult InFlightSucceeded(EventContext context, Subscription subscription, Resume resume, object? value)
    {
        var elapsed = _time.GetElapsedTime(resume.Start);
        resume.Span.End(HandlerStatus.Succeeded, null);
        observer.HandlerSucceeded(context, subscription, elapsed);
        return new HandlerResult(subscription.Name, HandlerStatus.Succeeded, value, null, 1, elapsed);
    }

    /// <summary>Classifies and records the failure of a handler the synchronous path left running.</summary>
    private HandlerResult InFlightFailed(EventContext context, Subscription subscription, Resume resume, Exception exception, EventCancellation run)
    {
        var result = Classify(exception, subscription, run.Token, null, run, 1, _time.GetElapsedTime(resume.Start));
        resume.Span.End(result.Status, result.Exception);
        observer.HandlerFailed(context, subscription, result);
        return result;
    }

    /// <summary>
    /// Runs a parallel tier: each handler starts on this thread and runs until its first await, then the tier waits for
    /// the ones that went asynchronous. Returns whether any succeeded.
    /// </summary>
    /// <remarks>
    /// A handler that completes synchronously costs no frame and no state machine: it runs under the tier's current
    /// frame (the event itself at first), pointed at it, as a serial handler does. A handler that goes asynchronous
    /// keeps the frame it started under, which names it until it ends, so the handlers after it start under a fresh
    /// frame; such a frame closes when the handler holding it ends. Work a synchronous handler left running holds the
    /// frame it ran under, so it is attributed to whichever handler that frame names then, as in a serial tier.
    /// </remarks>
    private ValueTask<bool> RunParallelTierAsync(EventContext context, Subscription[] subscriptions, HandlerResult[] results, int start, int end, EventCancellation run, List<(int Index, ValueTask<HandlerResult> Pending)>? running = null)
    {
        var succeeded = false;
        AmbientFrame? frame = null;
        for (var i = start; i < end; i++)
        {
            var subscription = subscriptions[i];
            if (running is not null && running[^1].Index == i - 1)
            {
                // The previous handler went asynchronous keeping the current frame: this one starts under a new one.
                frame = Ambient.Install(context, subscription);
            }
            else if (frame is null)
            {
                context.AmbientSubscription = subscription;
            }
            else
            {
                frame.Subscription = subscription;
            }

            var pending = InvokeAsync(context, subscription, run);
            if (pending.IsCompleted)
            {
                results[i] = pending.Result;
                if (results[i].Status == HandlerStatus.Succeeded)
                {
                    succeeded = true;
                    run.OnSucceeded();
                }

                continue;
            }

            // It keeps the frame it started under until it ends.
            (running ??= []).Add((i, AwaitParallelAsync(pending, frame, run)));
        }

        if (running is null)
            return new ValueTask<bool>(succeeded);
        if (frame is not null)
        {
            // A frame installed for later handlers stays in this flow: the event is its frame again for the next
            // tier. The last such frame is held by no running handler unless the tier's last handler went asynchronous.
            Ambient.Enter(context);
            if (running[^1].Index != end - 1)
                frame.Close();
        }

        return AwaitTierAsync(results, running, succeeded);
    }

    private static async ValueTask<bool> AwaitTierAsync(HandlerResult[] results, List<(int Index, ValueTask<HandlerResult> Pending)> running, bool succeeded)
    {
        foreach (var (index, pending) in running)
        {
            results[index] = await pending.ConfigureAwait(false);
            succeeded |= results[index].Status == HandlerStatus.Succeeded;
        }

        return succeeded;
    }

    /// <summary>Waits for a parallel handler that went asynchronous; reports its success at once (first-wins) and closes the frame it holds.</summary>
    private static async ValueTask<HandlerResult> AwaitParallelAsync(ValueTask<HandlerResult> pending, AmbientFrame? frame, EventCancellation run)
    {
        try
        {
            var result = await pending.ConfigureAwait(false);
            if (result.Status == HandlerStatus.Succeeded)
                run.OnSucceeded();
            return result;
        }
        finally
        {
            frame?.Close();
        }
    }
}
