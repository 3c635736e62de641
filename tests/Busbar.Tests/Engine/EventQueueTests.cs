using Busbar.Dispatch;

namespace Busbar.Tests.Engine;

/// <summary><see cref="EventQueue"/> on its own: priorities, capacity, ordering keys, queue jumps and closing.</summary>
public class EventQueueTests
{
    private static EventContext Event(int value, int priority = 0, string? key = null)
    {
        var context = EngineTestKit.Context(value);
        context.Priority = priority;
        context.OrderingKey = key;
        return context;
    }

    private static int ValueOf(EventContext context) => ((Ping)context.Event).Value;

    [Fact]
    public void TryDequeue_HigherPriorityFirst_FifoWithinPriority()
    {
        var inFlight = new InFlightCounter();
        var queue = new EventQueue(10, workers: 1, inFlight);
        foreach (var (value, priority) in new[] { (1, 0), (2, 5), (3, 0), (4, 5), (5, -1) })
            Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(value, priority), 10, dropOldest: false, out _));

        var order = new List<int>();
        while (queue.TryDequeue(out var next))
            order.Add(ValueOf(next));

        Assert.Equal([2, 4, 1, 3, 5], order);
        Assert.Equal(5, inFlight.Value);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void TryEnqueue_AtLimit_FullOrEvictsOldestLowestPriority()
    {
        var queue = new EventQueue(2, workers: 1, new InFlightCounter());
        var oldLow = Event(1, priority: -1);
        queue.TryEnqueue(oldLow, 2, dropOldest: false, out _);
        queue.TryEnqueue(Event(2, priority: 3), 2, dropOldest: false, out _);

        Assert.Equal(EnqueueResult.Full, queue.TryEnqueue(Event(3), 2, dropOldest: false, out var none));
        Assert.Null(none);
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(4), 2, dropOldest: true, out var evicted));
        Assert.Same(oldLow, evicted);
        Assert.Equal(2, queue.Count);
    }

    [Fact]
    public void OrderingKey_HeldUntilReleased_ThenTheKeysNextEventIsHandedToTheHolder()
    {
        var queue = new EventQueue(10, workers: 2, new InFlightCounter());
        queue.TryEnqueue(Event(1, key: "k"), 10, dropOldest: false, out _);
        queue.TryEnqueue(Event(2, key: "k"), 10, dropOldest: false, out _);
        queue.TryEnqueue(Event(3), 10, dropOldest: false, out _);

        Assert.True(queue.TryDequeue(out var first));
        Assert.True(queue.TryDequeue(out var other));
        Assert.False(queue.TryDequeue(out _)); // event 2 waits behind its key's holder

        var next = queue.ReleaseKey("k");
        Assert.Equal(1, ValueOf(first));
        Assert.Equal(3, ValueOf(other));
        Assert.NotNull(next);
        Assert.Equal(2, ValueOf(next));
        Assert.Null(queue.ReleaseKey("k"));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void TryRemove_QueuedEvent_ClaimsItOnce()
    {
        var queue = new EventQueue(10, workers: 1, new InFlightCounter());
        var context = Event(1);
        queue.TryEnqueue(context, 10, dropOldest: false, out _);

        Assert.True(queue.TryRemove(context));
        Assert.False(queue.TryRemove(context));
        Assert.False(queue.TryDequeue(out _));
        Assert.Equal(EventContext.StageRunning, context.Stage);
    }

    [Fact]
    public async Task Close_RefusesNewEvents_TakeAllHandsOverTheQueued_ReadersEnd()
    {
        var queue = new EventQueue(10, workers: 2, new InFlightCounter());
        queue.TryEnqueue(Event(1, key: "k"), 10, dropOldest: false, out _);
        queue.TryEnqueue(Event(2, key: "k"), 10, dropOldest: false, out _);
        Assert.True(queue.TryDequeue(out _));

        queue.Close();

        Assert.Equal(EnqueueResult.Closed, queue.TryEnqueue(Event(3), 10, dropOldest: false, out _));
        var taken = queue.TakeAll();
        Assert.Equal([2], taken.Select(ValueOf));
        Assert.False(await queue.WaitToReadAsync(new ReadWaiter()).Within());
    }
}
