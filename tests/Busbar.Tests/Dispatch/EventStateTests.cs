using Busbar.Dispatch;
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
        // 364 B; without them 224 B; with priority, attempt and the listener-only timestamps aside too, one waiter
        // slot, one pair of queue links and one reference for lineage and extras, 136 B (the bound leaves room for one
        // field, not for a second pair of links).
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
        Assert.True(median <= 176, $"a plain TryPublish allocated {median} B on the publisher's thread");
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
        Assert.Equal(0, context.Priority);
        Assert.Equal(1, context.Attempt);
    }

    [Theory]
    [InlineData(HandlerConcurrency.Serial)]
    [InlineData(HandlerConcurrency.Parallel)]
    public async Task PublishAsync_FanOutOfPlainHandlers_OutcomeReportsEveryResultAndDuration(HandlerConcurrency tier)
    {
        // Plain successes of several handlers are kept as durations, not as an array of results: what the outcome and
        // the history show is built from them and must be what the full results said.
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { HandlerConcurrency = tier }).WithTimeProvider(time).Build();
        for (var h = 0; h < 4; h++)
        {
            var step = TimeSpan.FromMilliseconds(h + 1);
            bus.Subscribe<Ping>(_ => time.Advance(step), new SubscriptionOptions { Name = $"h{h}" });
        }

        var handle = await bus.PublishAsync(new Ping(1));
        var outcome = await handle.AsValueTask().Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(["h0", "h1", "h2", "h3"], outcome.Handlers.Select(r => r.SubscriptionName));
        Assert.All(outcome.Handlers, r => Assert.Equal((HandlerStatus.Succeeded, 1, (object?)null), (r.Status, r.Attempts, r.Value)));
        Assert.Equal([1.0, 2.0, 3.0, 4.0], outcome.Handlers.Select(r => r.Duration.TotalMilliseconds));
        var listed = Assert.Single(bus.History<Ping>());
        Assert.Equal(handle, listed);
        Assert.Same(outcome, await listed.AsValueTask().Within());
    }

    [Theory]
    [InlineData(HandlerConcurrency.Serial)]
    [InlineData(HandlerConcurrency.Parallel)]
    public async Task PublishAsync_FanOutWithAValueAndAFailureAfterPlainSuccesses_KeepsEveryResult(HandlerConcurrency tier)
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { HandlerConcurrency = tier }).WithTimeProvider(time).Build();
        bus.Subscribe<Ping>(_ => time.Advance(TimeSpan.FromMilliseconds(1)), new SubscriptionOptions { Name = "plain0" });
        bus.Subscribe<Ping>(_ => time.Advance(TimeSpan.FromMilliseconds(2)), new SubscriptionOptions { Name = "plain1" });
        bus.Subscribe<Ping, int>(p =>
        {
            time.Advance(TimeSpan.FromMilliseconds(3));
            return p.Value * 2;
        }, new SubscriptionOptions { Name = "value" });
        bus.Subscribe<Ping>(_ => time.Advance(TimeSpan.FromMilliseconds(4)), new SubscriptionOptions { Name = "plain3" });
        bus.Subscribe<Ping>(_ =>
        {
            time.Advance(TimeSpan.FromMilliseconds(5));
            throw new InvalidOperationException("boom");
        }, new SubscriptionOptions { Name = "failing" });
        bus.Subscribe<Ping>(_ => time.Advance(TimeSpan.FromMilliseconds(6)), new SubscriptionOptions { Name = "plain5" });

        var outcome = await (await bus.PublishAsync(new Ping(21))).AsValueTask().Within();

        Assert.Equal(EventStatus.Failed, outcome.Status);
        Assert.Equal(["plain0", "plain1", "value", "plain3", "failing", "plain5"], outcome.Handlers.Select(r => r.SubscriptionName));
        Assert.Equal(
            [HandlerStatus.Succeeded, HandlerStatus.Succeeded, HandlerStatus.Succeeded, HandlerStatus.Succeeded, HandlerStatus.Failed, HandlerStatus.Succeeded],
            outcome.Handlers.Select(r => r.Status));
        Assert.Equal([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], outcome.Handlers.Select(r => r.Duration.TotalMilliseconds));
        Assert.Equal(42, outcome.Handlers[2].Value);
        Assert.IsType<InvalidOperationException>(outcome.Handlers[4].Exception);
        Assert.Equal([42], outcome.Results<int>());
        Assert.Equal(1, bus.DeadLetters.Count);
    }

    [Theory]
    [InlineData(HandlerConcurrency.Serial)]
    [InlineData(HandlerConcurrency.Parallel)]
    public async Task PublishAsync_FanOutWhereAHandlerGoesAsynchronous_KeepsTheEarlierPlainSuccesses(HandlerConcurrency tier)
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { HandlerConcurrency = tier }).WithTimeProvider(time).Build();
        bus.Subscribe<Ping>(_ => time.Advance(TimeSpan.FromMilliseconds(1)), new SubscriptionOptions { Name = "first" });
        bus.Subscribe<Ping>(_ => time.Advance(TimeSpan.FromMilliseconds(2)), new SubscriptionOptions { Name = "second" });
        bus.Subscribe<Ping>(async _ => await Task.Yield(), new SubscriptionOptions { Name = "async" });
        bus.Subscribe<Ping>(static _ => { }, new SubscriptionOptions { Name = "last" });

        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(["first", "second", "async", "last"], outcome.Handlers.Select(r => r.SubscriptionName));
        Assert.All(outcome.Handlers, r => Assert.Equal(HandlerStatus.Succeeded, r.Status));
        Assert.Equal(TimeSpan.FromMilliseconds(1), outcome.Handlers[0].Duration);
        Assert.Equal(TimeSpan.FromMilliseconds(2), outcome.Handlers[1].Duration);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task PublishAsync_PlainHandlerLongerThanTheCompactDuration_KeepsItsExactDuration(int handlers)
    {
        // Compact durations hold up to int.MaxValue ticks (214 s); a longer one is kept in the full results.
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        bus.Subscribe<Ping>(_ => time.Advance(TimeSpan.FromMinutes(5)), new SubscriptionOptions { Name = "slow" });
        for (var h = 1; h < handlers; h++)
            bus.Subscribe<Ping>(_ => time.Advance(TimeSpan.FromMilliseconds(1)), new SubscriptionOptions { Name = $"quick{h}" });

        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();

        Assert.Equal(handlers, outcome.Handlers.Count);
        Assert.Equal(TimeSpan.FromMinutes(5), outcome.Handlers[0].Duration);
        Assert.All(outcome.Handlers.Skip(1), r => Assert.Equal(TimeSpan.FromMilliseconds(1), r.Duration));
        Assert.All(outcome.Handlers, r => Assert.Equal(HandlerStatus.Succeeded, r.Status));
    }

    [Fact]
    public async Task EventOutcome_AwaitedBeforeAndReadAfterCompletion_IsOneInstance()
    {
        // The waiter's source, the completed mark and the outcome share one slot of the context.
        await using var bus = EventBus.Create();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async _ => await gate.Task);

        var handle = await bus.PublishAsync(new Ping(1));
        var early = handle.AsTask();
        var alsoEarly = handle.AsTask();
        Assert.False(early.IsCompleted);
        gate.SetResult();

        var first = await early.Within();
        Assert.Same(first, await alsoEarly.Within());
        Assert.Same(first, await handle.AsValueTask().Within());
        Assert.Same(first, await Assert.Single(bus.History<Ping>()).AsValueTask().Within());
        Assert.Equal(EventStatus.Completed, first.Status);
    }

    [Fact]
    public async Task EventOutcome_ReadOnlyAfterCompletion_IsOneInstance()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping>(static _ => { });

        var handle = await bus.PublishAsync(new Ping(1));
        await TestTimeout.Until(() => handle.IsCompleted);

        Assert.Same(await handle.AsValueTask().Within(), await handle.AsTask().Within());
    }

    [Fact]
    public async Task PublishAsync_ChildWithOptionsFromAHandler_KeepsLineageAndEnvelope()
    {
        // The lineage and the extras share one reference on the context (the extras hold the lineage when both exist).
        await using var bus = EventBus.Create();
        var childHandle = new TaskCompletionSource<EventHandle>(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (p, _, _) => childHandle.SetResult(await bus.PublishAsync(
            new OrderPlaced(p.Value),
            new PublishOptions { OrderingKey = "orders", Priority = 2, Headers = new Dictionary<string, string> { ["tenant"] = "a" } })));
        bus.Subscribe<OrderPlaced>(static (_, _, _) => ValueTask.CompletedTask);

        var parent = await bus.PublishAsync(new Ping(1), new PublishOptions { CorrelationId = Guid.Parse("00000000-0000-0000-0000-00000000c0de") });
        var parentOutcome = await parent.AsValueTask().Within();
        var child = (await childHandle.Task.Within()).Context;

        Assert.Equal(parent.EventId, child.CausationId);
        Assert.Equal(Guid.Parse("00000000-0000-0000-0000-00000000c0de"), child.CorrelationId);
        Assert.Equal("orders", child.OrderingKey);
        Assert.Equal(2, child.Priority);
        Assert.Equal("a", child.Headers["tenant"]);
        Assert.Equal([child.EventId], parentOutcome.ChildEventIds);
        Assert.Null(parent.Context.CausationId);
    }

    [Fact]
    public async Task EventContext_LineageAndExtrasSetFromRacingThreads_KeepsBoth()
    {
        // GetLineage and GetExtras replace the one side reference with compare-exchange: neither may lose the other's write.
        await using var bus = (InProcessEventBus)EventBus.Create();
        for (var round = 0; round < 2_000; round++)
        {
            var context = new EventContext(bus, new Ping(round), "test.ping");
            var causation = Guid.NewGuid();
            using var start = new Barrier(2);
            var lineage = Task.Run(() =>
            {
                start.SignalAndWait(TestTimeout.Default);
                context.CausationId = causation;
            });
            var extras = Task.Run(() =>
            {
                start.SignalAndWait(TestTimeout.Default);
                context.OrderingKey = "k";
                context.Attempt = 3;
            });
            await Task.WhenAll(lineage, extras).Within();

            Assert.Equal(causation, context.CausationId);
            Assert.Equal("k", context.OrderingKey);
            Assert.Equal(3, context.Attempt);
        }
    }

    [Fact]
    public void CreatedAt_WithAnOffset_KeepsTheOffsetThroughAClone()
    {
        // The creation time is stored as UTC ticks; an offset other than zero (a broker envelope, a log record) is kept aside.
        var at = new DateTimeOffset(2026, 11, 30, 18, 0, 0, TimeSpan.FromHours(2));
        var context = new EventContext(new Ping(1), "ping", "origin", TimeProvider.System) { CreatedAt = at, Priority = 2, Attempt = 3 };

        var clone = context.CloneForAttempt(4);

        Assert.Equal(at, context.CreatedAt);
        Assert.Equal(at.Offset, context.CreatedAt.Offset);
        Assert.Equal(at.Offset, clone.CreatedAt.Offset);
        Assert.Equal(at, clone.CreatedAt);
        Assert.Equal(2, clone.Priority);
        Assert.Equal(4, clone.Attempt);
        Assert.Equal(context.EventId, clone.EventId);
    }

    [Theory]
    [InlineData(7, BusFullMode.DropOldest)]
    [InlineData(77, BusFullMode.Wait)]
    [InlineData(777, BusFullMode.DropOldest)]
    [InlineData(7777, BusFullMode.Wait)]
    public async Task RandomMixFanOut_EveryHandleReadsItsOwnEventsResults(int seed, BusFullMode mode)
    {
        // Compact plain successes under the mix: priorities, ordering keys, evictions, handlers that go asynchronous, return
        // values or fail, awaited and unawaited handles and history waits. Every outcome must be its own event's.
        var random = new Random(seed);
        var workers = random.Next(1, 4);
        var capacity = random.Next(4, 32);
        var tier = random.Next(2) == 0 ? HandlerConcurrency.Serial : HandlerConcurrency.Parallel;
        output.WriteLine($"seed {seed}: {mode}, capacity {capacity}, {workers} worker(s), {tier}");
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = capacity, FullMode = mode, MaxConcurrentEvents = workers, HandlerConcurrency = tier });
        bus.Subscribe<Ping>(static _ => { }, new SubscriptionOptions { Name = "plain" });
        bus.Subscribe<Ping, int>(async (p, _, _) =>
        {
            if (p.Value % 5 == 0)
                await Task.Yield();
            if (p.Value % 11 == 0)
                throw new InvalidOperationException($"event {p.Value} fails");
            return p.Value % 3 == 0 ? p.Value : 0;
        }, new SubscriptionOptions { Name = "mixed" });
        bus.Subscribe<Ping>(static _ => { }, new SubscriptionOptions { Name = "tail" });

        const int count = 300;
        var handles = new EventHandle[count];
        var waits = new List<(int Value, Task<EventMatch<Ping>?> Match)>();
        for (var i = 0; i < count; i++)
        {
            var options = random.Next(3) switch
            {
                0 => new PublishOptions { OrderingKey = $"k{random.Next(3)}" },
                1 => new PublishOptions { Priority = random.Next(-1, 2) },
                _ => null,
            };
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
            if (outcome.Status == EventStatus.Dropped)
            {
                Assert.Equal(BusFullMode.DropOldest, mode);
                Assert.Empty(outcome.Handlers);
                continue;
            }

            Assert.Equal(["plain", "mixed", "tail"], outcome.Handlers.Select(r => r.SubscriptionName));
            Assert.Equal(HandlerStatus.Succeeded, outcome.Handlers[0].Status);
            Assert.Equal(HandlerStatus.Succeeded, outcome.Handlers[2].Status);
            if (i % 11 == 0)
            {
                Assert.Equal(EventStatus.Failed, outcome.Status);
                Assert.Equal(HandlerStatus.Failed, outcome.Handlers[1].Status);
            }
            else
            {
                Assert.Equal(EventStatus.Completed, outcome.Status);
                Assert.Equal([i % 3 == 0 ? i : 0], outcome.Results<int>());
            }
        }

        foreach (var (value, match) in waits)
        {
            var found = await match.Within();
            Assert.NotNull(found);
            Assert.Equal(handles[value], found.Value.Handle);
        }
    }
}
