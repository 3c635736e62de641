namespace Busbar.Tests.Dispatch;

/// <summary>
/// A publish waiting for room under <see cref="BusFullMode.Wait"/> (the bus's reusable waiter): what it allocates, and that
/// cancellation, a stop and the publisher's execution context behave as they did with an async method per wait. The randomized
/// mix over the same path is <see cref="RoomWaitMixTests"/>.
/// </summary>
public sealed class RoomWaitTests
{
    [Fact]
    public async Task PublishAsync_WaitingForRoom_AllocatesNoMoreThanAnAdmittedPublish()
    {
        // Before: an async state machine per wait (and a completion source per wake) on top of the context, about 200 B more.
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 1, FullMode = BusFullMode.Wait });
        var proceed = new SemaphoreSlim(0);
        bus.Subscribe<Ping>(async (_, _, ct) => await proceed.WaitAsync(ct));
        var events = Enumerable.Range(0, 16).Select(i => new Ping(i)).ToArray();
        var handles = new List<EventHandle> { await bus.PublishAsync(events[0]) };
        await TestTimeout.Until(() => bus.GetStatistics() is { QueueDepth: 0, InFlight: 1 }, what: "the worker holds the first event");
        handles.Add(await bus.PublishAsync(events[1]));

        var waitingBytes = long.MaxValue;
        for (var i = 2; i < 6; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            var pending = bus.PublishAsync(events[i]);
            var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.False(pending.IsCompleted, "the queue is full: the publish waits");
            if (i > 2)
                waitingBytes = Math.Min(waitingBytes, bytes); // the first wait creates the waiter
            proceed.Release();
            handles.Add(await pending.Within());
        }

        proceed.Release(100);
        foreach (var handle in handles)
            Assert.Equal(EventStatus.Completed, (await handle.AsValueTask().Within()).Status);

        var admittedBytes = long.MaxValue;
        for (var i = 6; i < 10; i++)
        {
            await TestTimeout.Until(() => bus.GetStatistics().InFlight == 0, what: "idle");
            var before = GC.GetAllocatedBytesForCurrentThread();
            var admitted = bus.PublishAsync(events[i]);
            admittedBytes = Math.Min(admittedBytes, GC.GetAllocatedBytesForCurrentThread() - before);
            Assert.True(admitted.IsCompletedSuccessfully);
            await (await admitted).AsValueTask().Within();
        }

        Assert.True(waitingBytes <= admittedBytes, $"a publish that waits allocated {waitingBytes} B on the publisher's thread, one admitted at once {admittedBytes} B");
    }

    [Fact]
    public async Task PublishAsync_CancelledWhileWaitingForRoom_ThrowsEndsRejectedAndTheNextWaitWorks()
    {
        var shed = new List<(int Value, EventStatus Status)>();
        await using var bus = EventBus.Create(new EventBusOptions
        {
            Capacity = 1,
            FullMode = BusFullMode.Wait,
            OnEventShed = args =>
            {
                lock (shed)
                    shed.Add((((Ping)args.Context.Event).Value, args.Status));
            },
        });
        var proceed = new SemaphoreSlim(0);
        var ran = new List<int>();
        bus.Subscribe<Ping>(async (p, _, ct) =>
        {
            lock (ran)
                ran.Add(p.Value);
            await proceed.WaitAsync(ct);
        });
        var first = await bus.PublishAsync(new Ping(0));
        await TestTimeout.Until(() => bus.GetStatistics() is { QueueDepth: 0, InFlight: 1 }, what: "the worker holds the first event");
        var second = await bus.PublishAsync(new Ping(1));

        using var cancel = new CancellationTokenSource();
        var waiting = bus.PublishAsync(new Ping(2), cancellationToken: cancel.Token);
        Assert.False(waiting.IsCompleted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.AsTask().Within());

        // An already cancelled token with the queue full: refused the same way.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => bus.PublishAsync(new Ping(3), cancellationToken: cancel.Token).AsTask().Within());

        // The waiter given back after a cancellation serves the next wait.
        var next = bus.PublishAsync(new Ping(4));
        Assert.False(next.IsCompleted);
        proceed.Release(10);
        var admitted = await next.Within();
        Assert.Equal(EventStatus.Completed, (await admitted.AsValueTask().Within()).Status);
        Assert.Equal(EventStatus.Completed, (await first.AsValueTask().Within()).Status);
        Assert.Equal(EventStatus.Completed, (await second.AsValueTask().Within()).Status);

        await TestTimeout.Until(() => bus.GetStatistics().InFlight == 0, what: "idle");
        var stats = bus.GetStatistics();
        Assert.Equal([(2, EventStatus.Rejected), (3, EventStatus.Rejected)], shed.OrderBy(s => s.Value));
        Assert.Equal([0, 1, 4], ran);
        Assert.Equal(5, stats.Published);
        Assert.Equal(2, stats.Rejected);
        Assert.Equal(3, stats.Completed);
    }

    [Fact]
    public async Task PublishAsync_StoppedWhileSeveralWaitForRoom_EachThrowsBusStoppedAndEndsRejected()
    {
        var bus = EventBus.Create(new EventBusOptions { Capacity = 1, FullMode = BusFullMode.Wait });
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (_, _, _) => await release.Task);
        var first = await bus.PublishAsync(new Ping(0));
        await TestTimeout.Until(() => bus.GetStatistics() is { QueueDepth: 0, InFlight: 1 }, what: "the worker holds the first event");
        var second = await bus.PublishAsync(new Ping(1));
        var waiting = Enumerable.Range(2, 4).Select(i => Task.Run(() => bus.PublishAsync(new Ping(i)).AsTask())).ToArray();
        await TestTimeout.Until(() => waiting.All(t => !t.IsCompleted) && bus.GetStatistics().Published == 6, what: "four publishers wait");

        var stopping = bus.StopAsync(TimeSpan.FromSeconds(20)).AsTask();
        foreach (var publish in waiting)
            await Assert.ThrowsAsync<BusStoppedException>(() => publish.Within());
        release.SetResult();
        var report = await stopping.Within();

        var stats = bus.GetStatistics();
        Assert.True(report.Completed);
        Assert.Equal(6, stats.Published);
        Assert.Equal(4, stats.Rejected);
        Assert.Equal(2, stats.Completed);
        Assert.Equal(EventStatus.Completed, first.Status);
        Assert.Equal(EventStatus.Completed, second.Status);
        await bus.DisposeAsync();
    }

    private static readonly AsyncLocal<string?> s_tenant = new();

    [Fact]
    public async Task PublishAsync_WaitingForRoom_ResumesInThePublishersExecutionContext()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 1, FullMode = BusFullMode.Wait });
        var proceed = new SemaphoreSlim(0);
        bus.Subscribe<Ping>(async (_, _, ct) => await proceed.WaitAsync(ct));
        await bus.PublishAsync(new Ping(0));
        await TestTimeout.Until(() => bus.GetStatistics() is { QueueDepth: 0, InFlight: 1 }, what: "the worker holds the first event");
        await bus.PublishAsync(new Ping(1));

        var seen = await Task.Run(async () =>
        {
            s_tenant.Value = "publisher";
            var pending = bus.PublishAsync(new Ping(2));
            Assert.False(pending.IsCompleted);
            proceed.Release();
            await pending;
            return s_tenant.Value;
        }).Within();

        Assert.Equal("publisher", seen);
        proceed.Release(10);
    }
}
