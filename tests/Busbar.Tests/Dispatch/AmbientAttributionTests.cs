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
