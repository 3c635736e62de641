using System.Collections.Concurrent;
using Busbar.Dispatch;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// Which event and handler a publish made inside a handler is attributed to, where the hot path shares frames:
/// the event is its own frame, and a parallel tier gives a frame of its own only to handlers that go asynchronous.
/// </summary>
public class AmbientAttributionTests
{
    [EventName("attribution.step")]
    public sealed record Step(int N);

    [EventName("attribution.note")]
    public sealed record Note(int N);

    [Fact]
    public async Task SendAsync_FromEachSerialHandlerOfQueuedEvent_ChildListedUnderItsOwnHandler()
    {
        await using var bus = EventBus.Create();
        var children = new ConcurrentDictionary<int, Guid>();
        var causes = new ConcurrentDictionary<int, Guid?>();
        bus.Subscribe<Note>((note, context) =>
        {
            children[note.N] = context.EventId;
            causes[note.N] = context.CausationId;
        });

        // Not async lambdas: a frame derived by the first handler's send stays in the worker's flow when the second runs.
        bus.Subscribe<Step>((_, _, _) => bus.SendAsync(new Note(1)));
        bus.Subscribe<Step>((_, _, _) => bus.SendAsync(new Note(2)));
        var handle = await bus.PublishAsync(new Step(1));
        var outcome = await handle.AsValueTask().Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal([children[1]], outcome.Handlers[0].ChildEventIds);
        Assert.Equal([children[2]], outcome.Handlers[1].ChildEventIds);
        Assert.Equal(handle.EventId, causes[1]);
        Assert.Equal(handle.EventId, causes[2]);
    }

    [Fact]
    public async Task SendAsync_InTheFlowOfAnEndedHandler_AsyncHandlerSeesItsOwnEventAfterTheAwait()
    {
        // The flow a handler's send derived a frame in outlives the handler. A send made there later derives a frame from that
        // closed one, which must not inherit the ended event's closing: before, it was born closed and the new event's
        // continuation saw no event after its await.
        await using var bus = EventBus.Create();
        ExecutionContext? handlerFlow = null;
        bus.Subscribe<Step>(async (_, _, _) =>
        {
            await bus.SendAsync(new Note(0));
            handlerFlow = ExecutionContext.Capture();
        });
        var seen = new ConcurrentQueue<(int N, bool Own)>();
        bus.Subscribe<Note>(async (note, context, _) =>
        {
            await Task.Yield();
            seen.Enqueue((note.N, ReferenceEquals(EventContext.Current, context)));
        });
        (await bus.InvokeAsync(new Step(1)).Within()).ThrowIfFailed();

        for (var n = 1; n <= 20; n++)
        {
            Task? sent = null;
            ExecutionContext.Run(handlerFlow!, state => sent = bus.SendAsync(new Note((int)state!)).AsTask(), n);
            await sent!.Within();
        }

        Assert.Equal(21, seen.Count);
        Assert.All(seen, s => Assert.True(s.Own, $"note {s.N} saw another event than its own after the await"));
    }

    [Fact]
    public async Task ParallelTier_SyncAndAsyncHandlersPublishing_ChildrenListedUnderTheirOwnHandler()
    {
        await using var bus = EventBus.Create(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Parallel });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var children = new ConcurrentDictionary<int, Guid>();
        var current = new ConcurrentDictionary<int, Guid?>();
        bus.Subscribe<Step>(async (_, _, _) =>
        {
            await gate.Task;
            current[1] = EventContext.Current?.EventId;
            children[1] = (await bus.PublishAsync(new Note(1))).EventId;
        });
        bus.Subscribe<Step>((_, _, _) => PublishNow(bus, 2, children));
        bus.Subscribe<Step>(async (_, _, _) =>
        {
            await gate.Task;
            current[3] = EventContext.Current?.EventId;
            children[3] = (await bus.PublishAsync(new Note(3))).EventId;
        });
        bus.Subscribe<Step>((_, _, _) => PublishNow(bus, 4, children));
        bus.Subscribe<Step>((_, _, _) => PublishNow(bus, 5, children));

