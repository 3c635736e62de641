using System.Collections.Concurrent;

namespace Busbar.Tests.Dispatch;

public class LifecycleTests
{
    [Fact]
    public async Task StopAsync_DrainsQueuedWork()
    {
        var bus = EventBus.Create();
        var handled = 0;
        bus.Subscribe<Ping>(async (_, _, _) =>
        {
            await Task.Yield();
            Interlocked.Increment(ref handled);
        });
        var handles = new List<EventHandle>();
        for (var i = 0; i < 200; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        var report = await bus.StopAsync(TimeSpan.FromSeconds(10)).Within();
        Assert.True(report.Completed);
        Assert.Equal(200, handled);
        Assert.Equal(0, report.Cancelled);
        Assert.All(handles, h => Assert.Equal(EventStatus.Completed, h.Status));
        await Assert.ThrowsAsync<BusStoppedException>(async () => await bus.PublishAsync(new Ping(1)));
        Assert.Throws<BusStoppedException>(() => bus.TryPublish(new Ping(1), out _));
    }

    [Fact]
    public async Task StopAsync_DrainTimeout_CancelsRunningAndQueued_NoHandlePending()
    {
        var bus = EventBus.Create();
        var cancelledSeen = 0;
        var started = new TaskCompletionSource();
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            started.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref cancelledSeen);
                throw;
            }
        });
        var handles = new List<EventHandle>();
        for (var i = 0; i < 10; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        await started.Task.Within();
        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(100)).Within();
        Assert.False(report.Completed);
        Assert.Equal(10, report.Cancelled);
        await TestTimeout.Until(() => Volatile.Read(ref cancelledSeen) == 1);
        foreach (var h in handles)
            Assert.Equal(EventStatus.Cancelled, (await h.AsValueTask().Within()).Status);
    }

    [Fact]
    public async Task StopAsync_HandlerIgnoringToken_AbandonedAndHandleCompletes()
    {
        var bus = EventBus.Create();
        var release = new TaskCompletionSource();
        bus.Subscribe<Ping>(async (_, _, _) => await release.Task);
        var handle = await bus.PublishAsync(new Ping(1));
        await TestTimeout.Until(() => handle.Context.Stage == EventContext.StageRunning);
        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(50)).Within();
        Assert.Equal(1, report.Cancelled);
        Assert.Equal(EventStatus.Cancelled, (await handle.AsValueTask().Within()).Status);
        release.SetResult();
    }

    [Fact]
    public async Task StopAsync_Idempotent_SameReport()
    {
        var bus = EventBus.Create();
        var first = bus.StopAsync();
        var second = bus.StopAsync();
        Assert.Same(await first.Within(), await second.Within());
        await bus.DisposeAsync();
    }

    [Fact]
    public async Task StopAsync_UnderLoad_EveryHandleCompletes()
    {
        var bus = EventBus.Create(new EventBusOptions { Capacity = 1_000, MaxConcurrentEvents = 2 });
        bus.Subscribe<Ping>(async (p, _, ct) =>
        {
            if (p.Value % 3 == 0)
                await Task.Delay(1, ct);
        });
        var handles = new ConcurrentBag<EventHandle>();
        var publishers = Enumerable.Range(0, 4).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < 2_000; i++)
            {
                try
                {
                    handles.Add(await bus.PublishAsync(new Ping(i)));
                }
                catch (BusStoppedException)
                {
                    return;
                }
            }
        })).ToArray();
        await TestTimeout.Until(() => handles.Count > 500);
        await bus.StopAsync(TimeSpan.FromMilliseconds(20)).Within();
        await Task.WhenAll(publishers).Within();
        foreach (var handle in handles)
        {
            var outcome = await handle.AsValueTask().Within(TimeSpan.FromSeconds(5));
            Assert.True(outcome.Status is EventStatus.Completed or EventStatus.Cancelled, outcome.Status.ToString());
        }
    }

    [Fact]
    public async Task Stress_4PublishersWithChurn_AccountingExact()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 1_000, FullMode = BusFullMode.DropOldest, MaxConcurrentEvents = 2 });
        var handled = 0L;
        bus.Subscribe<Ping>(_ => Interlocked.Increment(ref handled));
        using var done = new CancellationTokenSource();
        var churn = Task.Run(() =>
        {
            var random = new Random(7);
            var live = new List<ISubscription>();
            for (var i = 0; i < 20_000 && !done.IsCancellationRequested; i++)
            {
                if (live.Count > 0 && random.Next(2) == 0)
                {
                    var index = random.Next(live.Count);
                    live[index].Dispose();
                    live.RemoveAt(index);
                }
                else
                {
                    live.Add(bus.Subscribe<Ping>(_ => { }));
                }
            }
        });
        var rejected = 0L;
        var handles = new ConcurrentQueue<EventHandle>();
        var publishers = Enumerable.Range(0, 4).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < 50_000; i++)
            {
                if (i % 3 == 0)
                {
                    if (!bus.TryPublish(new Ping(i), out var h))
                        Interlocked.Increment(ref rejected);
                    handles.Enqueue(h);
                }
                else
                {
                    handles.Enqueue(await bus.PublishAsync(new Ping(i)));
                }
            }
        })).ToArray();
        await Task.WhenAll(publishers).Within(TimeSpan.FromSeconds(60));
        done.Cancel();
        await churn.Within();
        long completed = 0, dropped = 0, refused = 0;
        foreach (var h in handles)
        {
            var status = (await h.AsValueTask().Within()).Status;
            switch (status)
            {
                case EventStatus.Completed: completed++; break;
                case EventStatus.Dropped: dropped++; break;
                case EventStatus.Rejected: refused++; break;
                default: Assert.Fail($"unexpected {status}"); break;
            }
        }

        var stats = bus.GetStatistics();
        Assert.Equal(200_000, stats.Published);
        Assert.Equal(stats.Published, completed + dropped + refused);
        Assert.Equal(completed, Interlocked.Read(ref handled));
        Assert.Equal(stats.Dropped, dropped);
        Assert.Equal(stats.Rejected, refused);
        Assert.Equal(rejected, refused);
    }

    [Fact]
    public async Task SendAsync_WarmSynchronousHandlers_AllocatesNothing()
    {
        await using var bus = EventBus.Create();
        var sum = 0;
        for (var i = 0; i < 8; i++)
            bus.Subscribe<Ping>((p, _, _) =>
            {
                sum += p.Value;
                return ValueTask.CompletedTask;
            });
        var ping = new Ping(1);
        for (var i = 0; i < 100; i++)
            await bus.SendAsync(ping);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
            await bus.SendAsync(ping);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(8 * 1_100, sum);
    }

    [Fact]
    public async Task SendAsync_HandlerFails_AllRunThenThrowsOriginal()
    {
        await using var bus = EventBus.Create();
        var ran = 0;
        bus.Subscribe<Ping>((_, _, _) => throw new FormatException("bad"));
        bus.Subscribe<Ping>(_ => ran++);
        await Assert.ThrowsAsync<FormatException>(async () => await bus.SendAsync(new Ping(1)));
        Assert.Equal(1, ran);
    }

    [Fact]
    public async Task InvokeAsync_ReturnsOutcomeWithResults()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping, int>((p, _, _) => new ValueTask<int>(p.Value + 1));
        var outcome = await bus.InvokeAsync(new Ping(41)).Within();
        Assert.Equal(42, outcome.FirstResult<int>());
        Assert.Equal(EventStatus.Completed, outcome.Status);
    }
}

