using Busbar.Dispatch;

namespace Busbar.Tests.Dispatch;

/// <summary>The queue on its own: ordering-key lines, removal from anywhere, and the counts.</summary>
public sealed class EventQueueTests : IAsyncDisposable
{
    private readonly InProcessEventBus _bus = (InProcessEventBus)EventBus.Create();
    private readonly InFlightCounter _inFlight = new();

    public async ValueTask DisposeAsync() => await _bus.DisposeAsync();

    private EventContext Event(int id, string? key = null, int priority = 0) =>
        new(_bus, new Ping(id), "test.ping") { OrderingKey = key, Priority = priority };

    private static int IdOf(EventContext context) => ((Ping)context.Payload).Value;

    [Fact]
    public void TryDequeue_KeyHeld_LaterEventsOfTheKeyWaitUntilReleased()
    {
        var queue = new EventQueue(10, workers: 2, _inFlight);
        foreach (var context in new[] { Event(1, "k"), Event(2, "k"), Event(3), Event(4, "k", priority: 5) })
            Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(context, 10, dropOldest: false, out _));

        Assert.True(queue.TryDequeue(out var first));
        Assert.Equal(1, IdOf(first));
        Assert.True(queue.TryDequeue(out var keyless));
        Assert.Equal(3, IdOf(keyless));
        Assert.False(queue.TryDequeue(out _));
        Assert.Equal(2, queue.Count);
        Assert.Equal((2, 4L), queue.ReadCounts());