        var handle = await bus.PublishAsync(new Step(1));
        await TestTimeout.Until(() => children.ContainsKey(2) && children.ContainsKey(4) && children.ContainsKey(5), what: "the synchronous handlers ran");
        gate.SetResult();
        var outcome = await handle.AsValueTask().Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        for (var n = 1; n <= 5; n++)
            Assert.Equal([children[n]], outcome.Handlers[n - 1].ChildEventIds);
        Assert.Equal(handle.EventId, current[1]);
        Assert.Equal(handle.EventId, current[3]);
    }

    [Fact]
    public async Task ParallelTier_HandlerWentAsync_LaterTierStillSeesTheEvent()
    {
        await using var bus = EventBus.Create(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Parallel });
        var seen = new ConcurrentDictionary<string, Guid?>();
        bus.Subscribe<Step>(async (_, _, _) => await Task.Yield(), new SubscriptionOptions { Priority = 1 });
        bus.Subscribe<Step>((_, _) => { }, new SubscriptionOptions { Priority = 1 });
        bus.Subscribe<Step>((_, _, _) => PublishNow(bus, 7, null), new SubscriptionOptions { Priority = 0 });
        bus.Subscribe<Step>((_, _) => seen["later"] = EventContext.Current?.EventId, new SubscriptionOptions { Priority = 0 });

        var handle = await bus.PublishAsync(new Step(1));
        var outcome = await handle.AsValueTask().Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(handle.EventId, seen["later"]);
        Assert.Single(outcome.Handlers[2].ChildEventIds);
        Assert.Empty(outcome.Handlers[3].ChildEventIds);
    }

    /// <summary>The three ways an inline send runs a handler: the plan with a context, the context-free plan, the dispatcher.</summary>
    public enum InlineShape
    {
        ContextHandler,
        ContextFreeHandler,
        DispatcherHandler,
    }

    [Theory]
    [InlineData(InlineShape.ContextHandler)]
    [InlineData(InlineShape.ContextFreeHandler)]
    [InlineData(InlineShape.DispatcherHandler)]
    public async Task SendAsync_AsyncHandlerResumesOnAnotherThread_SeesItsOwnEventAfterTheAwait(InlineShape shape)
    {
        // The handler's continuation may resume on another thread before the send's synchronous part has seen the handler go
        // asynchronous and pointed the caller's frame at the event. Without the resume hook about 1 send in 3,000 saw no event.
        const int sends = 6_000;
        await using var bus = EventBus.Create();
        var wrong = new ConcurrentQueue<(int N, Guid? Expected, Guid? Seen)>();
        var ids = new ConcurrentDictionary<int, Guid>();
        switch (shape)
        {
            case InlineShape.ContextHandler:
                bus.Subscribe<Step>(async (step, context, _) =>
                {
                    await Task.Yield();
                    Check(step.N, context, EventContext.Current);
                });
                break;
            case InlineShape.ContextFreeHandler:
                bus.Subscribe<Step>(async step =>
                {
                    await Task.Yield();
                    var current = EventContext.Current;
                    if (current is null || !ReferenceEquals(current.Event, step))
                        wrong.Enqueue((step.N, null, current?.EventId));
                    else
                        ids[step.N] = current.EventId;
                });
                break;
            default:
                bus.Subscribe<Step>(
                    async (step, context, _) =>
                    {
                        await Task.Yield();
                        Check(step.N, context, EventContext.Current);
                    },
                    new SubscriptionOptions { Filter = static (_, _) => true });
                break;
        }

        bus.Subscribe<Step>(static _ => { });

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var sent = 0;
        while (sent < sends && clock.Elapsed < TestTimeout.Default)
            await bus.SendAsync(new Step(sent++)).AsTask().Within();

        Assert.True(sent > 100, $"only {sent} sends");
        Assert.True(wrong.IsEmpty, $"{shape}: {wrong.Count} of {sent} handlers saw another event after the await, first: {wrong.FirstOrDefault()}");

        void Check(int n, EventContext context, EventContext? current)
        {
            if (!ReferenceEquals(current, context))
                wrong.Enqueue((n, context.EventId, current?.EventId));
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task SendAsync_AsyncHandlerAwaitsNestedSendToAsyncHandler_EachSeesItsOwnEventAndTheCallerNoneAfterwards(bool bySender, bool contextFreeLeaf)
    {
        // Both events go asynchronous on the caller's frame, the nested one first: before, the enclosing event took the frame over
        // the nested one and the two restored it out of order, so the nested handler saw the enclosing event after its await, the
        // enclosing handler saw none after awaiting the nested send, and the caller's flow went on naming an ended event (its next
        // send was caused by it).
        await using var bus = EventBus.Create();
        var wrong = new ConcurrentQueue<string>();
        var nested = 0;
        bus.Subscribe<Step>(async (step, context, _) =>
        {
            var pending = bySender ? bus.GetSender<Note>().SendAsync(new Note(step.N)) : bus.SendAsync(new Note(step.N));
            await pending;
            // Its own event (before, the note, or none), also when the note's end resumes this handler on another thread before the
            // send has handed the step over to the dispatcher.
            if (!ReferenceEquals(EventContext.Current, context))
                wrong.Enqueue($"step {step.N} saw {EventContext.Current?.Event.ToString() ?? "no event"} after its nested send");
        });
        if (contextFreeLeaf)
        {
            bus.Subscribe<Note>(async note =>
            {
                await Task.Yield();
                if (EventContext.Current is not { } current || !ReferenceEquals(current.Event, note) || current.CausationId is null)
                    wrong.Enqueue($"note {note.N} saw {EventContext.Current?.Event} caused by {EventContext.Current?.CausationId}");
                Interlocked.Increment(ref nested);
            });
        }
        else
        {
            bus.Subscribe<Note>(async (note, context, _) =>
            {
                await Task.Yield();
                if (!ReferenceEquals(EventContext.Current, context) || context.CausationId is null)
                    wrong.Enqueue($"note {note.N} saw {EventContext.Current?.Event} caused by {context.CausationId}");
                Interlocked.Increment(ref nested);
            });
        }

        var topLevel = new ConcurrentQueue<Guid?>();
        using var after = bus.Subscribe<Unrelated>((_, context) => topLevel.Enqueue(context.CausationId));
        for (var i = 0; i < 50; i++)
        {
            await bus.SendAsync(new Step(i)).AsTask().Within();
            if (EventContext.Current is { } stale)
                wrong.Enqueue($"the caller saw {stale.Event} after step {i}");
            await bus.SendAsync(new Unrelated(i));
        }

        Assert.Empty(wrong);
        Assert.Equal(50, nested);
        Assert.Equal(Enumerable.Repeat<Guid?>(null, 50), topLevel);
    }

    [EventName("attribution.unrelated")]
    public sealed record Unrelated(int N);

    [Fact]
    public async Task SendAsync_HandlerStartsYieldingWorkAndEndsSynchronously_WorkSeesNoEventAfterwards()
    {
        await using var bus = EventBus.Create();
        using var sendsEnded = new ManualResetEventSlim();
        var late = new TaskCompletionSource<EventContext?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task? leftRunning = null;
        bus.Subscribe<Step>((step, _, _) =>
        {
            if (step.N == 1)
                leftRunning = LeftRunningAsync();
            return ValueTask.CompletedTask;
        });

        await bus.SendAsync(new Step(1));
        await bus.SendAsync(new Step(2));
        sendsEnded.Set();
        await leftRunning!.Within();

        // Started by a handler whose event ended synchronously: it belongs to no event (nor to a later one reusing its context).
        Assert.Null(await late.Task.Within());

        async Task LeftRunningAsync()
        {
            await Task.Yield();
            Assert.True(sendsEnded.Wait(TestTimeout.Default));
            late.SetResult(EventContext.Current);
        }
    }

    [Fact]
    public async Task SendAsync_WorkAnEarlierHandlerLeftAwaiting_SeesNotTheNextSendReusingTheContext()
    {
        // The leftover's await was posted through the resume hook while event 1 ran, so it names event 1's context; the next
        // send must not rent that context again, or the leftover would take event 2 for its own during event 2's handler.
        await using var bus = EventBus.Create();
        using var secondRunning = new ManualResetEventSlim();
        using var leftoverLooked = new ManualResetEventSlim();
        EventContext? seen = null;
        EventContext? second = null;
        Task? leftRunning = null;
        bus.Subscribe<Step>((step, context, _) =>
        {
            if (step.N == 1)
            {
                leftRunning = LeftRunningAsync();
            }
            else
            {
                second = context;
                secondRunning.Set();
                Assert.True(leftoverLooked.Wait(TestTimeout.Default), "the leftover never looked");
            }

            return ValueTask.CompletedTask;
        });

        // Both on this thread and frame with no await between, as a loop of sends would run: the second send rents the context the first returned.
        Assert.True(bus.SendAsync(new Step(1)).IsCompletedSuccessfully);
        Assert.True(bus.SendAsync(new Step(2)).IsCompletedSuccessfully);
        await leftRunning!.Within();

        Assert.NotNull(second);
        Assert.Null(seen);

        async Task LeftRunningAsync()
        {
            await Task.Yield();
            Assert.True(secondRunning.Wait(TestTimeout.Default), "the second send never ran");
            seen = EventContext.Current;
            leftoverLooked.Set();
        }
    }

    [Fact]
    public async Task SendAsync_OnlySynchronousDelegates_NoResumeHookInstalled()
    {
        // Action<T> and Action<T, EventContext> handlers cannot go asynchronous, so their plans skip the hook's cost; a
        // Func handler may, so its plan installs it.
        await using var bus = EventBus.Create();
        var seen = new List<SynchronizationContext?>();
        bus.Subscribe<Step>(_ => seen.Add(SynchronizationContext.Current));
        bus.Subscribe<Step>((_, _) => seen.Add(SynchronizationContext.Current));
        var before = SynchronizationContext.Current;

        Assert.True(bus.SendAsync(new Step(1)).IsCompletedSuccessfully);
        bus.Subscribe<Step>(_ =>
        {
            seen.Add(SynchronizationContext.Current);
            return ValueTask.CompletedTask;
        });
        Assert.True(bus.SendAsync(new Step(2)).IsCompletedSuccessfully);

        Assert.Equal(5, seen.Count);
        Assert.All(seen.Take(2), context => Assert.Same(before, context));
        Assert.All(seen.Skip(2), context => Assert.IsType<InlineResumeContext>(context));
        Assert.Same(before, SynchronizationContext.Current);
    }

    [Fact]
    public async Task SendAsync_AsyncHandler_CallerSynchronizationContextUnchanged()
    {
        await using var bus = EventBus.Create();
        SynchronizationContext? inHandler = null;
        bus.Subscribe<Step>(async (_, _, _) =>
        {
            inHandler = SynchronizationContext.Current;
            await Task.Yield();
        });
        var before = SynchronizationContext.Current;

        // Checked as the send returns to its caller; after the await the caller may resume anywhere (even inside the handler's
        // continuation, which runs under the hook so that a second await of the handler is attributed too).
        var pending = bus.SendAsync(new Step(1));
        var afterSend = SynchronizationContext.Current;
        await pending.AsTask().Within();

        Assert.Same(before, afterSend);
        Assert.IsType<InlineResumeContext>(inHandler);
    }

    /// <summary>A synchronous handler that publishes (there is room, so the publish completes at once).</summary>
    private static ValueTask PublishNow(IEventBus bus, int n, ConcurrentDictionary<int, Guid>? children)
    {
        var pending = bus.PublishAsync(new Note(n));
        Assert.True(pending.IsCompletedSuccessfully);
        if (children is not null)
            children[n] = pending.Result.EventId;
        return ValueTask.CompletedTask;
    }
}
