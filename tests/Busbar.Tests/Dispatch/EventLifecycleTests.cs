using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Dispatch;

public class EventLifecycleTests
{
    [EventName("chain.parent")]
    public sealed record Parent(int N);

    [EventName("chain.child")]
    public sealed record Child(int N);

    [EventName("chain.grandchild")]
    public sealed record Grandchild(int N);

    [Fact]
    public async Task Causation_ThreeLevelChain_IdsLinked()
    {
        await using var bus = EventBus.Create();
        var contexts = new ConcurrentDictionary<string, EventContext>();
        bus.Subscribe<Parent>(async (e, ctx, ct) =>
        {
            contexts["parent"] = ctx;
            await bus.PublishAsync(new Child(e.N), cancellationToken: ct);
        }, new SubscriptionOptions { Name = "parent-handler" });
        bus.Subscribe<Child>((e, ctx, _) =>
        {
            contexts["child"] = ctx;
            Assert.Same(ctx, EventContext.Current);
            return new ValueTask(bus.PublishAsync(new Grandchild(e.N)).AsTask());
        });
        bus.Subscribe<Grandchild>((_, ctx, _) =>
        {
            contexts["grandchild"] = ctx;
            return ValueTask.CompletedTask;
        });
        var root = await bus.PublishAsync(new Parent(1));
        var outcome = await root.AsValueTask().Within();
        await TestTimeout.Until(() => contexts.ContainsKey("grandchild"));
        var (p, c, g) = (contexts["parent"], contexts["child"], contexts["grandchild"]);
        Assert.Null(p.CausationId);
        Assert.Equal(p.EventId, p.CorrelationId);
        Assert.Equal(p.EventId, c.CausationId);
        Assert.Equal(p.CorrelationId, c.CorrelationId);
        Assert.Equal(c.EventId, g.CausationId);
        Assert.Equal(p.CorrelationId, g.CorrelationId);
        Assert.Equal([c.EventId], outcome.Handlers[0].ChildEventIds);
        Assert.Equal(7, p.EventId.Version);
    }