        // The key's line is in admission order, whatever the priorities.
        Assert.Equal(2, IdOf(queue.ReleaseKey("k")!));
        Assert.Equal(4, IdOf(queue.ReleaseKey("k")!));
        Assert.Null(queue.ReleaseKey("k"));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void TryRemove_KeysFirstReadyEvent_NextOfTheKeyBecomesReady()
    {
        var queue = new EventQueue(10, workers: 2, _inFlight);
        var first = Event(1, "k");
        queue.TryEnqueue(first, 10, dropOldest: false, out _);
        queue.TryEnqueue(Event(2, "k"), 10, dropOldest: false, out _);

        Assert.True(queue.TryRemove(first));
        Assert.False(queue.TryRemove(first));
        Assert.Equal(EventContext.StageRunning, first.Stage);
        Assert.True(queue.TryDequeue(out var next));
        Assert.Equal(2, IdOf(next));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void TryEnqueue_DropOldestWithFullKeyLine_EvictsOldestOfLowestPriority()
    {
        var queue = new EventQueue(3, workers: 2, _inFlight);
        queue.TryEnqueue(Event(1, "k"), 3, dropOldest: false, out _);
        Assert.True(queue.TryDequeue(out _)); // "k" is held
        queue.TryEnqueue(Event(2, "k", priority: 1), 3, dropOldest: false, out _);
        queue.TryEnqueue(Event(3, "k"), 3, dropOldest: false, out _);
        queue.TryEnqueue(Event(4, "k"), 3, dropOldest: false, out _);

        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(5, "k"), 3, dropOldest: true, out var evicted));
        Assert.Equal(3, IdOf(evicted!));
        Assert.Equal(EventContext.StageRunning, evicted!.Stage);
        Assert.Equal(3, queue.Count);
        Assert.Equal([2, 4, 5], [IdOf(queue.ReleaseKey("k")!), IdOf(queue.ReleaseKey("k")!), IdOf(queue.ReleaseKey("k")!)]);
    }

    [Fact]
    public void TryRemove_KeysFirstReadyEvent_NextOfTheKeyTakesItsAdmissionPlace()
    {
        // The ready list stays in admission order, so its head is the oldest ready event (what DropOldest evicts).
        var queue = new EventQueue(10, workers: 2, _inFlight);
        var first = Event(1, "k");
        queue.TryEnqueue(first, 10, dropOldest: false, out _);
        queue.TryEnqueue(Event(2, "k"), 10, dropOldest: false, out _);
        queue.TryEnqueue(Event(3), 10, dropOldest: false, out _);

        Assert.True(queue.TryRemove(first));

        Assert.True(queue.TryDequeue(out var next));
        Assert.Equal(2, IdOf(next));
        Assert.True(queue.TryDequeue(out var after));
        Assert.Equal(3, IdOf(after));
    }

    [Fact]
    public void TryEnqueue_DropOldestWithReadyAndWaitingEvents_EvictsTheOldestWhereverItWaits()
    {
        var queue = new EventQueue(3, workers: 2, _inFlight);
        queue.TryEnqueue(Event(1, "k"), 3, dropOldest: false, out _);
        Assert.True(queue.TryDequeue(out _)); // "k" is held
        queue.TryEnqueue(Event(2, "k"), 3, dropOldest: false, out _);
        queue.TryEnqueue(Event(3), 3, dropOldest: false, out _);
        queue.TryEnqueue(Event(4, "k"), 3, dropOldest: false, out _);

        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(5), 3, dropOldest: true, out var waiting));
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(6), 3, dropOldest: true, out var ready));

        Assert.Equal(2, IdOf(waiting!));
        Assert.Equal(3, IdOf(ready!));
        Assert.Equal(3, queue.Count);
        Assert.Equal(4, IdOf(queue.ReleaseKey("k")!));
        Assert.True(queue.TryDequeue(out var fifth));
        Assert.True(queue.TryDequeue(out var sixth));
        Assert.Equal([5, 6], [IdOf(fifth), IdOf(sixth)]);
    }

    [Fact]
    public void TakeAll_EventsOfSeveralLevelsAndLines_ReturnsThemInAdmissionOrder()
    {
        var queue = new EventQueue(10, workers: 2, _inFlight);
        queue.TryEnqueue(Event(1, "k"), 10, dropOldest: false, out _);
        Assert.True(queue.TryDequeue(out _));
        foreach (var context in new[] { Event(2, "k"), Event(3, priority: 2), Event(4), Event(5, "k", priority: -1), Event(6, priority: 2) })
            queue.TryEnqueue(context, 10, dropOldest: false, out _);

        Assert.Equal([2, 3, 4, 5, 6], queue.TakeAll().Select(IdOf));
    }

    [Fact]
    public async Task TakeAll_EventsReadyAndInKeyLines_TakesEveryOneAndEndsReaders()
    {
        var queue = new EventQueue(10, workers: 2, _inFlight);
        foreach (var context in new[] { Event(1, "k"), Event(2, "k"), Event(3), Event(4, "j", priority: -1) })
            queue.TryEnqueue(context, 10, dropOldest: false, out _);
        Assert.True(queue.TryDequeue(out _));
        queue.Close();

        var all = queue.TakeAll();
        Assert.Equal([2, 3, 4], all.Select(IdOf).Order());
        Assert.All(all, c => Assert.Equal(EventContext.StageRunning, c.Stage));
        Assert.Equal(0, queue.Count);
        Assert.False(await queue.WaitToReadAsync(new ReadWaiter()));
        Assert.Null(queue.ReleaseKey("k"));
    }

    [Fact]
    public async Task WaitToReadAsync_WorkerReusingItsWaiter_AllocatesNothingPerWaitAndWakesOnEveryAdmission()
    {
        // Before: a completion source per wait (88 B) when the worker had caught up with its publishers.
        var queue = new EventQueue(10, workers: 1, _inFlight);
        var waiter = new ReadWaiter();
        var events = Enumerable.Range(0, 50).Select(i => Event(i)).ToArray();
        var most = 0L;
        for (var i = 0; i < events.Length; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var pending = queue.WaitToReadAsync(waiter);
            var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            if (i > 0)
                most = Math.Max(most, bytes);
            Assert.False(pending.IsCompleted);
            Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(events[i], 10, dropOldest: false, out _));
            Assert.True(await pending.AsTask().Within());
            Assert.True(queue.TryDequeue(out var taken));
            Assert.Same(events[i], taken);
        }

        Assert.Equal(0, most);
    }

    [Fact]
    public async Task WaitToReadAsync_TwoWorkersWaitingAndOneEvent_BothWokenOneTakesItTheOtherWaitsAgainUntilClose()
    {
        var queue = new EventQueue(10, workers: 1, _inFlight);
        var (a, b) = (new ReadWaiter(), new ReadWaiter());
        var waitA = queue.WaitToReadAsync(a).AsTask();
        var waitB = queue.WaitToReadAsync(b).AsTask();
        queue.TryEnqueue(Event(1), 10, dropOldest: false, out _);
        Assert.True(await waitA.Within());
        Assert.True(await waitB.Within());
        Assert.True(queue.TryDequeue(out _));
        Assert.False(queue.TryDequeue(out _));

        var again = queue.WaitToReadAsync(b).AsTask();
        Assert.False(again.IsCompleted);
        queue.Close();
        Assert.False(await again.Within());
        Assert.False(await queue.WaitToReadAsync(a));
    }

    [Fact]
    public async Task Push_QueueClosedAfterThePlaceWasReserved_EventTakenBackStillInFlightAndNoWorkerStranded()
    {
        // The publisher reserved its place, then the stop closed the queue and the idle worker ended (nothing ready) before
        // the push: the push must see the close and take the event back, or nobody would ever run or end it.
        var queue = new EventQueue(10, workers: 1, _inFlight);
        var late = Event(1);
        Assert.True(queue.TryReservePlace(10));
        queue.Close();
        Assert.False(await queue.WaitToReadAsync(new ReadWaiter()));

        Assert.Equal(EnqueueResult.ClosedWhileAdmitting, queue.Push(late));
        Assert.Equal(EventContext.StageRunning, late.Stage); // claimed by the take-back, for the caller to end
        Assert.Equal(0, queue.Count);
        Assert.Equal(1L, _inFlight.Value); // the caller counts it out once it has ended it
        Assert.False(queue.TryDequeue(out _));
        Assert.Empty(queue.TakeAll());
    }

    [Fact]
    public void Push_QueueClosedAfterAWorkerTookTheEvent_StaysAdmittedForTheDrain()
    {
        // Two events reserved before the close; the first is pushed and taken by a worker draining the closed queue. The
        // second's push sees the close but is still queued: it is taken back. The first, already taken, runs as admitted.
        var queue = new EventQueue(10, workers: 1, _inFlight);
        var (first, second) = (Event(1), Event(2));
        Assert.True(queue.TryReservePlace(10));
        Assert.True(queue.TryReservePlace(10));
        Assert.Equal(EnqueueResult.Admitted, queue.Push(first));
        queue.Close();
        Assert.True(queue.TryDequeue(out var taken));
        Assert.Same(first, taken);
        Assert.Equal(EnqueueResult.ClosedWhileAdmitting, queue.Push(second));
        Assert.Equal(0, queue.Count);
        Assert.Equal(2L, _inFlight.Value);
    }

    [Fact]
    public async Task Push_WorkerListedAfterThePlaceWasReserved_PushWakesIt()
    {
        // The worker lists itself while an event is on its way in (its place reserved, not pushed yet): the push sees the
        // listed worker and wakes it; the worker then takes the event.
        var queue = new EventQueue(10, workers: 1, _inFlight);
        var waiter = new ReadWaiter();
        Assert.True(queue.TryReservePlace(10));
        var pending = queue.WaitToReadAsync(waiter).AsTask();
        Assert.False(pending.IsCompleted);
        Assert.Equal(1, queue.WaitingReaders);

        Assert.Equal(EnqueueResult.Admitted, queue.Push(Event(7)));
        Assert.True(await pending.Within());
        Assert.Equal(0, queue.WaitingReaders);
        Assert.True(queue.TryDequeue(out var taken));
        Assert.Equal(7, IdOf(taken));
    }

    [Fact]
    public void TryEnqueue_EventsPushedWithoutTheLockThenOnesAdmittedUnderIt_TakenInAdmissionOrderAndCounted()
    {
        // Pushed events wait on the intake until an operation under the lock takes them in, in push order, before its own.
        var queue = new EventQueue(3, workers: 2, _inFlight);
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(1, "k"), 3, dropOldest: false, out _));
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(2), 3, dropOldest: false, out _));
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(3, "k"), 3, dropOldest: false, out _));
        Assert.Equal(3, queue.Count);
        Assert.False(queue.TryReservePlace(3)); // full: nothing counted
        Assert.Equal((3, 3L), queue.ReadCounts());

        // Full: DropOldest evicts under the lock, after taking the intake in, so the oldest is the first pushed.
        var fourth = Event(4);
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(fourth, 3, dropOldest: true, out var evicted));
        Assert.Equal(1, IdOf(evicted!));
        Assert.Equal([2, 3, 4], [.. Enumerable.Range(0, 3).Select(_ => queue.TryDequeue(out var c) ? IdOf(c) : -1)]);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void TryDequeue_NormalEventOnTheIntakeAndALowerPriorityOneInTheLists_NormalFirst()
    {
        // A worker takes the intake in only when no normal-priority event is ready in the lists: a lower-priority event
        // ready there must not go ahead of the normal ones still on the intake.
        var queue = new EventQueue(10, workers: 1, _inFlight);
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(1), 10, dropOldest: false, out _));
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(2, priority: -1), 10, dropOldest: false, out _)); // under the lock
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(3), 10, dropOldest: false, out _)); // on the intake
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(4, priority: 1), 10, dropOldest: false, out _));
        Assert.Equal([4, 1, 3, 2], [.. Enumerable.Range(0, 4).Select(_ => queue.TryDequeue(out var c) ? IdOf(c) : -1)]);
    }

    [Fact]
    public void TryReservePlace_FullAsThePublishersLastSawIt_LooksAtTheTakesAgainAndAdmits()
    {
        // Publishers check for room against the takes they last saw; a queue that was full when they last looked has room
        // once a worker took events, and the next publish sees it.
        var queue = new EventQueue(2, workers: 1, _inFlight);
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(1), 2, dropOldest: false, out _));
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(2), 2, dropOldest: false, out _));
        Assert.Equal(EnqueueResult.Full, queue.TryEnqueue(Event(3), 2, dropOldest: false, out _));
        Assert.True(queue.TryDequeue(out _));
        Assert.True(queue.TryDequeue(out _));
        Assert.Equal(0, queue.Count);

        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(4), 2, dropOldest: false, out _));
        Assert.Equal(EnqueueResult.Admitted, queue.TryEnqueue(Event(5), 2, dropOldest: false, out _));
        Assert.Equal(EnqueueResult.Full, queue.TryEnqueue(Event(6), 2, dropOldest: false, out _));
        Assert.Equal((2, 4L), queue.ReadCounts());
    }
}
