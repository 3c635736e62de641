using System.Collections.Concurrent;

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