    [Fact]
    public async Task EventId_ReadByPublisherAndHandlerAtOnce_IsTheSame()
    {
        await using var bus = EventBus.Create();
        var seen = new ConcurrentDictionary<int, Guid>();
        bus.Subscribe<Ping>((p, ctx, _) =>
        {
            seen[p.Value] = ctx.EventId;
            return ValueTask.CompletedTask;
        });
        var handles = new List<EventHandle>();
        for (var i = 0; i < 500; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        var ids = handles.Select(h => h.EventId).ToArray();
        await handles[^1].AsValueTask().Within();
        for (var i = 0; i < 500; i++)
            Assert.Equal(ids[i], seen[i]);
        Assert.Equal(500, ids.Distinct().Count());
    }

    [Fact]
    public async Task Causation_FromSyncHandlerAndTaskRun_Inherited()
    {
        await using var bus = EventBus.Create();
        var children = new ConcurrentQueue<EventContext>();
        bus.Subscribe<Parent>(p => bus.TryPublish(new Child(1), out _));
        bus.Subscribe<Parent>(async (p, _, _) => await Task.Run(async () => await bus.PublishAsync(new Child(2))));
        bus.Subscribe<Child>((_, ctx, _) =>
        {
            children.Enqueue(ctx);
            return ValueTask.CompletedTask;
        });
        var root = await bus.PublishAsync(new Parent(1));
        await root.AsValueTask().Within();
        await TestTimeout.Until(() => children.Count == 2);
        Assert.All(children, c =>
        {
            Assert.Equal(root.EventId, c.CausationId);
            Assert.Equal(root.Context.CorrelationId, c.CorrelationId);
        });
    }

    [Fact]
    public async Task Causation_ExplicitIdsNeverOverwritten()
    {
        await using var bus = EventBus.Create();
        var correlation = Guid.NewGuid();
        var causation = Guid.NewGuid();
        var id = Guid.CreateVersion7();
        EventContext? seen = null;
        bus.Subscribe<Parent>(async (_, _, _) => await bus.PublishAsync(new Child(1), new PublishOptions { CorrelationId = correlation, CausationId = causation, EventId = id }));
        bus.Subscribe<Child>((_, ctx, _) =>
        {
            seen = ctx;
            return ValueTask.CompletedTask;
        });
        await (await bus.PublishAsync(new Parent(1))).AsValueTask().Within();
        await TestTimeout.Until(() => seen is not null);
        Assert.Equal(correlation, seen!.CorrelationId);
        Assert.Equal(causation, seen.CausationId);
        Assert.Equal(id, seen.EventId);
    }

    [Fact]
    public async Task QueueJump_AwaitedChildRunsBeforeQueuedEvents_OthersStayFifo()
    {
        await using var bus = EventBus.Create();
        var order = new ConcurrentQueue<string>();
        var e1Started = new TaskCompletionSource();
        var proceed = new TaskCompletionSource();
        bus.Subscribe<Parent>(async (p, _, _) =>
        {
            if (p.N == 1)
            {
                e1Started.SetResult();
                await proceed.Task;
                order.Enqueue("E1 start");
                var child = await bus.PublishAsync(new Child(1));
                var outcome = await child;
                Assert.Equal(EventStatus.Completed, outcome.Status);
                var again = await child;
                Assert.Same(outcome, again);
                order.Enqueue("E1 end");
            }
            else
            {
                order.Enqueue($"E{p.N}");
            }
        });
        bus.Subscribe<Child>(_ => order.Enqueue("child"));
        var e1 = await bus.PublishAsync(new Parent(1));
        await e1Started.Task.Within();
        var e2 = await bus.PublishAsync(new Parent(2));
        var e3 = await bus.PublishAsync(new Parent(3));
        proceed.SetResult();
        await e3.AsValueTask().Within();
        Assert.Equal(["E1 start", "child", "E1 end", "E2", "E3"], order);
        _ = e1;
        _ = e2;
    }

    [Fact]
    public async Task QueueJump_ChildNotAwaited_RunsLaterInFifo()
    {
        await using var bus = EventBus.Create();
        var order = new ConcurrentQueue<string>();
        bus.Subscribe<Parent>(async (p, _, _) =>
        {
            await bus.PublishAsync(new Child(p.N));
            order.Enqueue($"P{p.N}");
        });
        bus.Subscribe<Child>(c => order.Enqueue($"C{c.N}"));
        await bus.PublishAsync(new Parent(1));
        var last = await bus.PublishAsync(new Parent(2));
        await last.AsValueTask().Within();
        await TestTimeout.Until(() => order.Count == 4);
        Assert.Equal(["P1", "P2", "C1", "C2"], order);
    }

    [Fact]
    public async Task QueueJump_TwoConcurrentAwaiters_BothResolve()
    {
        await using var bus = EventBus.Create();
        var gate = new TaskCompletionSource();
        bus.Subscribe<Child>(async (_, _, _) => await gate.Task);
        var handle = await bus.PublishAsync(new Child(1));
        var a = handle.AsValueTask().AsTask();
        var b = handle.AsValueTask().AsTask();
        gate.SetResult();
        var both = await Task.WhenAll(a, b).Within();
        Assert.Same(both[0], both[1]);
    }

    [Fact]
    public async Task Timeout_PerHandler_RecordedTimedOutAndBusGoesOn()
    {
        await using var bus = EventBus.Create();
        var later = 0;
        bus.Subscribe<Ping>(async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct), new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(50), Name = "slow" });
        bus.Subscribe<Ping>(_ => later++);
        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        Assert.Equal(HandlerStatus.TimedOut, outcome.Handlers[0].Status);
        Assert.IsType<HandlerTimeoutException>(outcome.Handlers[0].Exception);
        Assert.Equal(1, later);
    }

    [Fact]
    public async Task Timeout_HandlerIgnoringCancellation_AbandonedWithoutBlockingBus()
    {
        await using var bus = EventBus.Create();
        var never = new TaskCompletionSource();
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            if (p.Value == 1)
                await never.Task;
        }, new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(30) });
        var first = await bus.PublishAsync(new Ping(1));
        var second = await bus.PublishAsync(new Ping(2));
        Assert.Equal(EventStatus.TimedOut, (await first.AsValueTask().Within()).Status);
        Assert.Equal(EventStatus.Completed, (await second.AsValueTask().Within()).Status);
        never.SetResult();
    }

    [Fact]
    public async Task Timeout_Layered_SubscriptionOverPublishOverBus()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).WithOptions(new EventBusOptions { HandlerTimeout = TimeSpan.FromSeconds(30) }).Build();
        var tokens = new ConcurrentDictionary<string, CancellationToken>();
        bus.Subscribe<Ping>(async (_, _, ct) => { tokens["sub"] = ct; await Task.Delay(Timeout.Infinite, ct); }, new SubscriptionOptions { Name = "sub", HandlerTimeout = TimeSpan.FromSeconds(1) });
        bus.Subscribe<Ping>(async (_, _, ct) => { tokens["pub"] = ct; await Task.Delay(Timeout.Infinite, ct); }, new SubscriptionOptions { Name = "pub" });
        var handle = await bus.PublishAsync(new Ping(1), new PublishOptions { HandlerTimeout = TimeSpan.FromSeconds(5), HandlerConcurrency = HandlerConcurrency.Parallel });
        await TestTimeout.Until(() => tokens.Count == 2);
        time.Advance(TimeSpan.FromSeconds(1));
        await TestTimeout.Until(() => tokens["sub"].IsCancellationRequested);
        Assert.False(tokens["pub"].IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(4));
        var outcome = await handle.AsValueTask().Within();
        Assert.All(outcome.Handlers, h => Assert.Equal(HandlerStatus.TimedOut, h.Status));
    }

    [Fact]
    public async Task Deadline_PassedBeforeStart_AllHandlersTimedOut()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var gate = new TaskCompletionSource();
        var ran = 0;
        bus.Subscribe<OrderPlaced>(async (_, _, _) => await gate.Task);
        bus.Subscribe<Ping>(_ => ran++);
        await bus.PublishAsync(new OrderPlaced(1));
        var handle = await bus.PublishAsync(new Ping(1), new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(1) });
        time.Advance(TimeSpan.FromSeconds(2));
        gate.SetResult();
        var outcome = await handle.AsValueTask().Within();
        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        Assert.Equal(0, ran);
    }

    [Fact]
    public async Task SlowHandler_CountedNotCancelled()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).WithOptions(new EventBusOptions { SlowHandlerThreshold = TimeSpan.FromSeconds(1) }).Build();
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        bus.Subscribe<Ping>(async (_, _, _) =>
        {
            started.SetResult();
            await release.Task;
        });
        var handle = await bus.PublishAsync(new Ping(1));
        await started.Task.Within();
        time.Advance(TimeSpan.FromSeconds(2));
        release.SetResult();
        Assert.Equal(EventStatus.Completed, (await handle.AsValueTask().Within()).Status);
        Assert.Equal(1, bus.GetStatistics().SlowHandlers);
    }

    [Fact]
    public async Task Retry_FlakyHandler_SucceedsOnAttempt3()
    {
        await using var bus = EventBus.Create();
        var attempts = new ConcurrentQueue<int>();
        bus.Subscribe<Ping>((_, ctx, _) =>
        {
            attempts.Enqueue(ctx.Attempt);
            if (attempts.Count < 3)
                throw new IOException("flaky");
            return ValueTask.CompletedTask;
        }, new SubscriptionOptions { Name = "flaky", Retry = RetryPolicy.Constant(5, TimeSpan.Zero) });
        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(3, outcome.Handlers[0].Attempts);
        Assert.Equal([1, 2, 3], attempts);
        Assert.Equal(2, bus.GetStatistics().Retried);
        Assert.Equal(0, bus.DeadLetters.Count);
    }

    [Fact]
    public async Task Retry_OnlyMatchingExceptions()
    {
        await using var bus = EventBus.Create();
        var calls = 0;
        bus.Subscribe<Ping>((_, _, _) =>
        {
            calls++;
            throw new ArgumentException("not transient");
        }, new SubscriptionOptions { Retry = RetryPolicy.Constant(5, TimeSpan.Zero) with { ShouldRetry = ex => ex is IOException } });
        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        Assert.Equal(1, calls);
        Assert.Equal(1, outcome.Handlers[0].Attempts);
    }

    [Fact]
    public async Task Retry_ExponentialBackoff_UsesTimeProvider()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var calls = 0;
        bus.Subscribe<Ping>((_, _, _) =>
        {
            Interlocked.Increment(ref calls);
            throw new IOException("down");
        }, new SubscriptionOptions { Retry = new RetryPolicy { MaxAttempts = 3, Delay = TimeSpan.FromSeconds(10), UseJitter = false } });
        var handle = await bus.PublishAsync(new Ping(1));
        await TestTimeout.Until(() => Volatile.Read(ref calls) == 1);

        // Polly arms the first (10 s) delay just after the first attempt's exception reaches it, which on a
        // loaded machine can be after this point: move the clock a second at a time until the second attempt
        // runs; it cannot run before 10 s have passed since then.
        var advanced = TimeSpan.Zero;
        await TestTimeout.Until(() =>
        {
            if (Volatile.Read(ref calls) >= 2)
                return true;
            time.Advance(TimeSpan.FromSeconds(1));
            advanced += TimeSpan.FromSeconds(1);
            return false;
        });
        Assert.Equal(2, Volatile.Read(ref calls));
        Assert.True(advanced >= TimeSpan.FromSeconds(10), $"the second attempt ran after {advanced} of back-off");

        // Polly arms the next (20 s) delay only after the second attempt's exception reaches it, so
        // keep moving the fake clock until the third attempt has run.
        await TestTimeout.Until(() =>
        {
            time.Advance(TimeSpan.FromSeconds(5));
            return handle.IsCompleted;
        });
        var outcome = await handle.AsValueTask().Within();
        Assert.Equal(3, calls);
        Assert.Equal(EventStatus.Failed, outcome.Status);
    }

    [Fact]
    public async Task DeadLetter_PoisonAfterExactlyNAttempts_OthersKeepFlowing()
    {
        await using var bus = EventBus.Create();
        var calls = new ConcurrentDictionary<int, int>();
        bus.Subscribe<Ping>((p, _, _) =>
        {
            calls.AddOrUpdate(p.Value, 1, (_, v) => v + 1);
            if (p.Value == 13)
                throw new InvalidDataException("poison");
            return ValueTask.CompletedTask;
        }, new SubscriptionOptions { Name = "orders", Retry = RetryPolicy.Constant(4, TimeSpan.Zero) });
        var handles = new List<EventHandle>();
        for (var i = 0; i < 30; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        foreach (var h in handles)
            await h.AsValueTask().Within();
        Assert.Equal(4, calls[13]);
        Assert.All(calls.Where(kv => kv.Key != 13), kv => Assert.Equal(1, kv.Value));
        var letter = Assert.Single(bus.DeadLetters.List());
        Assert.Equal(4, letter.Attempts);
        Assert.Equal("orders", letter.SubscriptionName);
        Assert.Equal(13, ((Ping)letter.Context.Event).Value);
        Assert.IsType<InvalidDataException>(letter.Exception);
        Assert.Equal(typeof(InvalidDataException).FullName, letter.ExceptionType);
        Assert.Equal(1, bus.GetStatistics().DeadLettered);
    }

    [Fact]
    public async Task DeadLetter_Redrive_RunsAgainAndRemoves()
    {
        await using var bus = EventBus.Create();
        var broken = true;
        var attempts = new ConcurrentQueue<int>();
        bus.Subscribe<Ping>((_, ctx, _) =>
        {
            attempts.Enqueue(ctx.Attempt);
            if (broken)
                throw new InvalidOperationException("down");
            return ValueTask.CompletedTask;
        }, new SubscriptionOptions { Name = "fixable" });
        await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();
        var letter = Assert.Single(bus.DeadLetters.List());
        broken = false;
        var outcome = await bus.DeadLetters.RedriveAsync(letter.Id).Within();
        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(0, bus.DeadLetters.Count);
        Assert.Equal([1, 2], attempts);
        Assert.Equal(letter.Context.EventId, outcome.Context.EventId);
        await Assert.ThrowsAsync<KeyNotFoundException>(async () => await bus.DeadLetters.RedriveAsync(letter.Id));
    }

    [Fact]
    public async Task DeadLetter_Bounded_EvictsOldestAndCounts()
    {
        await using var bus = EventBus.Create(new EventBusOptions { DeadLetterCapacity = 3 });
        bus.Subscribe<Ping>((_, _, _) => throw new InvalidOperationException("x"));
        EventHandle last = default;
        for (var i = 0; i < 5; i++)
            last = await bus.PublishAsync(new Ping(i));
        await last.AsValueTask().Within();
        Assert.Equal(3, bus.DeadLetters.Count);
        Assert.Equal(2, bus.DeadLetters.Evicted);
        Assert.Equal([2, 3, 4], bus.DeadLetters.List().Select(d => ((Ping)d.Context.Event).Value));
    }

    [Fact]
    public async Task WaitForAsync_RacingPublish10000Times_NeverMisses()
    {
        await using var bus = EventBus.Create(new EventBusOptions { HistoryCapacity = 64, Capacity = 100_000 });
        for (var i = 0; i < 10_000; i++)
        {
            var n = i;
            var publish = Task.Run(async () => await bus.PublishAsync(new Ping(n)));
            var found = await bus.WaitForAsync<Ping>((p, _) => p.Value == n, TimeSpan.FromSeconds(10)).Within();
            Assert.True(found.HasValue);
            Assert.Equal(n, found.Value.Event.Value);
            await publish;
        }
    }

    [Fact]
    public async Task WaitForAsync_Timeout_ReturnsNull()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var wait = bus.WaitForAsync<Ping>(null, TimeSpan.FromSeconds(5)).AsTask();
        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Null(await wait.Within());
    }

    [Fact]
    public async Task WaitForAsync_PatternAndChildOf()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Parent>(async (p, _, _) => await bus.PublishAsync(new Child(p.N)));
        bus.Subscribe<Child>(async (c, _, _) => await bus.PublishAsync(new Grandchild(c.N)));
        var other = await bus.PublishAsync(new Grandchild(99));
        var root = await bus.PublishAsync(new Parent(1));
        var found = await bus.WaitForAsync("chain.grandchild", null, TimeSpan.FromSeconds(10), new WaitOptions { ChildOf = root.EventId }).Within();
        Assert.True(found.HasValue);
        Assert.Equal(1, ((Grandchild)found.Value.Event).N);
        Assert.NotEqual(other.EventId, found.Value.Context.EventId);
    }

    [Fact]
    public async Task WaitForAsync_LookBackZero_OnlyFuture()
    {
        await using var bus = EventBus.Create();
        await bus.PublishAsync(new Ping(1));
        var wait = bus.WaitForAsync<Ping>(null, TimeSpan.FromSeconds(10), new WaitOptions { LookBack = TimeSpan.Zero }).AsTask();
        var second = await bus.PublishAsync(new Ping(2));
        var found = await wait.Within();
        Assert.Equal(second.EventId, found!.Value.Context.EventId);
    }

    [Fact]
    public async Task History_BoundedAndQueryable()
    {
        await using var bus = EventBus.Create(new EventBusOptions { HistoryCapacity = 10 });
        for (var i = 0; i < 25; i++)
            await bus.PublishAsync(new Ping(i));
        await bus.PublishAsync(new OrderPlaced(1));
        var pings = bus.History<Ping>();
        Assert.Equal(9, pings.Count);
        Assert.Equal(Enumerable.Range(16, 9), pings.Select(h => ((Ping)h.Context.Event).Value));
        _ = Assert.Single(bus.History("orders.*"));
        Assert.Equal(3, bus.History<Ping>((p, _) => p.Value > 21).Count);
    }

    [Fact]
    public async Task ForwardTo_Cycle_EachBusHandlesOnce()
    {
        await using var a = EventBus.Create(new EventBusOptions { Name = "A" });
        await using var b = EventBus.Create(new EventBusOptions { Name = "B" });
        await using var c = EventBus.Create(new EventBusOptions { Name = "C" });
        var seen = new ConcurrentQueue<(string Bus, Guid Id, int Hops)>();
        foreach (var bus in new[] { a, b, c })
        {
            var name = bus.Name;
            bus.Subscribe<Ping>((_, ctx, _) =>
            {
                seen.Enqueue((name, ctx.EventId, ctx.Path.Count));
                return ValueTask.CompletedTask;
            });
        }

        a.ForwardTo(b);
        b.ForwardTo(c);
        c.ForwardTo(a);
        var handle = await a.PublishAsync(new Ping(1));
        await TestTimeout.Until(() => seen.Count == 3);
        await TestTimeout.Until(() => a.GetStatistics().InFlight == 0 && b.GetStatistics().InFlight == 0 && c.GetStatistics().InFlight == 0);
        Assert.Equal(3, seen.Count);
        Assert.Equal(["A", "B", "C"], seen.Select(s => s.Bus).Order());
        Assert.All(seen, s => Assert.Equal(handle.EventId, s.Id));
        Assert.Equal(1, a.GetStatistics().Processed);
    }

    [Fact]
    public async Task ForwardTo_WaitForTarget_OriginalWaitsForTargetHandlers()
    {
        await using var a = EventBus.Create();
        await using var b = EventBus.Create();
        var release = new TaskCompletionSource();
        var targetDone = false;
        b.Subscribe<Ping>(async (_, _, _) =>
        {
            await release.Task;
            targetDone = true;
        });
        a.ForwardTo(b, "test.*", new ForwardOptions { WaitForTarget = true });
        var handle = await a.PublishAsync(new Ping(1));
        var awaiting = handle.AsValueTask().AsTask();
        Assert.False(awaiting.IsCompleted);
        release.SetResult();
        await awaiting.Within();
        Assert.True(targetDone);
    }

    public sealed record Signup([property: Required, EmailAddress] string Email, [property: Range(18, 130)] int Age);

    private sealed class NoTestDomains : IEventValidator<Signup>
    {
        public void Validate(Signup e, ICollection<ValidationResult> errors)
        {
            if (e.Email.EndsWith("@test.invalid", StringComparison.Ordinal))
                errors.Add(new ValidationResult("test domains are not allowed", [nameof(Signup.Email)]));
        }
    }

    [Fact]
    public async Task Validation_InvalidEvent_NoTraceInQueueHistoryOrCounters()
    {
#pragma warning disable IL2026
        await using var bus = new EventBusBuilder().UseDataAnnotations().AddValidator(new NoTestDomains()).Build();
#pragma warning restore IL2026
        var handled = 0;
        bus.Subscribe<Signup>(_ => handled++);
        var ex = await Assert.ThrowsAsync<EventValidationException>(async () => await bus.PublishAsync(new Signup("not-an-email", 12)));
        Assert.Contains(ex.Errors, e => e.MemberNames.Contains("Email"));
        Assert.Contains(ex.Errors, e => e.MemberNames.Contains("Age"));
        Assert.Contains("Age", ex.Message, StringComparison.Ordinal);
        var custom = await Assert.ThrowsAsync<EventValidationException>(async () => await bus.PublishAsync(new Signup("a@test.invalid", 30)));
        Assert.Contains("test domains", custom.Message, StringComparison.Ordinal);
        Assert.Throws<EventValidationException>(() => bus.TryPublish(new Signup("x", 1), out _));
        var stats = bus.GetStatistics();
        Assert.Equal(0, stats.Published);
        Assert.Equal(0, stats.QueueDepth);
        Assert.Empty(bus.History<Signup>());
        Assert.Equal(0, handled);
        var ok = await bus.PublishAsync(new Signup("a@example.com", 30));
        Assert.Equal(EventStatus.Completed, (await ok.AsValueTask().Within()).Status);
    }

    [Fact]
    public async Task PublishBatchAsync_AdmitsInOrder_InvalidBatchAdmitsNone()
    {
        await using var bus = new EventBusBuilder().AddValidator(new PositiveOnly()).Build();
        var seen = new ConcurrentQueue<int>();
        bus.Subscribe<Ping>(p => seen.Enqueue(p.Value));
        var handles = await bus.PublishBatchAsync(Enumerable.Range(0, 100).Select(i => new Ping(i)));
        await handles[^1].AsValueTask().Within();
        Assert.Equal(Enumerable.Range(0, 100), seen);
        await Assert.ThrowsAsync<EventValidationException>(async () => await bus.PublishBatchAsync([new Ping(1), new Ping(-1)]));
        Assert.Equal(100, bus.GetStatistics().Published);
    }

    private sealed class PositiveOnly : IEventValidator<Ping>
    {
        public void Validate(Ping e, ICollection<ValidationResult> errors)
        {
            if (e.Value < 0)
                errors.Add(new ValidationResult("must not be negative", [nameof(Ping.Value)]));
        }
    }
}
