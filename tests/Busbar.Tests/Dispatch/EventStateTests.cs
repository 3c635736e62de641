using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// The per-event state of a queued publish (issue 16): a plain event carries neither the rare envelope fields nor a
/// result array, and what an observer reads (the outcome, the envelope, the lineage) stays exact.
/// </summary>
public class EventStateTests
{
    private const int Events = 200;

    [Fact]
    public async Task TryPublish_PlainEvent_PublisherAllocatesLessThanTheFullContext()
    {
        // The event (24 B) and its context. The context used to carry every rare field (causation, ordering key,
        // deadline, headers, options, path, publisher and children links, settler, flowed context, publish span):
        // 364 B; without them it is under 256 B.
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = Events * 2, HistoryCapacity = 0 });
        using var gate = new ManualResetEventSlim();
        bus.Subscribe<Ping>((_, _, _) =>
        {
            gate.Wait(TestTimeout.Default);
            return ValueTask.CompletedTask;
        });

        var deltas = new List<long>();
        var handles = new List<EventHandle>(Events);
        for (var i = 0; i < Events; i++)
        {
            var ping = new Ping(i);
            var before = GC.GetAllocatedBytesForCurrentThread();
            Assert.True(bus.TryPublish(ping, out var handle));
            deltas.Add(GC.GetAllocatedBytesForCurrentThread() - before);
            handles.Add(handle);
        }

        gate.Set();
        foreach (var handle in handles)
            await handle.AsValueTask().Within();
        deltas.Sort();
        var median = deltas[deltas.Count / 2];
        Assert.True(median <= 256, $"a plain TryPublish allocated {median} B on the publisher's thread");
    }

    [Fact]
    public async Task PublishAsync_SolePlainHandler_OutcomeReportsItsResultAndDuration()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        bus.Subscribe<Ping>(_ => time.Advance(TimeSpan.FromMilliseconds(7)), new SubscriptionOptions { Name = "only" });

        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        var result = Assert.Single(outcome.Handlers);
        Assert.Equal("only", result.SubscriptionName);
        Assert.Equal(HandlerStatus.Succeeded, result.Status);
        Assert.Equal(1, result.Attempts);
        Assert.Equal(TimeSpan.FromMilliseconds(7), result.Duration);
        Assert.Null(result.Value);
        Assert.Empty(result.ChildEventIds);
    }

    [Fact]
    public async Task PublishAsync_SoleHandlerPublishingChildren_OutcomeListsThemOnItsResult()
    {
        await using var bus = EventBus.Create();
        var childIds = new List<Guid>();
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            var child = await bus.PublishAsync(new OrderPlaced(p.Value));
            lock (childIds)
                childIds.Add(child.EventId);
        });
        bus.Subscribe<OrderPlaced>(static (_, _, _) => ValueTask.CompletedTask);

        var handle = await bus.PublishAsync(new Ping(1));
        var outcome = await handle.AsValueTask().Within();

        var result = Assert.Single(outcome.Handlers);
        Assert.Equal(childIds, result.ChildEventIds);
        Assert.Equal(childIds, outcome.ChildEventIds);
        var child = Assert.Single(bus.History<OrderPlaced>());
        Assert.Equal(handle.EventId, child.Context.CausationId);
        Assert.Equal(handle.EventId, child.Context.CorrelationId);
    }

    [Fact]
    public async Task PublishAsync_SoleHandlerReturningAValue_OutcomeKeepsTheValue()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping, int>((p, _, _) => new ValueTask<int>(p.Value * 2));

        var outcome = await (await bus.PublishAsync(new Ping(21))).AsValueTask().Within();

        Assert.Equal([42], outcome.Results<int>());
    }

    [Fact]
    public async Task PublishAsync_SoleHandlerFails_OutcomeAndDeadLetterKeepTheFailure()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping>(static (_, _, _) => throw new InvalidOperationException("boom"), new SubscriptionOptions { Name = "failing" });

        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();

        Assert.Equal(EventStatus.Failed, outcome.Status);
        var result = Assert.Single(outcome.Handlers);
        Assert.Equal(HandlerStatus.Failed, result.Status);
        Assert.IsType<InvalidOperationException>(result.Exception);
        Assert.Equal(1, bus.DeadLetters.Count);
    }

    [Fact]
    public async Task PublishAsync_WithOptions_EnvelopeKeepsEveryField()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        EventContext? seen = null;
        bus.Subscribe<Ping>((_, context, _) =>
        {
            seen = context;
            return ValueTask.CompletedTask;
        });
        var correlation = Guid.NewGuid();
        var causation = Guid.NewGuid();
        var headers = new Dictionary<string, string> { ["tenant"] = "a" };

        var handle = await bus.PublishAsync(new Ping(1), new PublishOptions
        {
            OrderingKey = "k",
            Priority = 3,
            CorrelationId = correlation,
            CausationId = causation,
            Headers = headers,
            DeadlineAfter = TimeSpan.FromMinutes(1),
        });
        await handle.AsValueTask().Within();

        Assert.Same(handle.Context, seen);
        Assert.Equal("k", seen!.OrderingKey);
        Assert.Equal(3, seen.Priority);
        Assert.Equal(correlation, seen.CorrelationId);
        Assert.Equal(causation, seen.CausationId);
        Assert.Equal("a", seen.Headers["tenant"]);
        Assert.Equal(time.GetUtcNow() + TimeSpan.FromMinutes(1), seen.Deadline);
        Assert.Equal([bus.Name], seen.Path);
    }

    [Fact]
    public async Task PublishAsync_PlainEvent_EnvelopeHasItsDefaults()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Name = "plain" });
        bus.Subscribe<Ping>(static (_, _, _) => ValueTask.CompletedTask);

        var context = (await bus.PublishAsync(new Ping(1))).Context;

        Assert.Null(context.OrderingKey);
        Assert.Null(context.CausationId);
        Assert.Null(context.Deadline);
        Assert.Empty(context.Headers);
        Assert.Equal(context.EventId, context.CorrelationId);
        Assert.Equal(["plain"], context.Path);
        Assert.Same(bus, context.Bus);
    }
}
