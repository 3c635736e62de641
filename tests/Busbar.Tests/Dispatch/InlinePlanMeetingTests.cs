using System.Collections.Concurrent;
using Busbar.Dispatch;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// Where the inline plan (<c>SendAsync</c> without the dispatcher) meets queued dispatch: a planned send inside a queued
/// handler whose handler publishes and awaits a queued child (a queue jump, with priorities), and a nested publish with a
/// deadline. One worker, so a child that were not jumped would deadlock the bus.
/// </summary>
public sealed class InlinePlanMeetingTests
{
    [EventName("meet.outer")]
    public sealed record Outer(int N);

    [EventName("meet.mid")]
    public sealed record Mid(int N);

    [EventName("meet.inner")]
    public sealed record Inner(int N);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SendAsync_InQueuedHandler_PlannedHandlerAwaitsItsQueuedChild_ChildJumpsTheQueueWithTheSendAsParent(bool innerAsync)
    {
        await using var bus = EventBus.Create(new EventBusOptions { MaxConcurrentEvents = 1 });
        var mids = new ConcurrentDictionary<int, Guid>();
        var inners = new ConcurrentDictionary<int, (Guid Correlation, Guid? Causation)>();
        var outers = new ConcurrentDictionary<int, Guid>();
        bus.Subscribe<Outer>(async (e, context, ct) =>
        {
            outers[e.N] = context.CorrelationId;
            await bus.SendAsync(new Mid(e.N), cancellationToken: ct);
            await bus.SendAsync(new Mid(e.N + 100), cancellationToken: ct);
        });
        bus.Subscribe<Mid>(async (e, context, ct) =>
        {
            mids[e.N] = context.EventId;
            var outcome = await await bus.PublishAsync(new Inner(e.N), cancellationToken: ct);
            Assert.Equal(EventStatus.Completed, outcome.Status);
        });
        bus.Subscribe<Inner>(async (e, context, _) =>
        {
            if (innerAsync)
                await Task.Yield();
            inners[e.N] = (context.CorrelationId, context.CausationId);
        });

        for (var i = 0; i < 3; i++)
        {
            var outcome = await (await bus.PublishAsync(new Outer(i * 1_000))).AsValueTask().Within();
            Assert.Equal(EventStatus.Completed, outcome.Status);
        }

        Assert.NotNull(InlinePlanTests.PlanOf<Mid>(bus, "meet.mid")?.Handlers);
        Assert.Equal(6, inners.Count);
        foreach (var (n, (correlation, causation)) in inners)
        {
            // Each inner event is the child of the send that published it (not of a send before it whose context was reused).
            Assert.Equal(mids[n], causation);
            Assert.Equal(outers[n % 1_000 == 100 ? n - 100 : n], correlation);
        }
    }

    [Fact]
    public async Task SendAsync_InQueuedHandler_PlannedHandlerPublishesByPriorityAndAwaitsTheLowest_JumpedChildRunsFirstThenPriorityOrder()
    {
        await using var bus = EventBus.Create(new EventBusOptions { MaxConcurrentEvents = 1 });
        var order = new ConcurrentQueue<int>();
        var handles = new ConcurrentQueue<EventHandle>();
        bus.Subscribe<Outer>(async (e, _, ct) => await bus.SendAsync(new Mid(e.N), cancellationToken: ct));
        bus.Subscribe<Mid>(async (_, _, ct) =>
        {
            handles.Enqueue(await bus.PublishAsync(new Inner(1), new PublishOptions { Priority = 1 }, ct));
            handles.Enqueue(await bus.PublishAsync(new Inner(5), new PublishOptions { Priority = 5 }, ct));
            var lowest = await bus.PublishAsync(new Inner(0), new PublishOptions { Priority = 0 }, ct);
            handles.Enqueue(lowest);

            // Awaited by the planned handler: runs now, ahead of the higher priorities still queued.
            Assert.Equal(EventStatus.Completed, (await lowest).Status);
        });
        bus.Subscribe<Inner>(e => order.Enqueue(e.N));

        var outcome = await (await bus.PublishAsync(new Outer(1))).AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        foreach (var handle in handles)
            Assert.Equal(EventStatus.Completed, (await handle.AsValueTask().Within()).Status);

        Assert.Equal([0, 5, 1], order);
    }

    [Fact]
    public async Task SendAsync_InQueuedHandler_PlannedHandlerPublishesWithADeadlineThatPassesBeforeTheJump_ChildTimesOutUnhandled()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { MaxConcurrentEvents = 1 }).WithTimeProvider(time).Build();
        var innerRan = 0;
        EventOutcome? innerOutcome = null;
        bus.Subscribe<Outer>(async (e, _, ct) => await bus.SendAsync(new Mid(e.N), cancellationToken: ct));
        bus.Subscribe<Mid>(async (_, _, ct) =>
        {
            var handle = await bus.PublishAsync(new Inner(1), new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(1) }, ct);
            time.Advance(TimeSpan.FromSeconds(2));
            innerOutcome = await handle;
        });
        bus.Subscribe<Inner>(_ => Interlocked.Increment(ref innerRan));

        var outcome = await (await bus.PublishAsync(new Outer(1))).AsValueTask().Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(0, innerRan);
        Assert.NotNull(innerOutcome);
        Assert.Equal(HandlerStatus.TimedOut, Assert.Single(innerOutcome.Handlers).Status);
        Assert.NotEqual(EventStatus.Completed, innerOutcome.Status);
    }

    [Fact]
    public async Task SendAsync_WithDeadlineInsidePlannedHandler_DeadlinePassesMidHandler_NestedSendFailsAndTheOuterSendSeesIt()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { MaxConcurrentEvents = 1 }).WithTimeProvider(time).Build();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Mid>(async (e, _, ct) =>
            await bus.SendAsync(new Inner(e.N), new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(1) }, ct));
        bus.Subscribe<Inner>(async (_, _, ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
        });

        var sending = bus.SendAsync(new Mid(1)).AsTask();
        await started.Task.Within();
        time.Advance(TimeSpan.FromSeconds(2));

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => sending.Within());
        Assert.Contains("deadline", failure.ToString(), StringComparison.OrdinalIgnoreCase);

        // The bus is usable afterwards: the planned path runs again (no context left marked as running).
        var after = 0;
        bus.Subscribe<Outer>(_ => Interlocked.Increment(ref after));
        await bus.SendAsync(new Outer(2)).AsTask().Within();
        Assert.Equal(1, after);
    }

    [Fact]
    public async Task PublishAsync_DeadlineOnQueuedParent_PlannedSendInItsHandlerIsCancelledWithIt()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { MaxConcurrentEvents = 1 }).WithTimeProvider(time).Build();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Outer>(async (e, _, ct) => await bus.SendAsync(new Mid(e.N), cancellationToken: ct));
        bus.Subscribe<Mid>(async (_, _, ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
        });

        var handle = await bus.PublishAsync(new Outer(1), new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(1) });
        await started.Task.Within();
        time.Advance(TimeSpan.FromSeconds(2));
        var outcome = await handle.AsValueTask().Within();

        // The send's handler had the outer handler's token, which the deadline cancelled: the outer event timed out.
        Assert.Equal(HandlerStatus.TimedOut, Assert.Single(outcome.Handlers).Status);
    }
}