public class InlineAndBatchTests
{
    [Fact]
    public async Task SendAsync_CallerToken_ReachesHandler()
    {
        await using var bus = EventBus.Create();
        CancellationToken seen = default;
        bus.Subscribe<Ping>((_, _, ct) =>
        {
            seen = ct;
            return ValueTask.CompletedTask;
        });
        using var cts = new CancellationTokenSource();
        await bus.SendAsync(new Ping(1), cancellationToken: cts.Token);
        Assert.Equal(cts.Token, seen);
    }

    [Fact]
    public async Task SendAsync_Failure_NotDeadLettered()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping>((_, _, _) => throw new InvalidOperationException("inline"));
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await bus.SendAsync(new Ping(1)));
        Assert.Equal(0, bus.DeadLetters.Count);
    }

    [Fact]
    public async Task PublishBatchAsync_RejectMode_RefusedEventsGetRejectedHandles()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 2, FullMode = BusFullMode.Reject });
        var gate = new TaskCompletionSource();
        bus.Subscribe<Ping>(async (p, _, _) => await gate.Task);
        var blocker = await bus.PublishAsync(new Ping(-1));
        await TestTimeout.Until(() => blocker.Context.Stage == EventContext.StageRunning);
        var handles = await bus.PublishBatchAsync(Enumerable.Range(0, 5).Select(i => new Ping(i)));
        Assert.Equal(5, handles.Count);
        Assert.Equal(3, handles.Count(h => h.Status == EventStatus.Rejected));
        gate.SetResult();
        foreach (var h in handles.Take(2))
            Assert.Equal(EventStatus.Completed, (await h.AsValueTask().Within()).Status);
        await Assert.ThrowsAsync<ArgumentException>(async () => await bus.PublishBatchAsync([new Ping(1)], new PublishOptions { EventId = Guid.NewGuid() }));
    }

    [Fact]
    public async Task PublishBatchAsync_LargerThanCapacityInWaitMode_AllHandledInOrderAndCounted()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 10 });
        var seen = new ConcurrentQueue<int>();
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            await Task.Yield();
            seen.Enqueue(p.Value);
        });
        var waiter = bus.WaitForAsync<Ping>((p, _) => p.Value == 49, TimeSpan.FromSeconds(10)).AsTask();
        var handles = await bus.PublishBatchAsync(Enumerable.Range(0, 50).Select(i => new Ping(i))).AsTask().Within();
        foreach (var h in handles)
            Assert.Equal(EventStatus.Completed, (await h.AsValueTask().Within()).Status);
        Assert.Equal(Enumerable.Range(0, 50), seen);
        Assert.True((await waiter.Within()).HasValue);
        var stats = bus.GetStatistics();
        Assert.Equal(50, stats.Published);
        Assert.Equal(50, stats.Processed);
        Assert.Equal(0, stats.InFlight);
    }

    [Fact]
    public async Task Redrive_DeadlinePassed_RunsAnyway()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var broken = true;
        bus.Subscribe<Ping>((_, _, _) => broken ? throw new InvalidOperationException("x") : ValueTask.CompletedTask, new SubscriptionOptions { Name = "h" });
        await (await bus.PublishAsync(new Ping(1), new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(1) })).AsValueTask().Within();
        var letter = Assert.Single(bus.DeadLetters.List());
        time.Advance(TimeSpan.FromMinutes(5));
        broken = false;
        Assert.Equal(EventStatus.Completed, (await bus.DeadLetters.RedriveAsync(letter.Id).Within()).Status);
    }
}
