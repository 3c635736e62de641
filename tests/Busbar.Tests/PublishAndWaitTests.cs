namespace Busbar.Tests;

public class PublishAndWaitTests
{
    [Fact]
    public async Task PublishAndWaitAsync_QueuedEvent_ReturnsOnlyAfterEveryHandlerFinished()
    {
        await using var bus = EventBus.Create();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = 0;
        bus.Subscribe<Ping>(async _ =>
        {
            await release.Task;
            Interlocked.Increment(ref handled);
        });

        var waiting = bus.PublishAndWaitAsync(new Ping(1)).AsTask();
        Assert.False(waiting.IsCompleted);
        release.SetResult();
        var outcome = await waiting.Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(1, Volatile.Read(ref handled));
        Assert.Single(outcome.Handlers);
    }

    [Fact]
    public async Task PublishAndWaitAsync_HandlerFails_ReturnsFailedOutcomeWithoutThrowing()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping>(_ => throw new InvalidOperationException("boom"));

        var outcome = await bus.PublishAndWaitAsync(new Ping(1)).Within();

        Assert.Equal(EventStatus.Failed, outcome.Status);
        Assert.IsType<InvalidOperationException>(outcome.Handlers[0].Exception);
    }

    [Fact]
    public async Task PublishAndWaitAsync_Options_AppliedToTheEvent()
    {
        await using var bus = EventBus.Create();
        var correlation = Guid.NewGuid();
        Guid seen = default;
        bus.Subscribe<Ping>((_, context) => seen = context.CorrelationId);

        var outcome = await bus.PublishAndWaitAsync(new Ping(1), new PublishOptions { CorrelationId = correlation }).Within();

        Assert.Equal(correlation, seen);
        Assert.Equal(correlation, outcome.Context.CorrelationId);
    }

    [Fact]
    public async Task PublishAndWaitAsync_TokenFiresWhileHandling_StopsWaitingAndEventGoesOn()
    {
        await using var bus = EventBus.Create();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = 0;
        bus.Subscribe<Ping>(async _ =>
        {
            started.TrySetResult();
            await release.Task;
            Interlocked.Increment(ref handled);
        });
        using var cts = new CancellationTokenSource();

        var waiting = bus.PublishAndWaitAsync(new Ping(1), cancellationToken: cts.Token).AsTask();
        await started.Task.Within();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.Within());
        release.SetResult();
        var published = Assert.Single(bus.History<Ping>());
        Assert.Equal(EventStatus.Completed, (await published.AsValueTask().Within()).Status);
        Assert.Equal(1, Volatile.Read(ref handled));
    }

    [Fact]
    public async Task PublishAndWaitAsync_InsideHandlerOfSerialBus_DoesNotDeadlock()
    {
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { MaxConcurrentEvents = 1 }).Build();
        EventStatus childStatus = default;
        bus.Subscribe<OrderPlaced>(async (_, _, ct) => childStatus = (await bus.PublishAndWaitAsync(new Ping(1), cancellationToken: ct)).Status);
        bus.Subscribe<Ping>(_ => { });

        var outcome = await bus.PublishAndWaitAsync(new OrderPlaced(1)).Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(EventStatus.Completed, childStatus);
    }

    [Fact]
    public async Task PublishAndWaitAsync_NullBus_ThrowsArgumentNull()
    {
        IEventBus bus = null!;
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await bus.PublishAndWaitAsync(new Ping(1)));
    }
}
