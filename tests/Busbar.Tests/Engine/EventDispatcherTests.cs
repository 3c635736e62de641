using Busbar.Dispatch;

namespace Busbar.Tests.Engine;

/// <summary>
/// The engine on its own: <see cref="Busbar.Engine.EventDispatcher"/> runs a route's handlers and returns the
/// status, built from a router, options and an observer, without <c>EventBus.Create()</c>.
/// </summary>
public class EventDispatcherTests
{
    [Fact]
    public async Task Dispatch_EmptyRoute_ReturnsCompleted()
    {
        using var kit = new EngineTestKit();

        var status = await kit.DispatchAsync(EngineTestKit.Context());

        Assert.Equal(EventStatus.Completed, status);
    }

    [Fact]
    public async Task Dispatch_Tiers_RunHigherPriorityFirstAndReturnCompleted()
    {
        using var kit = new EngineTestKit();
        var order = new List<string>();
        kit.Subscribe("low", (_, _, _) => { order.Add("low"); return default; }, new SubscriptionOptions { Priority = -1 });
        kit.Subscribe("high", (_, _, _) => { order.Add("high"); return default; }, new SubscriptionOptions { Priority = 5 });
        kit.Subscribe("middle", (_, _, _) => { order.Add("middle"); return default; });
        var context = EngineTestKit.Context();

        var status = await kit.DispatchAsync(context);

        Assert.Equal(EventStatus.Completed, status);
        Assert.Equal(["high", "middle", "low"], order);
        Assert.Equal(["high", "middle", "low"], context.Results!.Select(r => r.SubscriptionName));
        Assert.All(context.Results!, r => Assert.Equal(HandlerStatus.Succeeded, r.Status));
    }

    [Fact]
    public async Task Dispatch_ParallelTier_RunsHandlersOfOneTierConcurrently()
    {
        // Each handler waits for the other to start: serial execution would never finish.
        using var kit = new EngineTestKit(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Parallel });
        var aStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var bStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        kit.Subscribe("a", async (_, _, ct) => { aStarted.SetResult(); await bStarted.Task.WaitAsync(ct); });
        kit.Subscribe("b", async (_, _, ct) => { bStarted.SetResult(); await aStarted.Task.WaitAsync(ct); });

        var status = await kit.DispatchAsync(EngineTestKit.Context()).Within();

