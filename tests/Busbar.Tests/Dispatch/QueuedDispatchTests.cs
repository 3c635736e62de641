using System.Collections.Concurrent;

namespace Busbar.Tests.Dispatch;

public class QueuedDispatchTests
{
    [Fact]
    public async Task PublishAsync_Serial_KeepsFifoWithRandomHandlerDelays()
    {
        await using var bus = EventBus.Create();
        var seen = new ConcurrentQueue<int>();
        var random = new Random(42);
        var delays = Enumerable.Range(0, 1000).Select(_ => random.Next(0, 3)).ToArray();
        bus.Subscribe<Ping>(async (p, _, ct) =>
        {
            if (delays[p.Value] > 0)
                await Task.Yield();
            seen.Enqueue(p.Value);
        });
        var handles = new List<EventHandle>();
        for (var i = 0; i < 1000; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        await handles[^1].AsValueTask().Within();
        Assert.Equal(Enumerable.Range(0, 1000), seen);
    }

    [Fact]
    public async Task PublishAsync_OrderingKeyWithConcurrency4_PerKeyOrderKept()
    {
        await using var bus = EventBus.Create(new EventBusOptions { MaxConcurrentEvents = 4 });
        var perKey = new ConcurrentDictionary<int, ConcurrentQueue<int>>();
        var active = new ConcurrentDictionary<int, int>();
        var overlapSeen = 0;
        var maxParallel = 0;
        var running = 0;
        bus.Subscribe<Ping>(async (p, ctx, _) =>
        {
            var key = p.Value % 5;
            if (active.AddOrUpdate(key, 1, (_, v) => v + 1) > 1)
                Interlocked.Increment(ref overlapSeen);
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxParallel, now);
            await Task.Yield();
            perKey.GetOrAdd(key, _ => new ConcurrentQueue<int>()).Enqueue(p.Value);
            Interlocked.Decrement(ref running);
            active.AddOrUpdate(key, 0, (_, v) => v - 1);
        });
        var handles = new List<EventHandle>();
        for (var i = 0; i < 500; i++)
            handles.Add(await bus.PublishAsync(new Ping(i), new PublishOptions { OrderingKey = $"k{i % 5}" }));
        foreach (var h in handles)
            await h.AsValueTask().Within();
        Assert.Equal(0, overlapSeen);
        foreach (var (key, values) in perKey)
            Assert.Equal(values.OrderBy(v => v), values);
        Assert.Equal(500, perKey.Values.Sum(q => q.Count));
    }

