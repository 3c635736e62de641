using System.Collections.Concurrent;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// The queue's promises where features meet: ordering keys and backpressure, stop and ordering keys,
/// queue jumps and the queue's count, counters and completion, children and refusals, publishes and stop.
/// </summary>
public class QueueGuaranteeTests
{
    private static PublishOptions Key(string key) => new() { OrderingKey = key };

    // ---------------------------------------------------------------- ordering keys keep the queue bounded

    [Fact]
    public async Task OrderingKey_HotKeyUnderWait_QueueStaysBounded()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 20, FullMode = BusFullMode.Wait, MaxConcurrentEvents = 4 });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new ConcurrentQueue<int>();
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            await gate.Task;
            seen.Enqueue(p.Value);
        });

        var admitted = 0;
        var handles = new ConcurrentQueue<EventHandle>();
        var publisher = Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                handles.Enqueue(await bus.PublishAsync(new Ping(i), Key("hot")));
                Interlocked.Increment(ref admitted);
            }
        });

        // One event runs (it holds the key), 20 wait in the queue behind it, the publisher waits for room.
        await TestTimeout.Until(() => publisher.IsCompleted || (bus.GetStatistics().QueueDepth == 20 && Volatile.Read(ref admitted) == 21), what: "queue full");
        Assert.False(publisher.IsCompleted, $"all 200 publishes returned into a queue of 20 (depth {bus.GetStatistics().QueueDepth})");
        var stats = bus.GetStatistics();
        Assert.Equal(20, stats.QueueDepth);
        Assert.Equal(21, stats.InFlight);

        gate.SetResult();
        await publisher.Within();
        foreach (var handle in handles)
            Assert.Equal(EventStatus.Completed, (await handle.AsValueTask().Within()).Status);
        Assert.Equal(Enumerable.Range(0, 200), seen);
    }

    [Fact]
    public async Task OrderingKey_HotKeyUnderReject_AdmitsOnlyCapacity()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 20, FullMode = BusFullMode.Reject, MaxConcurrentEvents = 4 });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (_, _, _) =>
        {
            started.TrySetResult();
            await gate.Task;
        });
        Assert.True(bus.TryPublish(new Ping(0), out var first, Key("hot")));
        await started.Task.Within();

        var admitted = 0;
        for (var i = 1; i <= 1_000; i++)
        {
            if (bus.TryPublish(new Ping(i), out _, Key("hot")))
                admitted++;
        }

        Assert.Equal(20, admitted);
        var stats = bus.GetStatistics();
        Assert.Equal(20, stats.QueueDepth);
        Assert.Equal(980, stats.Rejected);
        gate.SetResult();
        await first.AsValueTask().Within();
    }

    [Fact]
    public async Task OrderingKey_BehindBusyKeyUnderDropOldest_OldestDropped()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 5, FullMode = BusFullMode.DropOldest, MaxConcurrentEvents = 2 });
        var (gate, seen, handles) = await FillBehindBusyKeyAsync(bus);
        for (var i = 5; i <= 10; i++)
            handles.Add(await bus.PublishAsync(new Ping(i), Key("k")));

        for (var i = 1; i <= 5; i++)
            Assert.Equal(EventStatus.Dropped, handles[i].Status);
        Assert.Equal(5, bus.GetStatistics().QueueDepth);
        gate.SetResult();
        foreach (var handle in handles)
            await handle.AsValueTask().Within();
        Assert.Equal([0, 6, 7, 8, 9, 10], seen);
        Assert.Equal(5, bus.GetStatistics().Dropped);
    }

    [Fact]
    public async Task OrderingKey_BehindBusyKeyUnderDropNewest_NewestDropped()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 5, FullMode = BusFullMode.DropNewest, MaxConcurrentEvents = 2 });
        var (gate, seen, handles) = await FillBehindBusyKeyAsync(bus);
        for (var i = 5; i <= 10; i++)
            handles.Add(await bus.PublishAsync(new Ping(i), Key("k")));

        for (var i = 6; i <= 10; i++)
            Assert.Equal(EventStatus.Dropped, handles[i].Status);
        Assert.Equal(5, bus.GetStatistics().QueueDepth);
        gate.SetResult();
        foreach (var handle in handles)
            await handle.AsValueTask().Within();
        Assert.Equal([0, 1, 2, 3, 4, 5], seen);
    }

    /// <summary>
    /// Event 0 of key "k" runs and blocks; events 1-4 of "k" wait behind it. A keyless probe, handled by
    /// the idle worker after it has seen events 1-4, proves that worker did not take them out of the queue.
    /// </summary>
    private static async Task<(TaskCompletionSource Gate, ConcurrentQueue<int> Seen, List<EventHandle> Handles)> FillBehindBusyKeyAsync(IEventBus bus)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new ConcurrentQueue<int>();
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            started.TrySetResult();
            await gate.Task;
            seen.Enqueue(p.Value);
        });
        bus.Subscribe<OrderPlaced>(_ => { });
        var handles = new List<EventHandle> { await bus.PublishAsync(new Ping(0), Key("k")) };
        await started.Task.Within();
        for (var i = 1; i <= 4; i++)
            handles.Add(await bus.PublishAsync(new Ping(i), Key("k")));
        await (await bus.PublishAsync(new OrderPlaced(0))).AsValueTask().Within();
        Assert.Equal(4, bus.GetStatistics().QueueDepth);
        return (gate, seen, handles);
    }

    [Fact]
    public async Task OrderingKey_BusyKey_IdleWorkersRunOtherEvents()
    {
        // A queue full of one busy key does not stop the other workers: events of other keys and
        // keyless events admitted later still run while the key is held.
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 10, FullMode = BusFullMode.Reject, MaxConcurrentEvents = 3 });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var hotStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (p, ctx, _) =>
        {
            if (ctx.OrderingKey == "hot")
            {
                hotStarted.TrySetResult();
                await gate.Task;
            }
        });
        var hot = new List<EventHandle> { await bus.PublishAsync(new Ping(0), Key("hot")) };
        await hotStarted.Task.Within();
        for (var i = 1; i <= 5; i++)
            hot.Add(await bus.PublishAsync(new Ping(i), Key("hot")));

        var cold = await bus.PublishAsync(new Ping(100), Key("cold"));
        var keyless = await bus.PublishAsync(new Ping(101));
        Assert.Equal(EventStatus.Completed, (await cold.AsValueTask().Within()).Status);
        Assert.Equal(EventStatus.Completed, (await keyless.AsValueTask().Within()).Status);
        Assert.Equal(5, bus.GetStatistics().QueueDepth);
        gate.SetResult();
        foreach (var handle in hot)
            await handle.AsValueTask().Within();
        Assert.Equal(0, bus.GetStatistics().QueueDepth);
    }

    // ---------------------------------------------------------------- stop cancels what has not started

    [Fact]
    public async Task StopAsync_DrainTimeoutBehindBusyKey_NotStartedEventsCancelledWithoutRunning()
    {
        var bus = EventBus.Create(new EventBusOptions { MaxConcurrentEvents = 2 });
        var ran = new ConcurrentQueue<int>();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (p, _, ct) =>
        {
            ran.Enqueue(p.Value);
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        var handles = new List<EventHandle> { await bus.PublishAsync(new Ping(0), Key("k")) };
        await started.Task.Within();
        for (var i = 1; i <= 3; i++)
            handles.Add(await bus.PublishAsync(new Ping(i), Key("k")));

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(50)).Within();
        await bus.DisposeAsync();

        Assert.Equal([0], ran);
        foreach (var handle in handles)
            Assert.Equal(EventStatus.Cancelled, (await handle.AsValueTask().Within()).Status);
        for (var i = 1; i <= 3; i++)
            Assert.DoesNotContain((await handles[i].AsValueTask().Within()).Handlers, h => h.Attempts > 0);
        Assert.Equal(4, report.Cancelled);
        Assert.Equal(0, report.Drained);
        Assert.False(report.Completed);
    }

    [Fact]
    public async Task StopAsync_DrainTimeoutDuringFirstHandler_LaterSerialHandlerDoesNotStart()
    {
        var bus = EventBus.Create();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondRan = false;
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }, new SubscriptionOptions { Name = "first", Priority = 1 });
        bus.Subscribe<Ping>(_ => secondRan = true, new SubscriptionOptions { Name = "second" });
        var handle = await bus.PublishAsync(new Ping(1));
        await started.Task.Within();

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(20)).Within();
        var outcome = await handle.AsValueTask().Within();
        await bus.DisposeAsync();

        Assert.False(secondRan);
        Assert.Equal(EventStatus.Cancelled, outcome.Status);
        Assert.Equal(HandlerStatus.Cancelled, outcome.Handlers[1].Status);
        Assert.Equal(0, outcome.Handlers[1].Attempts);
        Assert.Equal(1, report.Cancelled);
    }

    // ---------------------------------------------------------------- a queue jump frees the slot

    [Fact]
    public async Task QueueJump_AwaitedChildren_LeaveTheQueueCount()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 2, FullMode = BusFullMode.Reject });
        var childrenDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            var a = await bus.PublishAsync(new OrderPlaced(1), cancellationToken: ct);
            var b = await bus.PublishAsync(new OrderPlaced(2), cancellationToken: ct);
            await a;
            await b;
            childrenDone.SetResult();
            await gate.Task;
        });
        bus.Subscribe<OrderPlaced>(_ => { });
        var parent = await bus.PublishAsync(new Ping(1));
        await childrenDone.Task.Within();

        var stats = bus.GetStatistics();
        Assert.Equal(0, stats.QueueDepth);
        Assert.Equal(1, stats.InFlight);
        Assert.True(bus.TryPublish(new OrderShipped(3), out var outside));
        gate.SetResult();
        Assert.Equal(EventStatus.Completed, (await parent.AsValueTask().Within()).Status);
        await outside.AsValueTask().Within();
    }

    [Fact]
    public async Task QueueJump_PublishAndAwaitInLoop_NeverFillsTheQueue()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 1, FullMode = BusFullMode.Reject });
        var childrenSeen = 0;
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            for (var i = 0; i < 5; i++)
                await await bus.PublishAsync(new OrderPlaced(i), cancellationToken: ct);
        });
        bus.Subscribe<OrderPlaced>(_ => Interlocked.Increment(ref childrenSeen));
        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(5, childrenSeen);
        Assert.Equal(5, outcome.ChildEventIds.Count);
        Assert.Equal(0, bus.GetStatistics().Rejected);
    }

    [Fact]
    public async Task QueueJump_KeyedChildBehindBusyKey_RunsAndLeavesTheCount()
    {
        // The parent holds key "k"; its child shares the key and waits behind it. Awaiting the child
        // runs it at once (anything else would deadlock) and takes it out of the queue's count.
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 4, MaxConcurrentEvents = 2 });
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            var child = await bus.PublishAsync(new OrderPlaced(1), Key("k"), ct);
            Assert.Equal(1, bus.GetStatistics().QueueDepth);
            await child;
            Assert.Equal(0, bus.GetStatistics().QueueDepth);
        });
        bus.Subscribe<OrderPlaced>(_ => { });
        var outcome = await (await bus.PublishAsync(new Ping(1), Key("k"))).AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(0, bus.GetStatistics().InFlight);
    }

    // ---------------------------------------------------------------- counters before completion

    [Fact]
    public async Task Statistics_ReadAsSoonAsHandleCompletes_AlreadyCountTheEvent()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping>(_ => { });
        for (var i = 1; i <= 2_000; i++)
        {
            var handle = await bus.PublishAsync(new Ping(i));
            var spins = 0;
            while (!handle.IsCompleted && spins++ < 50_000_000)
                Thread.SpinWait(1);
            var stats = bus.GetStatistics();
            Assert.True(handle.IsCompleted);
            Assert.True(stats.Processed == i && stats.InFlight == 0, $"event {i}: processed {stats.Processed}, in flight {stats.InFlight}");
        }

        for (var i = 1; i <= 200; i++)
        {
            await await bus.PublishAsync(new Ping(i));
            var stats = bus.GetStatistics();
            Assert.Equal(0, stats.InFlight);
            Assert.Equal(2_000 + i, stats.Processed);
            Assert.Equal(2_000 + i, stats.Completed);
        }
    }

    // ---------------------------------------------------------------- children are events that were published

    [Fact]
    public async Task ChildEventIds_ChildRefusedWithBusFull_NotListed()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 1, FullMode = BusFullMode.Reject });
        var admitted = new ConcurrentQueue<Guid>();
        var refused = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            for (var i = 0; i < 4; i++)
            {
                try
                {
                    admitted.Enqueue((await bus.PublishAsync(new OrderPlaced(i), cancellationToken: ct)).EventId);
                }
                catch (BusFullException)
                {
                    refused++;
                }
            }
        });
        bus.Subscribe<OrderPlaced>(async (_, _, _) => await gate.Task);
        var parent = await bus.PublishAsync(new Ping(1));
        await TestTimeout.Until(() => parent.IsCompleted);
        var outcome = await parent.AsValueTask().Within();
        gate.SetResult();

        Assert.Equal(2, admitted.Count);
        Assert.Equal(2, refused);
        Assert.Equal(admitted.ToHashSet(), outcome.ChildEventIds.ToHashSet());
        Assert.Equal(admitted.ToHashSet(), outcome.Handlers[0].ChildEventIds.ToHashSet());
    }

    [Fact]
    public async Task PublishBatchAsync_StoppedPartWay_EveryEventCountedInOneOutcome()
    {
        var bus = EventBus.Create(new EventBusOptions { Capacity = 1, FullMode = BusFullMode.Wait });
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        var running = await bus.PublishAsync(new Ping(0));
        await started.Task.Within();

        // One event fits; the batch then waits for room until the stop ends the wait.
        var batch = bus.PublishBatchAsync(Enumerable.Range(1, 4).Select(i => new Ping(i))).AsTask();
        await TestTimeout.Until(() => bus.GetStatistics().Published == 5 && bus.GetStatistics().QueueDepth == 1);
        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(20)).Within();
        await Assert.ThrowsAsync<BusStoppedException>(() => batch).Within();

        var stats = bus.GetStatistics();
        Assert.Equal(5, stats.Published);
        Assert.Equal(2, stats.Cancelled);
        Assert.Equal(3, stats.Rejected);
        Assert.Equal(stats.Published, stats.Processed + stats.Dropped + stats.Rejected);
        Assert.Equal(2, report.Cancelled);
        Assert.Equal(EventStatus.Cancelled, running.Status);
        await bus.DisposeAsync();
    }

    // ---------------------------------------------------------------- accounting when a publish races a stop

    [Fact]
    public async Task PublishAsync_RacingStop_EveryPublishCountedInOneOutcome()
    {
        var mismatches = new List<string>();
        for (var round = 0; round < 20; round++)
        {
            var bus = EventBus.Create(new EventBusOptions { Capacity = 64, FullMode = BusFullMode.Reject, MaxConcurrentEvents = 2 });
            bus.Subscribe<Ping>(_ => { });
            var running = new CountdownEvent(2);
            var publishers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            {
                running.Signal();
                for (var i = 0; i < 1_000_000; i++)
                {
                    try
                    {
                        bus.TryPublish(new Ping(i), out var _);
                    }
                    catch (BusStoppedException)
                    {
                        return;
                    }
                }
            })).ToArray();
            running.Wait(TestTimeout.Token());
            await TestTimeout.Until(() => bus.GetStatistics().Published > 200);
            await bus.StopAsync().Within();
            await Task.WhenAll(publishers).Within();
            var stats = bus.GetStatistics();
            if (stats.Published != stats.Processed + stats.Dropped + stats.Rejected)
                mismatches.Add($"round {round}: published {stats.Published}, processed {stats.Processed}, dropped {stats.Dropped}, rejected {stats.Rejected}");
            await bus.DisposeAsync();
        }

        Assert.Empty(mismatches);
    }
}