        Assert.Equal(EventStatus.Completed, status);
    }

    [Fact]
    public async Task Dispatch_ParallelTierHandlerGoesAsync_RestOfTierStartsAndLaterTierWaitsForIt()
    {
        using var kit = new EngineTestKit(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Parallel });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var order = new System.Collections.Concurrent.ConcurrentQueue<string>();
        kit.Subscribe("sync-before", (_, _, _) => { order.Enqueue("sync-before"); return default; }, new SubscriptionOptions { Priority = 1 });
        kit.Subscribe("gated", async (_, _, ct) => { await gate.Task.WaitAsync(ct); order.Enqueue("gated"); }, new SubscriptionOptions { Priority = 1 });
        kit.Subscribe("sync-after", (_, _, _) => { order.Enqueue("sync-after"); return default; }, new SubscriptionOptions { Priority = 1 });
        kit.Subscribe("throws-after", (_, _, _) => throw new InvalidOperationException("boom"), new SubscriptionOptions { Priority = 1 });
        kit.Subscribe("later-tier", (_, _, _) => { order.Enqueue("later-tier"); return default; });
        var context = EngineTestKit.Context();

        var pending = kit.DispatchAsync(context);

        // The handlers after the gated one started while it waits; the later tier waits for the whole tier.
        Assert.False(pending.IsCompleted);
        Assert.Equal(["sync-before", "sync-after"], order);
        gate.SetResult();
        var status = await pending.Within();
        Assert.Equal(EventStatus.Failed, status);
        Assert.Equal(["sync-before", "sync-after", "gated", "later-tier"], order);
        Assert.Equal(["sync-before", "gated", "sync-after", "throws-after", "later-tier"], context.Results!.Select(r => r.SubscriptionName));
        Assert.Equal(
            [HandlerStatus.Succeeded, HandlerStatus.Succeeded, HandlerStatus.Succeeded, HandlerStatus.Failed, HandlerStatus.Succeeded],
            context.Results!.Select(r => r.Status));
        Assert.IsType<InvalidOperationException>(context.Results![3].Exception);
    }

    [Fact]
    public async Task Dispatch_SerialTier_RunsOneHandlerAtATime()
    {
        using var kit = new EngineTestKit(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Serial });
        var running = 0;
        var overlapped = false;
        for (var i = 0; i < 3; i++)
        {
            kit.Subscribe($"h{i}", async (_, _, _) =>
            {
                overlapped |= Interlocked.Increment(ref running) > 1;
                await Task.Yield();
                Interlocked.Decrement(ref running);
            });
        }

        var status = await kit.DispatchAsync(EngineTestKit.Context()).Within();

        Assert.Equal(EventStatus.Completed, status);
        Assert.False(overlapped);
    }

    [Fact]
    public async Task Dispatch_FirstCompletion_SkipsLowerTiersAfterASuccess()
    {
        using var kit = new EngineTestKit(new EventBusOptions { Completion = CompletionMode.First });
        var lowRan = false;
        kit.Subscribe("failing", (_, _, _) => throw new InvalidOperationException("boom"), new SubscriptionOptions { Priority = 2 });
        kit.Subscribe("winner", (_, _, _) => default, new SubscriptionOptions { Priority = 1 });
        kit.Subscribe("low", (_, _, _) => { lowRan = true; return default; });
        var context = EngineTestKit.Context();

        var status = await kit.DispatchAsync(context);

        Assert.Equal(EventStatus.Completed, status);
        Assert.False(lowRan);
        Assert.Equal([HandlerStatus.Failed, HandlerStatus.Succeeded, HandlerStatus.Skipped], context.Results!.Select(r => r.Status));
    }

    [Fact]
    public async Task Dispatch_AllCompletion_AFailureFailsTheEventAndIsReportedNotSettled()
    {
        using var kit = new EngineTestKit();
        var secondRan = false;
        kit.Subscribe("failing", (_, _, _) => throw new InvalidOperationException("boom"), new SubscriptionOptions { Priority = 1 });
        kit.Subscribe("second", (_, _, _) => { secondRan = true; return default; });
        var context = EngineTestKit.Context();

        var status = await kit.DispatchAsync(context);

        // The engine only returns: the failure is in the results and the observer, for the settler to act on.
        Assert.Equal(EventStatus.Failed, status);
        Assert.True(secondRan);
        Assert.False(context.IsCompleted);
        Assert.Equal([("failing", HandlerStatus.Failed)], kit.Observer.Failed);
        Assert.Equal(["second"], kit.Observer.Succeeded);
        Assert.IsType<InvalidOperationException>(context.Results![0].Exception);
    }

    [Fact]
    public async Task Dispatch_HandlerTimeout_EndsAsTimedOut()
    {
        using var kit = new EngineTestKit();
        kit.Subscribe("slow", async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct), new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(20) });
        var context = EngineTestKit.Context();

        var status = await kit.DispatchAsync(context).Within();

        Assert.Equal(EventStatus.TimedOut, status);
        Assert.Equal(HandlerStatus.TimedOut, context.Results![0].Status);
        Assert.IsType<HandlerTimeoutException>(context.Results[0].Exception);
        Assert.Equal([("slow", HandlerStatus.TimedOut)], kit.Observer.Failed);
    }

    [Fact]
    public async Task Dispatch_Retry_SucceedsOnThirdAttemptWithAttemptNumbers()
    {
        using var kit = new EngineTestKit();
        var attempts = new List<int>();
        kit.Subscribe(
            "flaky",
            (_, context, _) =>
            {
                attempts.Add(context.Attempt);
                return attempts.Count < 3 ? throw new InvalidOperationException("not yet") : default;
            },
            new SubscriptionOptions { Retry = RetryPolicy.Constant(3, TimeSpan.FromMilliseconds(1)) });
        var context = EngineTestKit.Context();

        var status = await kit.DispatchAsync(context).Within();

        Assert.Equal(EventStatus.Completed, status);
        Assert.Equal([1, 2, 3], attempts);
        Assert.Equal(3, context.Results![0].Attempts);
        Assert.Empty(kit.Observer.Failed);
    }

    [Fact]
    public async Task Dispatch_RetriesExhausted_ReturnsFailedWithEveryAttemptCounted()
    {
        using var kit = new EngineTestKit();
        kit.Subscribe("broken", (_, _, _) => throw new InvalidOperationException("always"), new SubscriptionOptions { Retry = RetryPolicy.Constant(2, TimeSpan.FromMilliseconds(1)) });
        var context = EngineTestKit.Context();

        var status = await kit.DispatchAsync(context).Within();

        Assert.Equal(EventStatus.Failed, status);
        Assert.Equal(2, context.Results![0].Attempts);
        Assert.Equal([("broken", HandlerStatus.Failed)], kit.Observer.Failed);
    }

    [Fact]
    public async Task Dispatch_CallerToken_ReachesHandlerAndCancelledEndsAsCancelled()
    {
        using var kit = new EngineTestKit();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        kit.Subscribe("waiting", async (_, _, ct) => { started.SetResult(); await Task.Delay(Timeout.Infinite, ct); });
        using var caller = new CancellationTokenSource();

        var pending = kit.DispatchAsync(EngineTestKit.Context(), caller.Token).AsTask();
        await started.Task.Within();
        await caller.CancelAsync();
        var status = await pending.Within();

        Assert.Equal(EventStatus.Cancelled, status);
    }

    [Fact]
    public async Task Dispatch_StopTokenOfTheEngine_CancelsQueuedStyleDispatch()
    {
        using var kit = new EngineTestKit();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        kit.Subscribe("waiting", async (_, _, ct) => { started.SetResult(); await Task.Delay(Timeout.Infinite, ct); });

        var pending = kit.DispatchAsync(EngineTestKit.Context()).AsTask();
        await started.Task.Within();
        kit.Stop();
        var status = await pending.Within();

        Assert.Equal(EventStatus.Cancelled, status);
    }

    [Fact]
    public async Task Dispatch_Once_RunsForOneEventOnly()
    {
        using var kit = new EngineTestKit();
        var runs = 0;
        kit.Subscribe("once", (_, _, _) => { runs++; return default; }, new SubscriptionOptions { Once = true });
        var route = kit.Route();

        var first = await kit.Dispatcher.DispatchAsync(EngineTestKit.Context(1), route, default, null, recordResults: true);
        var second = EngineTestKit.Context(2);
        await kit.Dispatcher.DispatchAsync(second, route, default, null, recordResults: true);

        Assert.Equal(EventStatus.Completed, first);
        Assert.Equal(1, runs);
        Assert.Equal(HandlerStatus.Skipped, second.Results![0].Status);
    }

    [Fact]
    public void EventContext_CreatedWithoutBus_HasOriginPathAndClock()
    {
        var context = EngineTestKit.Context();

        Assert.Null(context.Bus);
        Assert.Equal(["engine-test"], context.Path);
        Assert.NotEqual(default, context.CreatedAt);
        Assert.NotEqual(Guid.Empty, context.EventId);
    }
}
