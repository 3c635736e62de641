using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// The per-event state of a queued publish (issue 16): a plain event carries neither the rare envelope fields nor a
/// result array, and what an observer reads (the outcome, the envelope, the lineage) stays exact.
/// </summary>
public class EventStateTests(ITestOutputHelper output)
{
    private const int Events = 200;

    [Theory]
    [InlineData(16, BusFullMode.DropOldest)]
    [InlineData(1601, BusFullMode.Wait)]
    [InlineData(16016, BusFullMode.DropOldest)]
    public async Task RandomMix_EveryHandleReadsItsOwnEventsOutcome(int seed, BusFullMode mode)
    {
        var random = new Random(seed);
        var workers = random.Next(1, 4);
        var capacity = random.Next(4, 32);
        output.WriteLine($"seed {seed}: {mode}, capacity {capacity}, {workers} worker(s)");
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = capacity, FullMode = mode, MaxConcurrentEvents = workers });
        bus.Subscribe<Ping, int>(async (p, _, _) =>
        {
            if (p.Value % 5 == 0)
                await Task.Yield();
            if (p.Value % 13 == 0)
                throw new InvalidOperationException($"event {p.Value} fails");
            return p.Value % 2 == 1 ? p.Value * 10 : 0;
        });

        const int count = 400;
        var handles = new EventHandle[count];
        var waits = new List<(int Value, Task<EventMatch<Ping>?> Match)>();
        for (var i = 0; i < count; i++)
        {
            var options = random.Next(3) == 0 ? new PublishOptions { OrderingKey = $"k{random.Next(3)}" } : null;
            if (random.Next(10) == 0)
            {
                var value = i;
                waits.Add((value, bus.WaitForAsync<Ping>((p, _) => p.Value == value, TestTimeout.Default).AsTask()));
            }

            handles[i] = await bus.PublishAsync(new Ping(i), options);
            if (random.Next(4) == 0)
                await handles[i].AsValueTask().Within();
        }

        for (var i = 0; i < count; i++)
        {
            var outcome = await handles[i].AsValueTask().Within();
            Assert.Equal(i, ((Ping)outcome.Context.Event).Value);
            Assert.Equal(handles[i].EventId, outcome.Context.EventId);
            switch (outcome.Status)
            {
                case EventStatus.Completed:
                    Assert.NotEqual(0, i % 13);
                    Assert.Equal(i % 2 == 1 ? [i * 10] : [0], outcome.Results<int>());
                    break;
                case EventStatus.Failed:
                    Assert.Equal(0, i % 13);
                    Assert.Equal(HandlerStatus.Failed, Assert.Single(outcome.Handlers).Status);
                    break;
                default:
                    Assert.Equal(BusFullMode.DropOldest, mode);
                    Assert.Equal(EventStatus.Dropped, outcome.Status);
                    Assert.Empty(outcome.Handlers);
                    break;
            }
        }

        foreach (var (value, match) in waits)
        {
            var found = await match.Within();
            Assert.NotNull(found);
            Assert.Equal(handles[value], found.Value.Handle);
            Assert.Equal(value, found.Value.Event.Value);
        }
    }

    [Fact]
    public async Task TryPublish_PlainEvent_PublisherAllocatesLessThanTheFullContext()
    {
        // The event (24 B) and its context. The context used to carry every rare field (causation, ordering key,
        // deadline, headers, options, path, publisher and children links, settler, flowed context, publish span):
        // 364 B; without them 224 B (the bound leaves room for a field or two, not for the old layout).
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
        Assert.True(median <= 272, $"a plain TryPublish allocated {median} B on the publisher's thread");
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
