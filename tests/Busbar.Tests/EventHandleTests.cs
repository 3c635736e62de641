using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests;

public class EventHandleTests
{
    [Fact]
    public void Default_IsDefault_True()
    {
        Assert.True(default(EventHandle).IsDefault);
    }

    [Fact]
    public async Task Published_IsDefault_False()
    {
        await using var bus = EventBus.Create();
        var handle = await bus.PublishAsync(new Ping(1));
        Assert.False(handle.IsDefault);
        await handle.AsValueTask().Within();
    }

    [Fact]
    public void Default_EveryEventMember_ThrowsInvalidOperationNamingTheDefaultHandle()
    {
        var handle = default(EventHandle);
        var members = new (string Name, Action Use)[]
        {
            ("Context", () => _ = handle.Context),
            ("EventId", () => _ = handle.EventId),
            ("Status", () => _ = handle.Status),
            ("IsCompleted", () => _ = handle.IsCompleted),
            ("GetAwaiter", () => _ = handle.GetAwaiter()),
            ("AsValueTask", () => _ = handle.AsValueTask()),
            ("AsTask", () => _ = handle.AsTask()),
            ("WaitAsync(token)", () => _ = handle.WaitAsync(CancellationToken.None)),
            ("WaitAsync(timeout)", () => _ = handle.WaitAsync(TimeSpan.FromSeconds(1))),
        };

        foreach (var (name, use) in members)
        {
            var ex = Assert.Throws<InvalidOperationException>(use);
            Assert.True(ex.Message.Contains("default(EventHandle)", StringComparison.Ordinal), $"{name}: {ex.Message}");
        }
    }

    [Fact]
    public async Task Default_AwaitedDirectly_ThrowsInvalidOperation()
    {
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await default(EventHandle));
    }

    [Fact]
    public void Default_EqualityHashAndToString_Work()
    {
        var a = default(EventHandle);
        var b = default(EventHandle);
        Assert.True(a == b);
        Assert.False(a != b);
        Assert.Equal(0, a.GetHashCode());
        Assert.Equal("(default EventHandle)", a.ToString());
    }

    [Fact]
    public async Task AsTask_SeveralHandles_WhenAllGivesEveryOutcome()
    {
        await using var bus = EventBus.Create();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async _ => await release.Task);
        var handles = new[] { await bus.PublishAsync(new Ping(1)), await bus.PublishAsync(new Ping(2)), await bus.PublishAsync(new Ping(3)) };

        var all = Task.WhenAll(handles[0].AsTask(), handles[1].AsTask(), handles[2].AsTask());
        Assert.False(all.IsCompleted);
        release.SetResult();
        var outcomes = await all.Within();

        Assert.Equal([handles[0].EventId, handles[1].EventId, handles[2].EventId], outcomes.Select(o => o.Context.EventId));
        Assert.All(outcomes, o => Assert.Equal(EventStatus.Completed, o.Status));
    }

    [Fact]
    public async Task AsTask_WhenAny_CompletesWithTheFirstEventToFinish()
    {
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { MaxConcurrentEvents = 2 }).Build();
        var blockSlow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async p =>
        {
            if (p.Value == 1)
                await blockSlow.Task;
        });
        var slow = await bus.PublishAsync(new Ping(1));
        var fast = await bus.PublishAsync(new Ping(2));

        var first = await Task.WhenAny(slow.AsTask(), fast.AsTask()).Within();

        Assert.Equal(fast.EventId, (await first).Context.EventId);
        Assert.False(slow.IsCompleted);
        blockSlow.SetResult();
        await slow.AsValueTask().Within();
    }

    [Fact]
    public async Task AsTask_CompletedEvent_ReturnsCompletedTask()
    {
        await using var bus = EventBus.Create();
        var handle = await bus.PublishAsync(new Ping(1));
        await handle.AsValueTask().Within();

        var task = handle.AsTask();

        Assert.True(task.IsCompletedSuccessfully);
        Assert.Equal(EventStatus.Completed, (await task).Status);
    }

    [Fact]
    public async Task WaitAsyncTimeout_EventStillRunning_ThrowsTimeoutAndEventGoesOn()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async _ =>
        {
            started.TrySetResult();
            await release.Task;
        });
        var handle = await bus.PublishAsync(new Ping(1));
        await started.Task.Within();

        var wait = handle.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(wait.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(5));

        await Assert.ThrowsAsync<TimeoutException>(() => wait.Within());
        Assert.False(handle.IsCompleted);
        release.SetResult();
        Assert.Equal(EventStatus.Completed, (await handle.AsValueTask().Within()).Status);
    }

    [Fact]
    public async Task WaitAsyncTimeout_EventCompletesInTime_ReturnsOutcome()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async _ => await release.Task);
        var handle = await bus.PublishAsync(new Ping(1));

        var wait = handle.WaitAsync(TimeSpan.FromSeconds(5));
        release.SetResult();

        Assert.Equal(EventStatus.Completed, (await wait.Within()).Status);
    }

    [Fact]
    public async Task WaitAsyncTimeout_TokenFiresFirst_ThrowsOperationCanceled()
    {
        await using var bus = EventBus.Create();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async _ => await release.Task);
        var handle = await bus.PublishAsync(new Ping(1));
        using var cts = new CancellationTokenSource();

        var wait = handle.WaitAsync(Timeout.InfiniteTimeSpan, cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.Within());
        release.SetResult();
        Assert.Equal(EventStatus.Completed, (await handle.AsValueTask().Within()).Status);
    }

    [Fact]
    public async Task WaitAsyncTimeout_Negative_ThrowsNamingTheTimeout()
    {
        await using var bus = EventBus.Create();
        var handle = await bus.PublishAsync(new Ping(1));

        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => { _ = handle.WaitAsync(TimeSpan.FromSeconds(-1)); });

        Assert.Equal("timeout", ex.ParamName);
        await handle.AsValueTask().Within();
    }
}
