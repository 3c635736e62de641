using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Diagnostics.Metrics;
using Busbar.Dispatch;
using Busbar.Routing;
using Busbar.Tests.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// The inline plan (<see cref="InlinePlan{T}"/>): <c>SendAsync</c> invokes plain synchronous handlers without the dispatcher,
/// and falls back to it the moment a handler, the bus or a listener needs it, with the same outcomes, ids and dead letters.
/// </summary>
public class InlinePlanTests
{
    [EventName("plan.tick")]
    public sealed record Tick(int N);

    [EventName("plan.mid")]
    public sealed record Mid(int N);

    [EventName("plan.leaf")]
    public sealed record Leaf(int N);

    internal static InlinePlan<T>? PlanOf<T>(IEventBus bus, string name) =>
        ((InProcessEventBus)bus).Router.Resolve<T>(name).InlinePlan as InlinePlan<T>;

    [Fact]
    public async Task SendAsync_PlainHandlers_RunInOrderThroughThePlanWithOneContext()
    {
        await using var bus = EventBus.Create();
        var seen = new List<(int Handler, Guid EventId, bool IsCurrent, Guid Correlation, Guid? Causation)>();
        for (var h = 0; h < 3; h++)
        {
            var index = h;
            bus.Subscribe<Tick>((_, context, _) =>
            {
                seen.Add((index, context.EventId, ReferenceEquals(EventContext.Current, context), context.CorrelationId, context.CausationId));
                return ValueTask.CompletedTask;
            });
        }

        await bus.SendAsync(new Tick(1));

        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.Handlers);
        Assert.Equal([0, 1, 2], seen.Select(s => s.Handler));
        Assert.Single(seen.Select(s => s.EventId).Distinct());
        Assert.All(seen, s => Assert.True(s.IsCurrent));
        Assert.All(seen, s => Assert.Equal(s.EventId, s.Correlation));
        Assert.All(seen, s => Assert.Null(s.Causation));
        Assert.Null(EventContext.Current);
    }

    [Fact]
    public async Task SendAsync_PolicySubscribersJoinDuringBurst_EverySendStartedAfterHonoursThem()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Tick>(static _ => { });
        var subscribed = 0;
        var sent = 0;
        var failuresAfter = new ConcurrentQueue<Exception>();
        var filteredSaw = new ConcurrentQueue<int>();
        var retryAttempts = new ConcurrentDictionary<int, int>();
        using var stop = new CancellationTokenSource(TestTimeout.Default);
        var sender = Task.Run(async () =>
        {
            // Bounded by a count and the test's time limit; ends once 1,000 events reached the retrying handler.
            for (var i = 0; i < 100_000_000 && !stop.IsCancellationRequested; i++)
            {
                var after = Volatile.Read(ref subscribed) == 1;
                try
                {
                    await bus.SendAsync(new Tick(i));
                }
                catch (Exception ex) when (after)
                {
                    failuresAfter.Enqueue(ex);
                }

                Interlocked.Increment(ref sent);
                if (after && retryAttempts.Count >= 1_000)
                    break;
            }
        });

        await TestTimeout.Until(() => Volatile.Read(ref sent) >= 1_000, what: "the burst is under way");
        bus.Subscribe<Tick>((t, _) => filteredSaw.Enqueue(t.N), new SubscriptionOptions { Filter = static (e, _) => ((Tick)e).N % 2 == 0 });

        // Fails the first attempt of every event: a plan that ignored the retry would make the send throw.
        bus.Subscribe<Tick>(
            (t, _) =>
            {
                if (retryAttempts.AddOrUpdate(t.N, 1, static (_, n) => n + 1) == 1)
                    throw new InvalidOperationException("first attempt");
            },
            new SubscriptionOptions { Retry = RetryPolicy.Constant(2, TimeSpan.Zero) });
        Volatile.Write(ref subscribed, 1);
        await sender.Within();

        Assert.Empty(failuresAfter);
        Assert.True(retryAttempts.Count >= 1_000, $"only {retryAttempts.Count} events reached the retrying handler");
        Assert.All(retryAttempts.Values, n => Assert.Equal(2, n));
        Assert.All(filteredSaw, n => Assert.Equal(0, n % 2));
        Assert.Null(PlanOf<Tick>(bus, "plan.tick")?.Handlers);
    }

    [Fact]
    public async Task SendAsync_TimeoutSubscriberJoinsPlanRoute_HandlerTimesOut()
    {
        var clock = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(clock).Build();
        var plain = 0;
        bus.Subscribe<Tick>(_ => plain++);
        await bus.SendAsync(new Tick(0));
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.Handlers);

        bus.Subscribe<Tick>(
            async (_, _, token) => await Task.Delay(Timeout.InfiniteTimeSpan, token),
            new SubscriptionOptions { HandlerTimeout = TimeSpan.FromSeconds(1) });
        var pending = bus.SendAsync(new Tick(1)).AsTask();
        Assert.False(pending.IsCompleted);
        clock.Advance(TimeSpan.FromSeconds(2));

        await Assert.ThrowsAsync<HandlerTimeoutException>(() => pending.Within());
        Assert.Equal(2, plain);
    }

    [Fact]
    public async Task SendAsync_MiddlewareForTheType_RunsAroundEveryHandler()
    {
        var around = 0;
        await using var bus = new EventBusBuilder()
            .Use<Tick>((_, invocation, next) =>
            {
                around++;
                return next(invocation);
            })
            .Build();
        var ran = 0;
        bus.Subscribe<Tick>(_ => ran++);
        bus.Subscribe<Tick>(_ => ran++);

        await bus.SendAsync(new Tick(1));
        await bus.SendAsync(new Tick(2));

        Assert.Equal(4, ran);
        Assert.Equal(4, around);
        Assert.Null(PlanOf<Tick>(bus, "plan.tick")?.Handlers);
    }

    [Fact]
    public async Task SendAsync_WhileHistoryWaitPending_InlineEventStaysOutOfHistoryAsBefore()
    {
        await using var bus = EventBus.Create();
        var ran = new ConcurrentQueue<int>();
        bus.Subscribe<Tick>(t => ran.Enqueue(t.N));
        var wait = bus.WaitForAsync<Tick>(null, TestTimeout.Default).AsTask();

        await bus.SendAsync(new Tick(1));
        Assert.False(wait.IsCompleted);
        var queued = await bus.PublishAsync(new Tick(2));
        var match = await wait.Within();
        // The wait matches the event when it is admitted, before its handler ran: the handle says when it ran.
        await queued.AsTask().Within();

        Assert.Equal(2, match?.Event.N);
        Assert.Equal([1, 2], ran);
    }

    [Fact]
    public async Task SendAsync_HandlersSendAndPublish_NestedIdsAndChildrenAsThroughTheEngine()
    {
        await using var bus = EventBus.Create();
        Guid midId = default, midCorrelation = default, leafCausation = default, leafCorrelation = default;
        Guid? midCausation = null;
        EventContext? currentAfterNestedSend = null;
        EventContext? midContext = null;
        EventHandle? queuedLeaf = null;
        bus.Subscribe<Tick>((_, _, _) => bus.SendAsync(new Mid(1)));
        bus.Subscribe<Mid>((_, context, _) =>
        {
            midId = context.EventId;
            midCorrelation = context.CorrelationId;
            midCausation = context.CausationId;
            return ValueTask.CompletedTask;
        });
        bus.Subscribe<Mid>(async (_, context, _) =>
        {
            midContext = context;
            await bus.SendAsync(new Leaf(1));
            currentAfterNestedSend = EventContext.Current;
            queuedLeaf = await bus.PublishAsync(new Leaf(2));
        });
        bus.Subscribe<Leaf>((leaf, context) =>
        {
            if (leaf.N == 1)
            {
                leafCausation = context.CausationId!.Value;
                leafCorrelation = context.CorrelationId;
            }
        });

        var outcome = await bus.InvokeAsync(new Tick(1)).Within();
        var leaf = queuedLeaf!.Value;
        await leaf.AsValueTask().Within();

        Assert.NotNull(PlanOf<Mid>(bus, "plan.mid")?.Handlers);
        Assert.NotNull(PlanOf<Leaf>(bus, "plan.leaf")?.Handlers);
        Assert.Equal(outcome.Context.EventId, midCausation);
        Assert.Equal(outcome.Context.CorrelationId, midCorrelation);
        Assert.Equal([midId], outcome.Handlers[0].ChildEventIds);
        Assert.Equal(midId, leafCausation);
        Assert.Equal(outcome.Context.CorrelationId, leafCorrelation);
        Assert.Same(midContext, currentAfterNestedSend);
        Assert.Equal(midId, leaf.Context.CausationId);
        Assert.Equal(outcome.Context.CorrelationId, leaf.Context.CorrelationId);
    }

    [Fact]
    public async Task SendAsync_SecondOfThreeHandlersThrows_ThrowsAfterTheThirdRanAndDeadLettersIt()
    {
        await using var bus = EventBus.Create(new EventBusOptions { DeadLetterInlineFailures = true });
        var runs = new int[3];
        bus.Subscribe<Tick>(_ => runs[0]++, new SubscriptionOptions { Name = "first" });
        bus.Subscribe<Tick>(_ => { runs[1]++; throw new InvalidOperationException("second failed"); }, new SubscriptionOptions { Name = "second" });
        bus.Subscribe<Tick>(_ => runs[2]++, new SubscriptionOptions { Name = "third" });
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await bus.SendAsync(new Tick(0)));

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await bus.SendAsync(new Tick(1)));

        Assert.Equal("second failed", ex.Message);
        Assert.Equal([2, 2, 2], runs);
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.Handlers);
        var letters = bus.DeadLetters.List();
        Assert.Equal(2, letters.Count);
        Assert.All(letters, l => Assert.Equal("second", l.SubscriptionName));
        var letter = Assert.Single(letters, l => ((Tick)l.Context.Event).N == 1);
        Assert.Equal(1, letter.Attempts);
        Assert.Same(ex, letter.Exception);
        var stats = bus.GetStatistics();
        Assert.Equal(2, stats.DeadLettered);
        Assert.Equal(0, stats.Processed);
    }

    [Fact]
    public async Task SendAsync_HandlerReturnsFaultedValueTask_FailsWithItsExceptionOnce()
    {
        await using var bus = EventBus.Create();
        var runs = 0;
        var after = 0;
        bus.Subscribe<Tick>((_, _, _) =>
        {
            runs++;
            return ValueTask.FromException(new FormatException("faulted"));
        });
        bus.Subscribe<Tick>(_ => after++);

        await Assert.ThrowsAsync<FormatException>(async () => await bus.SendAsync(new Tick(1)));

        Assert.Equal(1, runs);
        Assert.Equal(1, after);
    }

    [Fact]
    public async Task SendAsync_HandlerGoesAsynchronous_RestRunsAfterItWithTheEventStillCurrent()
    {
        await using var bus = EventBus.Create();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var order = new ConcurrentQueue<string>();
        EventContext? before = null, after = null;
        bus.Subscribe<Tick>(_ => order.Enqueue("first"));
        bus.Subscribe<Tick>(async (_, context, _) =>
        {
            before = context;
            order.Enqueue("async started");
            await gate.Task;
            after = EventContext.Current;
            order.Enqueue("async ended");
        });
        bus.Subscribe<Tick>(_ => order.Enqueue("last"));

        var pending = bus.SendAsync(new Tick(1)).AsTask();
        Assert.False(pending.IsCompleted);
        gate.SetResult();
        await pending.Within();

        Assert.Equal(["first", "async started", "async ended", "last"], order);
        Assert.Same(before, after);
    }

    [Fact]
    public async Task SendAsync_HandlerDisposesALaterSubscription_ItIsSkippedNowAndAfter()
    {
        await using var bus = EventBus.Create();
        var later = 0;
        ISubscription? victim = null;
        bus.Subscribe<Tick>(_ => victim!.Dispose());
        victim = bus.Subscribe<Tick>(_ => later++);

        await bus.SendAsync(new Tick(1));
        await bus.SendAsync(new Tick(2));

        Assert.Equal(0, later);
    }

    [Fact]
    public async Task SendAsync_PlanRouteWithValidatorOrStoppedBus_RefusedBeforeAnyHandler()
    {
        await using var bus = new EventBusBuilder().AddValidator(new NonNegativeTick()).Build();
        var ran = 0;
        bus.Subscribe<Tick>(_ => ran++);
        await bus.SendAsync(new Tick(1));
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.ContextFree);

        await Assert.ThrowsAsync<EventValidationException>(async () => await bus.SendAsync(new Tick(-1)));
        await bus.StopAsync();
        await Assert.ThrowsAsync<BusStoppedException>(async () => await bus.SendAsync(new Tick(2)));

        Assert.Equal(1, ran);
    }

    [Fact]
    public async Task SendAsync_WarmPlanOfEightHandlers_AllocatesNothing()
    {
        await using var bus = EventBus.Create();
        var count = 0;
        for (var i = 0; i < 8; i++)
            bus.Subscribe<Tick>((_, _, _) =>
            {
                count++;
                return ValueTask.CompletedTask;
            });
        var tick = new Tick(1);
        for (var i = 0; i < 100; i++)
            await bus.SendAsync(tick);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            var pending = bus.SendAsync(tick);
            Assert.True(pending.IsCompletedSuccessfully);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.Handlers);
        Assert.Equal(8 * 1_100, count);
    }

    [Fact]
    public async Task SendAsync_ContextFreeHandlerReadsCurrent_SeesOneContextForTheEventAsWithContextHandlers()
    {
        await using var bus = EventBus.Create();
        var ran = new List<int>();
        var seen = new List<(EventContext? Context, Guid EventId, Guid Correlation, Guid? Causation, string? Name, object? Event)>();
        bus.Subscribe<Tick>(t => ran.Add(t.N));
        for (var h = 0; h < 2; h++)
        {
            bus.Subscribe<Tick>(t =>
            {
                ran.Add(t.N);
                var current = EventContext.Current;
                seen.Add((current, current?.EventId ?? default, current?.CorrelationId ?? default, current?.CausationId, current?.Name, current?.Event));
            });
        }

        var first = new Tick(1);
        await bus.SendAsync(first);
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.ContextFree);
        var second = new Tick(2);
        await bus.SendAsync(second);

        Assert.Equal([1, 1, 1, 2, 2, 2], ran);
        Assert.Equal(4, seen.Count);
        Assert.All(seen, s => Assert.NotNull(s.Context));
        Assert.All(seen, s => Assert.Equal("plan.tick", s.Name));
        Assert.All(seen, s => Assert.Equal(s.EventId, s.Correlation));
        Assert.All(seen, s => Assert.Null(s.Causation));
        Assert.Same(first, seen[0].Event);
        Assert.Same(first, seen[1].Event);
        Assert.Same(second, seen[2].Event);
        Assert.Equal(seen[0].EventId, seen[1].EventId);
        Assert.Equal(seen[2].EventId, seen[3].EventId);
        Assert.NotEqual(seen[0].EventId, seen[2].EventId);
        Assert.NotEqual(Guid.Empty, seen[0].EventId);
        Assert.Null(EventContext.Current);
    }

    [Fact]
    public async Task SendAsync_ContextFreeHandlerSendsAndPublishes_NestedEventsCausedByTheOuterEvent()
    {
        await using var bus = EventBus.Create();
        Guid outerId = default, midCausation = default, midCorrelation = default;
        EventHandle leaf = default;
        var queued = false;
        bus.Subscribe<Tick>(t =>
        {
            var sent = bus.SendAsync(new Mid(t.N));
            Assert.True(sent.IsCompletedSuccessfully);
            queued = bus.TryPublish(new Leaf(t.N), out leaf);
        });
        bus.Subscribe<Tick>(_ => outerId = EventContext.Current!.EventId);
        bus.Subscribe<Mid>((_, context) =>
        {
            midCausation = context.CausationId!.Value;
            midCorrelation = context.CorrelationId;
        });
        bus.Subscribe<Leaf>(static _ => { });

        await bus.SendAsync(new Tick(1));
        await leaf.AsValueTask().Within();

        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.ContextFree);
        Assert.True(queued);
        Assert.NotEqual(Guid.Empty, outerId);
        Assert.Equal(outerId, midCausation);
        Assert.Equal(outerId, midCorrelation);
        Assert.Equal(outerId, leaf.Context.CausationId);
        Assert.Equal(outerId, leaf.Context.CorrelationId);
    }

    [Fact]
    public async Task SendAsync_ContextFreePlanSentFromAHandler_EventIsTheHandlersChild()
    {
        await using var bus = EventBus.Create();
        Guid? tickCausation = null;
        Guid tickId = default;
        bus.Subscribe<Mid>(async (m, _, _) => await bus.SendAsync(new Tick(m.N)));
        bus.Subscribe<Tick>(_ =>
        {
            tickCausation = EventContext.Current!.CausationId;
            tickId = EventContext.Current.EventId;
        });

        var outcome = await bus.InvokeAsync(new Mid(1)).Within();

        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.ContextFree);
        Assert.Equal(outcome.Context.EventId, tickCausation);
        Assert.Equal([tickId], outcome.Handlers[0].ChildEventIds);
    }

    [Fact]
    public async Task SendAsync_ContextFreeHandlerThrowsAfterReadingCurrent_RestRunAndTheDeadLetterHasTheIdItSaw()
    {
        await using var bus = EventBus.Create(new EventBusOptions { DeadLetterInlineFailures = true });
        var runs = new int[3];
        var seenId = Guid.Empty;
        bus.Subscribe<Tick>(_ => runs[0]++, new SubscriptionOptions { Name = "first" });
        bus.Subscribe<Tick>(
            _ =>
            {
                runs[1]++;
                seenId = EventContext.Current!.EventId;
                throw new InvalidOperationException("second failed");
            },
            new SubscriptionOptions { Name = "second" });
        bus.Subscribe<Tick>(_ => runs[2]++, new SubscriptionOptions { Name = "third" });

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await bus.SendAsync(new Tick(1)));

        Assert.Equal("second failed", ex.Message);
        Assert.Equal([1, 1, 1], runs);
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.ContextFree);
        var letter = Assert.Single(bus.DeadLetters.List());
        Assert.Equal("second", letter.SubscriptionName);
        Assert.Equal(seenId, letter.Context.EventId);
        Assert.Null(EventContext.Current);

        // The frame is left clean: the next send runs the plan again without a context of the failed event.
        var firstId = seenId;
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await bus.SendAsync(new Tick(-1)));
        Assert.Equal([2, 2, 2], runs);
        var again = Assert.Single(bus.DeadLetters.List(), l => ((Tick)l.Context.Event).N == -1);
        Assert.Equal(seenId, again.Context.EventId);
        Assert.NotEqual(firstId, seenId);
    }

    [Fact]
    public async Task SendAsync_ContextFreeHandlerGoesAsynchronous_RestRunAfterItUnderTheSameEvent()
    {
        await using var bus = EventBus.Create();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var order = new ConcurrentQueue<string>();
        Guid beforeAwait = default, afterAwait = default, last = default;
        bus.Subscribe<Tick>(_ => order.Enqueue("first"));
        bus.Subscribe<Tick>(async _ =>
        {
            beforeAwait = EventContext.Current!.EventId;
            order.Enqueue("async started");
            await gate.Task;
            afterAwait = EventContext.Current!.EventId;
            order.Enqueue("async ended");
        });
        bus.Subscribe<Tick>(_ =>
        {
            last = EventContext.Current!.EventId;
            order.Enqueue("last");
        });

        var pending = bus.SendAsync(new Tick(1)).AsTask();
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.ContextFree);
        Assert.False(pending.IsCompleted);
        gate.SetResult();
        await pending.Within();

        Assert.Equal(["first", "async started", "async ended", "last"], order);
        Assert.NotEqual(Guid.Empty, beforeAwait);
        Assert.Equal(beforeAwait, afterAwait);
        Assert.Equal(beforeAwait, last);
        Assert.Null(EventContext.Current);
    }

    [Fact]
    public async Task SendAsync_ContextFreeAsyncHandlerFaultsWithoutObserving_RestRunAndTheSendFails()
    {
        await using var bus = EventBus.Create();
        var runs = new int[3];
        bus.Subscribe<Tick>(_ => runs[0]++);
        bus.Subscribe<Tick>(_ =>
        {
            runs[1]++;
            return ValueTask.FromException(new FormatException("faulted"));
        });
        bus.Subscribe<Tick>(_ => runs[2]++);

        await Assert.ThrowsAsync<FormatException>(async () => await bus.SendAsync(new Tick(1)));
        await Assert.ThrowsAsync<FormatException>(async () => await bus.SendAsync(new Tick(2)));

        Assert.Equal([2, 2, 2], runs);
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.ContextFree);
    }

    [Fact]
    public async Task SendAsync_ContextHandlerJoinsAndLeavesContextFreePlanDuringBurst_ItSeesTheContextOfEachEventItRanFor()
    {
        await using var bus = EventBus.Create();
        var plainRuns = 0;
        bus.Subscribe<Tick>(_ => plainRuns++);
        var phase = 0;
        var sent = 0;
        var mustSee = new ConcurrentQueue<int>();
        var saw = new ConcurrentDictionary<int, byte>();
        var wrongContexts = 0;
        using var stop = new CancellationTokenSource(TestTimeout.Default);
        var sender = Task.Run(async () =>
        {
            // Bounded by a count and the test's time limit; ends 1,000 sends after the handler left.
            var afterLeft = 0;
            for (var i = 0; i < 100_000_000 && !stop.IsCancellationRequested && afterLeft < 1_000; i++)
            {
                var at = Volatile.Read(ref phase);
                await bus.SendAsync(new Tick(i));

                // Sent wholly between the subscribe and the start of the dispose: the handler must have run for it.
                if (at == 1 && Volatile.Read(ref phase) == 1)
                    mustSee.Enqueue(i);
                else if (at == 3)
                    afterLeft++;
                Interlocked.Increment(ref sent);
            }
        });

        await TestTimeout.Until(() => Volatile.Read(ref sent) >= 1_000, what: "the burst is under way");
        var joined = bus.Subscribe<Tick>((t, context) =>
        {
            if (!ReferenceEquals(EventContext.Current, context) || !ReferenceEquals(context.Event, t) || context.Name != "plan.tick")
                Interlocked.Increment(ref wrongContexts);
            saw[t.N] = 0;
        });
        Volatile.Write(ref phase, 1);
        await TestTimeout.Until(() => mustSee.Count >= 1_000, what: "1,000 sends after the context handler joined");
        Volatile.Write(ref phase, 2);
        joined.Dispose();
        Volatile.Write(ref phase, 3);
        await sender.Within();

        Assert.Equal(0, wrongContexts);
        Assert.All(mustSee, n => Assert.True(saw.ContainsKey(n), $"event {n} sent after the handler joined did not reach it"));
        Assert.Equal(Volatile.Read(ref sent), plainRuns);
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.ContextFree);
    }

    [Fact]
    public async Task SendAsync_WarmContextFreePlanOfEightHandlers_AllocatesNothing()
    {
        await using var bus = EventBus.Create();
        var count = 0;
        for (var i = 0; i < 8; i++)
            bus.Subscribe<Tick>(_ => count++);
        var tick = new Tick(1);
        for (var i = 0; i < 100; i++)
            await bus.SendAsync(tick);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            var pending = bus.SendAsync(tick);
            Assert.True(pending.IsCompletedSuccessfully);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotNull(PlanOf<Tick>(bus, "plan.tick")?.ContextFree);
        Assert.Equal(8 * 1_100, count);
    }

    [Fact]
    public async Task SendAsync_WarmContextFreeHandlerReadingCurrent_AllocatesNothing()
    {
        await using var bus = EventBus.Create();
        var named = 0;
        bus.Subscribe<Tick>(_ => named += EventContext.Current!.Name.Length > 0 ? 1 : 0);
        var tick = new Tick(1);
        for (var i = 0; i < 100; i++)
            await bus.SendAsync(tick);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            var pending = bus.SendAsync(tick);
            Assert.True(pending.IsCompletedSuccessfully);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1_100, named);
    }

    [Fact]
    public async Task SendAsync_RandomMixOfSubscriptions_EachHandlerRunsExactlyForItsEvents()
    {
        var seed = Environment.TickCount;
        Console.WriteLine($"InlinePlanTests random mix seed: {seed}");
        await RandomMixAsync(seed, steps: 3_000, Enum.GetValues<Kind>());
    }

    [Fact]
    public async Task SendAsync_RandomMixFixedSeeds_EachHandlerRunsExactlyForItsEvents()
    {
        foreach (var seed in new[] { 1, 16, 1216, 424242 })
            await RandomMixAsync(seed, steps: 1_500, Enum.GetValues<Kind>());
    }

    /// <summary>
    /// Mostly handlers without a context parameter, so most routes get a context-free plan, mixed with the shapes that make it fall
    /// back (a context handler, an async one, one with a timeout, one that throws) and with nested sends from either kind.
    /// </summary>
    [Fact]
    public async Task SendAsync_RandomContextFreeMixFixedSeeds_EachHandlerRunsExactlyForItsEventsWithItsIds()
    {
        Kind[] kinds = [Kind.Action, Kind.Action, Kind.ActionCurrent, Kind.ActionCurrent, Kind.ActionNester, Kind.Throws, Kind.Plain, Kind.Async, Kind.Timeout, Kind.Nester];
        foreach (var seed in new[] { 7, 1616, 20261130 })
        {
            Console.WriteLine($"InlinePlanTests context-free mix seed: {seed}");
            await RandomMixAsync(seed, steps: 1_500, kinds);
        }
    }

    private enum Kind
    {
        Plain,
        Action,
        Filtered,
        Retry,
        Timeout,
        Result,
        Pattern,
        Throws,
        Nester,
        Async,

        /// <summary>An <see cref="Action{T}"/> that reads <see cref="EventContext.Current"/>.</summary>
        ActionCurrent,

        /// <summary>An <see cref="Action{T}"/> that sends a nested event synchronously.</summary>
        ActionNester,
    }

    private sealed class Slot(int id, Kind kind)
    {
        public int Id { get; } = id;
        public Kind Kind { get; } = kind;
        public ISubscription? Subscription;
        public readonly List<int> Expected = [];
        public readonly List<int> Ran = [];
    }

    /// <summary>
    /// Subscribes and disposes handlers of every shape at random between sends (some sends nested in a handler), and checks
    /// that every handler ran once for exactly the events sent while it was subscribed (and its filter accepted), that a
    /// send throws exactly when a throwing handler ran, and that a nested send is caused by its handler's event.
    /// </summary>
    private static async Task RandomMixAsync(int seed, int steps, Kind[] kinds)
    {
        var random = new Random(seed);
        await using var bus = EventBus.Create(new EventBusOptions { Name = $"plan-mix-{seed}" });
        var slots = new List<Slot>();
        var nested = new NestedSends();
        bus.Subscribe<Leaf>((_, context) =>
        {
            nested.Runs++;
            nested.LastCause = context.CausationId;
        });
        var next = 0;
        for (var step = 0; step < steps; step++)
        {
            var roll = random.Next(10);
            var active = slots.Where(s => s.Subscription is not null).ToList();
            if (roll < 2 || active.Count == 0)
            {
                var slot = new Slot(slots.Count, kinds[random.Next(kinds.Length)]);
                slot.Subscription = Subscribe(bus, slot, nested);
                slots.Add(slot);
            }
            else if (roll < 3)
            {
                var slot = active[random.Next(active.Count)];
                slot.Subscription!.Dispose();
                slot.Subscription = null;
            }
            else
            {
                var n = next++;
                var throws = false;
                var nests = 0;
                foreach (var slot in active)
                {
                    if (slot.Kind == Kind.Filtered && n % 3 != 0)
                        continue;
                    slot.Expected.Add(n);
                    throws |= slot.Kind == Kind.Throws;
                    if (slot.Kind is Kind.Nester or Kind.ActionNester)
                        nests++;
                }

                var leavesBefore = nested.Runs;
                Exception? thrown = null;
                try
                {
                    await bus.SendAsync(new Tick(n)).AsTask().Within();
                }
                catch (Exception ex)
                {
                    thrown = ex;
                }

                if (throws)
                    Assert.True(thrown is InvalidOperationException or AggregateException, $"seed {seed}, event {n}: expected a failure, got {thrown?.GetType().Name ?? "none"}");
                else
                    Assert.True(thrown is null, $"seed {seed}, event {n}: unexpected {thrown}");
                Assert.True(nested.Runs - leavesBefore == nests, $"seed {seed}, event {n}: {nested.Runs - leavesBefore} nested sends handled, expected {nests}");
            }
        }

        foreach (var slot in slots)
            Assert.True(slot.Expected.SequenceEqual(slot.Ran), $"seed {seed}, slot {slot.Id} ({slot.Kind}): expected [{string.Join(",", slot.Expected)}], ran [{string.Join(",", slot.Ran)}]");
        Assert.True(nested.WrongCauses == 0, $"seed {seed}: {nested.WrongCauses} nested sends not caused by their handler's event");
        Assert.True(nested.WrongIds == 0, $"seed {seed}: {nested.WrongIds} handlers saw another id or event than the other handlers of their event");
        Assert.True(next > steps / 2, $"seed {seed}: only {next} sends");
    }

    private sealed class NestedSends
    {
        public int Runs;
        public Guid? LastCause;
        public int WrongCauses;
        public int WrongIds;

        /// <summary>The id the handlers of each event saw; every handler of one event sees the same, no two events share one.</summary>
        public readonly Dictionary<int, Guid> Ids = [];
        public readonly HashSet<Guid> Used = [];

        public void Saw(Tick tick, EventContext? context)
        {
            if (context is null || !ReferenceEquals(context.Event, tick) || context.CausationId is not null)
            {
                WrongIds++;
                return;
            }

            if (Ids.TryGetValue(tick.N, out var id))
            {
                if (id != context.EventId)
                    WrongIds++;
            }
            else if (Used.Add(context.EventId))
            {
                Ids[tick.N] = context.EventId;
            }
            else
            {
                WrongIds++;
            }
        }
    }

    private static ISubscription Subscribe(IEventBus bus, Slot slot, NestedSends nested)
    {
        var attempts = new Dictionary<int, int>();
        switch (slot.Kind)
        {
            case Kind.Plain:
                return bus.Subscribe<Tick>((t, context, _) =>
                {
                    slot.Ran.Add(t.N);
                    nested.Saw(t, context);
                    return ValueTask.CompletedTask;
                });
            case Kind.ActionCurrent:
                return bus.Subscribe<Tick>(t =>
                {
                    slot.Ran.Add(t.N);
                    nested.Saw(t, EventContext.Current);
                });
            case Kind.ActionNester:
                return bus.Subscribe<Tick>(t =>
                {
                    slot.Ran.Add(t.N);
                    nested.LastCause = null;
                    var sent = bus.SendAsync(new Leaf(t.N));
                    if (!sent.IsCompletedSuccessfully || nested.LastCause != EventContext.Current?.EventId)
                        nested.WrongCauses++;
                    nested.Saw(t, EventContext.Current);
                });
            case Kind.Action:
                return bus.Subscribe<Tick>(t => slot.Ran.Add(t.N));
            case Kind.Filtered:
                return bus.Subscribe<Tick>(t => slot.Ran.Add(t.N), new SubscriptionOptions { Filter = static (e, _) => ((Tick)e).N % 3 == 0 });
            case Kind.Retry:
                return bus.Subscribe<Tick>(
                    t =>
                    {
                        attempts[t.N] = attempts.GetValueOrDefault(t.N) + 1;
                        if (attempts[t.N] == 1)
                            throw new TimeoutException("transient");
                        slot.Ran.Add(t.N);
                    },
                    new SubscriptionOptions { Retry = RetryPolicy.Constant(2, TimeSpan.Zero) });
            case Kind.Timeout:
                return bus.Subscribe<Tick>(t => slot.Ran.Add(t.N), new SubscriptionOptions { HandlerTimeout = TimeSpan.FromHours(1) });
            case Kind.Result:
                return bus.Subscribe<Tick, int>((t, _, _) =>
                {
                    slot.Ran.Add(t.N);
                    return ValueTask.FromResult(t.N);
                });
            case Kind.Pattern:
                return bus.Subscribe("plan.*", (e, _) =>
                {
                    if (e is Tick t)
                        slot.Ran.Add(t.N);
                });
            case Kind.Throws:
                return bus.Subscribe<Tick>(t =>
                {
                    slot.Ran.Add(t.N);
                    throw new InvalidOperationException($"slot {slot.Id}");
                });
            case Kind.Nester:
                return bus.Subscribe<Tick>(async (t, context, _) =>
                {
                    slot.Ran.Add(t.N);
                    nested.Saw(t, context);
                    nested.LastCause = null;
                    await bus.SendAsync(new Leaf(t.N));
                    if (nested.LastCause != context.EventId)
                        nested.WrongCauses++;
                });
            default:
                return bus.Subscribe<Tick>(async (t, _, _) =>
                {
                    await Task.Yield();
                    slot.Ran.Add(t.N);
                });
        }
    }

    private sealed class NonNegativeTick : IEventValidator<Tick>
    {
        public void Validate(Tick @event, ICollection<ValidationResult> errors)
        {
            if (@event.N < 0)
                errors.Add(new ValidationResult("N must not be negative.", ["N"]));
        }
    }
}