    [Fact]
    public async Task MaxConcurrentEvents_Above1_EventsOverlap()
    {
        await using var bus = EventBus.Create(new EventBusOptions { MaxConcurrentEvents = 2 });
        using var barrier = new Barrier(2);
        var passed = 0;
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            // Both events must be inside a handler at once for the barrier to open.
            if (await Task.Run(() => barrier.SignalAndWait(TimeSpan.FromSeconds(10)), ct))
                Interlocked.Increment(ref passed);
        });
        var a = await bus.PublishAsync(new Ping(1));
        var b = await bus.PublishAsync(new Ping(2));
        await a.AsValueTask().Within();
        await b.AsValueTask().Within();
        Assert.Equal(2, passed);
    }

    [Fact]
    public async Task PublishAsync_Priority_HigherDequeuedFirstFifoWithin()
    {
        await using var bus = EventBus.Create();
        var gate = new TaskCompletionSource();
        var order = new ConcurrentQueue<int>();
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            if (p.Value == -1)
                await gate.Task;
            else
                order.Enqueue(p.Value);
        });
        var blocker = await bus.PublishAsync(new Ping(-1));
        await TestTimeout.Until(() => blocker.Context.Stage == EventContext.StageRunning);
        var handles = new List<EventHandle>
        {
            await bus.PublishAsync(new Ping(1)),
            await bus.PublishAsync(new Ping(2), new PublishOptions { Priority = 5 }),
            await bus.PublishAsync(new Ping(3), new PublishOptions { Priority = -5 }),
            await bus.PublishAsync(new Ping(4), new PublishOptions { Priority = 5 }),
            await bus.PublishAsync(new Ping(5)),
        };
        gate.SetResult();
        foreach (var h in handles)
            await h.AsValueTask().Within();
        Assert.Equal([2, 4, 1, 5, 3], order);
    }

    private static async Task<(IEventBus Bus, TaskCompletionSource Gate, EventHandle Blocker)> FullBusAsync(BusFullMode mode, int capacity = 2, Action<EventShedArguments>? onShed = null)
    {
        var bus = EventBus.Create(new EventBusOptions { Capacity = capacity, FullMode = mode, OnEventShed = onShed });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            if (p.Value == -1)
                await gate.Task;
        });
        var blocker = await bus.PublishAsync(new Ping(-1));
        await TestTimeout.Until(() => blocker.Context.Stage == EventContext.StageRunning);
        for (var i = 0; i < capacity; i++)
            await bus.PublishAsync(new Ping(i));
        return (bus, gate, blocker);
    }

    [Fact]
    public async Task FullMode_Reject_ThrowsAndCountsAndCallsBack()
    {
        var dropped = new ConcurrentQueue<EventShedArguments>();
        var (bus, gate, _) = await FullBusAsync(BusFullMode.Reject, onShed: dropped.Enqueue);
        await using var _b = bus;
        await Assert.ThrowsAsync<BusFullException>(async () => await bus.PublishAsync(new Ping(100)));
        Assert.Equal(1, bus.GetStatistics().Rejected);
        var arg = Assert.Single(dropped);
        Assert.Equal(EventStatus.Rejected, arg.Status);
        Assert.Equal(EventStatus.Rejected, arg.Context.Status);
        gate.SetResult();
    }

    [Fact]
    public async Task FullMode_DropNewest_HandleCompletesDropped()
    {
        var (bus, gate, _) = await FullBusAsync(BusFullMode.DropNewest);
        await using var _b = bus;
        var handle = await bus.PublishAsync(new Ping(100));
        var outcome = await handle.AsValueTask().Within();
        Assert.Equal(EventStatus.Dropped, outcome.Status);
        Assert.Equal(1, bus.GetStatistics().Dropped);
        gate.SetResult();
    }

    [Fact]
    public async Task FullMode_DropOldest_EvictsOldestQueued()
    {
        var (bus, gate, _) = await FullBusAsync(BusFullMode.DropOldest);
        await using var _b = bus;
        var oldest = bus.History<Ping>((p, _) => p.Value == 0).Single();
        var newest = await bus.PublishAsync(new Ping(100));
        Assert.Equal(EventStatus.Dropped, (await oldest.AsValueTask().Within()).Status);
        gate.SetResult();
        Assert.Equal(EventStatus.Completed, (await newest.AsValueTask().Within()).Status);
        Assert.Equal(1, bus.GetStatistics().Dropped);
    }

    [Fact]
    public async Task FullMode_DropOldest_CallsOnEventShedWithTheEvictedEvent()
    {
        var shed = new ConcurrentQueue<EventShedArguments>();
        var (bus, gate, _) = await FullBusAsync(BusFullMode.DropOldest, onShed: shed.Enqueue);
        await using var _b = bus;
        var oldest = bus.History<Ping>((p, _) => p.Value == 0).Single();
        await bus.PublishAsync(new Ping(100));
        var arg = Assert.Single(shed);
        Assert.Equal(EventStatus.Dropped, arg.Status);
        Assert.Equal(oldest.EventId, arg.Context.EventId);
        gate.SetResult();
    }

    [Theory]
    [InlineData(BusFullMode.DropNewest)]
    [InlineData(BusFullMode.Reject)]
    public async Task StopAsync_AfterShedEvents_ReportsDroppedAndRejectedApartLikeStatistics(BusFullMode mode)
    {
        var (bus, gate, _) = await FullBusAsync(mode);
        await using var _b = bus;
        for (var i = 0; i < 2; i++)
        {
            try
            {
                await bus.PublishAsync(new Ping(100 + i));
            }
            catch (BusFullException)
            {
                // Reject: counted as rejected.
            }
        }

        gate.SetResult();
        var report = await bus.StopAsync();
        var stats = bus.GetStatistics();

        Assert.Equal(mode == BusFullMode.Reject ? 0 : 2, report.Dropped);
        Assert.Equal(mode == BusFullMode.Reject ? 2 : 0, report.Rejected);
        Assert.Equal(stats.Dropped, report.Dropped);
        Assert.Equal(stats.Rejected, report.Rejected);
    }

    [Fact]
    public async Task FullMode_Wait_WaitsForRoomAndIsCancellable()
    {
        var (bus, gate, _) = await FullBusAsync(BusFullMode.Wait);
        await using var _b = bus;
        using var cts = new CancellationTokenSource();
        var waiting = bus.PublishAsync(new Ping(100), cancellationToken: cts.Token).AsTask();
        Assert.False(waiting.IsCompleted);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.Within());
        var second = bus.PublishAsync(new Ping(101)).AsTask();
        Assert.False(second.IsCompleted);
        gate.SetResult();
        var handle = await second.Within();
        Assert.Equal(EventStatus.Completed, (await handle.AsValueTask().Within()).Status);
    }

    [Fact]
    public async Task TryPublish_Full_ReturnsFalseWithoutBlocking()
    {
        var (bus, gate, _) = await FullBusAsync(BusFullMode.Wait);
        await using var _b = bus;
        Assert.False(bus.TryPublish(new Ping(100), out var handle));
        Assert.Equal(EventStatus.Rejected, handle.Status);
        gate.SetResult();
        await TestTimeout.Until(() => bus.GetStatistics().QueueDepth == 0);
        Assert.True(bus.TryPublish(new Ping(101), out var ok));
        Assert.Equal(EventStatus.Completed, (await ok.AsValueTask().Within()).Status);
    }

    [Fact]
    public async Task PublishAsync_HandlerIntoOwnFullBus_DoesNotDeadlock()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 4, FullMode = BusFullMode.Wait });
        var children = 0;
        var overflowRejected = 0;
        bus.Subscribe<Ping>(async (p, _, ct) =>
        {
            if (p.Value >= 0)
            {
                // Fan out far more children than the capacity from inside a handler.
                for (var i = 0; i < 20; i++)
                {
                    try
                    {
                        await bus.PublishAsync(new Ping(-1), cancellationToken: ct);
                    }
                    catch (BusFullException)
                    {
                        overflowRejected++;
                    }
                }
            }
            else
            {
                Interlocked.Increment(ref children);
            }
        });
        var root = await bus.PublishAsync(new Ping(1));
        var outcome = await root.AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        await TestTimeout.Until(() => bus.GetStatistics().InFlight == 0);
        // Up to twice the capacity is admitted; the rest is refused at once instead of waiting.
        Assert.Equal(8, children);
        Assert.Equal(12, overflowRejected);
        Assert.Equal(12, bus.GetStatistics().Rejected);
    }

    [Fact]
    public async Task Subscribe_FromInsideHandler_TakesEffectForLaterEvents()
    {
        await using var bus = EventBus.Create();
        var late = 0;
        ISubscription? added = null;
        var self = 0;
        ISubscription? me = null;
        me = bus.Subscribe<Ping>(p =>
        {
            self++;
            added ??= bus.Subscribe<Ping>(_ => late++);
            me!.Dispose();
        });
        await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        await (await bus.PublishAsync(new Ping(2))).AsValueTask().Within();
        Assert.Equal(1, self);
        Assert.Equal(1, late);
    }

    [Fact]
    public async Task Unsubscribe_BeforeProcessing_HandlerDoesNotRun()
    {
        await using var bus = EventBus.Create();
        var gate = new TaskCompletionSource();
        var ran = 0;
        bus.Subscribe<OrderPlaced>(async (_, _, _) => await gate.Task);
        var sub = bus.Subscribe<Ping>(_ => ran++);
        var blocker = await bus.PublishAsync(new OrderPlaced(1));
        var ping = await bus.PublishAsync(new Ping(1));
        sub.Dispose();
        gate.SetResult();
        await ping.AsValueTask().Within();
        Assert.Equal(0, ran);
        _ = blocker;
    }

    [Fact]
    public async Task SubscribeUnsubscribe_From8ThreadsWhilePublishing_CountsExact()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 100_000 });
        var stable = 0;
        bus.Subscribe<Ping>(_ => Interlocked.Increment(ref stable));
        using var stop = new CancellationTokenSource();
        var churn = Enumerable.Range(0, 8).Select(t => Task.Run(() =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested && n < 2_000)
            {
                using var s = bus.Subscribe<Ping>(_ => { });
                n++;
            }
        })).ToArray();
        var handles = new List<EventHandle>();
        for (var i = 0; i < 5_000; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        await Task.WhenAll(churn).Within();
        stop.Cancel();
        foreach (var h in handles)
            await h.AsValueTask().Within();
        Assert.Equal(5_000, stable);
        Assert.Equal(5_000, bus.GetStatistics().Processed);
    }

    [Fact]
    public async Task Tiers_RunInPriorityOrderAndParallelWithinTier()
    {
        await using var bus = EventBus.Create(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Parallel });
        var log = new ConcurrentQueue<string>();
        using var barrier = new Barrier(3);
        bus.Subscribe<Ping>(_ => log.Enqueue("notify"), new SubscriptionOptions { Priority = 0 });
        for (var i = 0; i < 3; i++)
        {
            var n = i;
            bus.Subscribe<Ping>(async (_, _, ct) =>
            {
                // All three projections must be running at once to pass the barrier.
                await Task.Run(() => Assert.True(barrier.SignalAndWait(TimeSpan.FromSeconds(10))), ct);
                log.Enqueue($"project{n}");
            }, new SubscriptionOptions { Priority = 50 });
        }

        bus.Subscribe<Ping>(_ => log.Enqueue("validate"), new SubscriptionOptions { Priority = 100 });
        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        var entries = log.ToArray();
        Assert.Equal("validate", entries[0]);
        Assert.Equal(["project0", "project1", "project2"], entries[1..4].Order());
        Assert.Equal("notify", entries[4]);
    }

    [Fact]
    public async Task Tiers_SerialByDefault_RegistrationOrder()
    {
        await using var bus = EventBus.Create();
        var log = new ConcurrentQueue<int>();
        for (var i = 0; i < 5; i++)
        {
            var n = i;
            bus.Subscribe<Ping>(async (_, _, _) =>
            {
                await Task.Yield();
                log.Enqueue(n);
            });
        }

        await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        Assert.Equal([0, 1, 2, 3, 4], log);
    }

    [Fact]
    public async Task PublishOptions_HandlerConcurrencyOverride_RunsParallel()
    {
        await using var bus = EventBus.Create();
        using var barrier = new Barrier(2);
        for (var i = 0; i < 2; i++)
            bus.Subscribe<Ping>(async (_, _, ct) => await Task.Run(() => Assert.True(barrier.SignalAndWait(TimeSpan.FromSeconds(10))), ct));
        var outcome = await (await bus.PublishAsync(new Ping(1), new PublishOptions { HandlerConcurrency = HandlerConcurrency.Parallel })).AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
    }

    [Fact]
    public async Task Completion_First_FirstSuccessWinsOthersCancelled()
    {
        await using var bus = EventBus.Create(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Parallel, Completion = CompletionMode.First });
        var slowCancelled = new TaskCompletionSource<bool>();
        bus.Subscribe<Ping, string>(async (_, _, ct) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
                return "slow";
            }
            catch (OperationCanceledException)
            {
                slowCancelled.SetResult(true);
                throw;
            }
        });
        bus.Subscribe<Ping, string>((_, _, _) => new ValueTask<string>("fast"));
        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal("fast", outcome.FirstResult<string>());
        Assert.True(await slowCancelled.Task.Within());
        Assert.Equal(HandlerStatus.Cancelled, outcome.Handlers[0].Status);
    }

    [Fact]
    public async Task Completion_FirstSerial_SkipsAfterFirstSuccess()
    {
        await using var bus = EventBus.Create();
        var ran = new List<int>();
        bus.Subscribe<Ping, int>((_, _, _) => throw new InvalidOperationException("first fails"));
        bus.Subscribe<Ping, int>((_, _, _) => { ran.Add(2); return new ValueTask<int>(2); });
        bus.Subscribe<Ping, int>((_, _, _) => { ran.Add(3); return new ValueTask<int>(3); });
        var outcome = await (await bus.PublishAsync(new Ping(1), new PublishOptions { Completion = CompletionMode.First })).AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal([2], ran);
        Assert.Equal(HandlerStatus.Skipped, outcome.Handlers[2].Status);
    }

    [Fact]
    public async Task Errors_ThrowingHandlers_Isolated()
    {
        await using var bus = EventBus.Create();
        var after = 0;
        bus.Subscribe<Ping>((_, _, _) => throw new InvalidOperationException("sync throw"));
        bus.Subscribe<Ping>(async (_, _, _) =>
        {
            await Task.Yield();
            throw new ArgumentException("async throw");
        });
        bus.Subscribe<Ping>(_ => after++);
        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        Assert.Equal(EventStatus.Failed, outcome.Status);
        Assert.Equal(1, after);
        Assert.IsType<InvalidOperationException>(outcome.Handlers[0].Exception);
        Assert.IsType<ArgumentException>(outcome.Handlers[1].Exception);
        Assert.Equal(HandlerStatus.Succeeded, outcome.Handlers[2].Status);
        var aggregate = Assert.Throws<AggregateException>(() => outcome.ThrowIfFailed());
        Assert.Equal(2, aggregate.InnerExceptions.Count);

        // The bus goes on.
        var next = await (await bus.PublishAsync(new Ping(2))).AsValueTask().Within();
        Assert.Equal(2, after);
        Assert.Equal(EventStatus.Failed, next.Status);
    }

    [Fact]
    public async Task ThrowIfFailed_OneFailure_RethrowsOriginal()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping>((_, _, _) => throw new FormatException("original"));
        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        var ex = Assert.Throws<FormatException>(() => outcome.ThrowIfFailed());
        Assert.Equal("original", ex.Message);
    }

    [Fact]
    public async Task Results_CollectsValuesInHandlerOrder()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping, int>((p, _, _) => new ValueTask<int>(p.Value * 2));
        bus.Subscribe<Ping, int>(async (p, _, _) =>
        {
            await Task.Yield();
            return p.Value * 3;
        });
        bus.Subscribe<Ping, string>((p, _, _) => new ValueTask<string>("x"));
        var outcome = await (await bus.PublishAsync(new Ping(5))).AsValueTask().Within();
        Assert.Equal([10, 15], outcome.Results<int>());
        Assert.Equal(10, outcome.FirstResult<int>());
        Assert.Equal("x", outcome.FirstResult<string>());
        Assert.Throws<InvalidOperationException>(() => outcome.FirstResult<Guid>());
        Assert.All(outcome.Handlers, h => Assert.Equal(1, h.Attempts));
    }

    [Fact]
    public async Task SyncHandler_NeverRunsOnPublisherThread()
    {
        await using var bus = EventBus.Create();
        var handlerThread = new TaskCompletionSource<int>();
        bus.Subscribe<Ping>(_ => handlerThread.TrySetResult(Environment.CurrentManagedThreadId));
        var publisherThread = Environment.CurrentManagedThreadId;
        var handle = await bus.PublishAsync(new Ping(1));
        var thread = await handlerThread.Task.Within();
        Assert.NotEqual(publisherThread, thread);
        await handle.AsValueTask().Within();
    }

    [Fact]
    public async Task BlockingHandler_RunsOnDedicatedThread()
    {
        await using var bus = EventBus.Create();
        var pool = new TaskCompletionSource<bool>();
        bus.Subscribe<Ping>(_ => pool.TrySetResult(Thread.CurrentThread.IsThreadPoolThread), new SubscriptionOptions { Blocking = true });
        await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        Assert.False(await pool.Task.Within());
    }

    [Fact]
    public async Task Once_HandlerRunsOnlyOnce()
    {
        await using var bus = EventBus.Create();
        var count = 0;
        var sub = bus.Subscribe<Ping>(_ => count++, new SubscriptionOptions { Once = true });
        for (var i = 0; i < 3; i++)
            await (await bus.PublishAsync(new Ping(i))).AsValueTask().Within();
        Assert.Equal(1, count);
        Assert.False(sub.IsActive);
    }

    [Fact]
    public async Task Filter_DeclinedEventsSkipHandler()
    {
        await using var bus = EventBus.Create();
        var seen = new List<int>();
        bus.Subscribe<Ping>(p => seen.Add(p.Value), new SubscriptionOptions { Filter = (e, _) => ((Ping)e).Value % 2 == 0 });
        for (var i = 0; i < 4; i++)
            await (await bus.PublishAsync(new Ping(i))).AsValueTask().Within();
        Assert.Equal([0, 2], seen);
    }

    [Fact]
    public async Task Options_Invalid_ErrorNamesOption()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => EventBus.Create(new EventBusOptions { Capacity = 0 }));
        Assert.Contains("EventBusOptions.Capacity", ex.Message, StringComparison.Ordinal);
        await using var bus = EventBus.Create();
        var sub = Assert.Throws<ArgumentOutOfRangeException>(() => bus.Subscribe<Ping>(_ => { }, new SubscriptionOptions { Retry = new RetryPolicy { MaxAttempts = 0 } }));
        Assert.Contains("RetryPolicy.MaxAttempts", sub.Message, StringComparison.Ordinal);
        var pub = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await bus.PublishAsync(new Ping(1), new PublishOptions { DeadlineAfter = TimeSpan.Zero }));
        Assert.Contains("PublishOptions.DeadlineAfter", pub.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PublishAsync_Null_Throws()
    {
        await using var bus = EventBus.Create();
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await bus.PublishAsync<Ping>(null!));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