/// <summary>A listener that attaches while a route has a plan sends the route's next events through the dispatcher.</summary>
[Collection(nameof(GlobalListenerCollection))]
public class InlinePlanListenerTests
{
    [Fact]
    public async Task SendAsync_TracingListenerAttaches_NextSendsGetAHandlerSpanEach()
    {
        var name = "plan-tracing-" + Guid.NewGuid().ToString("N");
        await using var bus = EventBus.Create(new EventBusOptions { Name = name });
        bus.Subscribe<InlinePlanTests.Tick>(_ => { }, new SubscriptionOptions { Name = "one" });
        bus.Subscribe<InlinePlanTests.Tick>(_ => { }, new SubscriptionOptions { Name = "two" });
        await bus.SendAsync(new InlinePlanTests.Tick(0));
        Assert.NotNull(InlinePlanTests.PlanOf<InlinePlanTests.Tick>(bus, "plan.tick")?.Handlers);

        using var recorder = new SpanRecorder();
        await bus.SendAsync(new InlinePlanTests.Tick(1));

        var spans = recorder.For(name);
        Assert.Equal(["one", "two"], spans.Select(s => (string?)s.GetTagItem("messaging.destination.subscription.name")));
    }

    [Fact]
    public async Task SendAsync_DurationListenerAttaches_NextSendsRecordEachHandler()
    {
        var name = "plan-metrics-" + Guid.NewGuid().ToString("N");
        await using var bus = EventBus.Create(new EventBusOptions { Name = name });
        bus.Subscribe<InlinePlanTests.Tick>(_ => { }, new SubscriptionOptions { Name = "one" });
        bus.Subscribe<InlinePlanTests.Tick>(_ => { }, new SubscriptionOptions { Name = "two" });
        await bus.SendAsync(new InlinePlanTests.Tick(0));

        var recorded = new ConcurrentQueue<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Busbar" && instrument.Name == "messaging.process.duration")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
        {
            string? bus = null, subscription = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "busbar.bus")
                    bus = tag.Value as string;
                else if (tag.Key == "messaging.destination.subscription.name")
                    subscription = tag.Value as string;
            }

            if (bus == name && subscription is not null)
                recorded.Enqueue(subscription);
        });
        listener.Start();
        await bus.SendAsync(new InlinePlanTests.Tick(1));

        Assert.Equal(["one", "two"], recorded);
    }
}
