using System.Collections.Concurrent;
using Busbar.Dispatch;
using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Tests.Engine;

/// <summary>
/// Middleware around handler invocations (<see cref="IEventMiddleware"/>, <see cref="EventBusBuilder.Use(IEventMiddleware)"/>):
/// order, short-circuit, failures, typed middleware, every dispatch source, and the fast path's fallback.
/// </summary>
public sealed class MiddlewareTests : IDisposable
{
    private readonly string _walDirectory = Path.Combine(Path.GetTempPath(), "busbar-middleware-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_walDirectory))
            Directory.Delete(_walDirectory, recursive: true);
    }

    /// <summary>Writes "name&gt;" before calling next and "&lt;name" after.</summary>
    private sealed class Recorder(string name, ConcurrentQueue<string> log) : IEventMiddleware
    {
        public async ValueTask InvokeAsync(HandlerInvocation invocation, HandlerDelegate next)
        {
            log.Enqueue($"{name}>");
            await next(invocation);
            log.Enqueue($"<{name}");
        }
    }

    /// <summary>Counts the order events it sees; passes them on.</summary>
    private sealed class OrderCounter : IEventMiddleware<IOrderEvent>
    {
        public ConcurrentQueue<int> Seen { get; } = new();

        public ValueTask InvokeAsync(IOrderEvent @event, HandlerInvocation invocation, HandlerDelegate next)
        {
            Seen.Enqueue(@event.OrderId);
            return next(invocation);
        }
    }

    [Fact]
    public async Task Use_SeveralMiddlewares_RunInRegistrationOrderFirstOutermost()
    {
        var log = new ConcurrentQueue<string>();
        await using var bus = new EventBusBuilder()
            .Use(new Recorder("a", log))
            .Use(async (invocation, next) =>
            {
                log.Enqueue("b>");
                await next(invocation);
                log.Enqueue("<b");
            })
            .Use(new Recorder("c", log))
            .Build();
        bus.Subscribe<Ping>(async (_, _, _) =>
        {
            await Task.Yield();
            log.Enqueue("handler");
        });

        var outcome = await bus.PublishAndWaitAsync(new Ping(1)).Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(["a>", "b>", "c>", "handler", "<c", "<b", "<a"], log);
    }

    [Fact]
    public async Task Use_MiddlewareDoesNotCallNext_HandlerSkippedAndEventCompleted()
    {
        var ran = 0;
        await using var bus = new EventBusBuilder()
            .Use((invocation, next) => invocation.Subscription.Name == "blocked" ? ValueTask.CompletedTask : next(invocation))
            .Build();
        bus.Subscribe<Ping>(_ => Interlocked.Increment(ref ran), new SubscriptionOptions { Name = "blocked" });
        bus.Subscribe<Ping>(_ => Interlocked.Increment(ref ran), new SubscriptionOptions { Name = "open" });

        var outcome = await bus.PublishAndWaitAsync(new Ping(1)).Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(1, ran);
        var blocked = Assert.Single(outcome.Handlers, h => h.SubscriptionName == "blocked");
        Assert.Equal(HandlerStatus.Skipped, blocked.Status);
        Assert.Equal(1, blocked.Attempts);
        Assert.Equal(HandlerStatus.Succeeded, Assert.Single(outcome.Handlers, h => h.SubscriptionName == "open").Status);
        Assert.Equal(0, bus.DeadLetters.Count);
    }

    [Fact]
    public async Task Use_FirstCompletionAndTheFirstHandlerSkipped_TheNextHandlerWins()
    {
        var ran = new ConcurrentQueue<string>();
        await using var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Completion = CompletionMode.First })
            .Use((invocation, next) => invocation.Subscription.Name == "cache" ? ValueTask.CompletedTask : next(invocation))
            .Build();
        bus.Subscribe<Ping, string>((_, _, _) => { ran.Enqueue("cache"); return new ValueTask<string>("cached"); }, new SubscriptionOptions { Name = "cache", Priority = 1 });
        bus.Subscribe<Ping, string>((_, _, _) => { ran.Enqueue("store"); return new ValueTask<string>("stored"); }, new SubscriptionOptions { Name = "store" });

        var outcome = await bus.InvokeAsync(new Ping(1)).Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal("stored", outcome.FirstResult<string>());
        Assert.Equal(["store"], ran);
        Assert.Equal([HandlerStatus.Skipped, HandlerStatus.Succeeded], outcome.Handlers.Select(h => h.Status));
    }

    [Fact]
    public async Task Use_MiddlewareObservesAndRethrowsHandlerException_RetriedThenDeadLettered()
    {
        var observed = new ConcurrentQueue<(int Attempt, string Message)>();
        await using var bus = new EventBusBuilder()
            .Use(async (invocation, next) =>
            {
                try
                {
                    await next(invocation);
                }
                catch (InvalidOperationException ex)
                {
                    observed.Enqueue((invocation.Context.Attempt, ex.Message));
                    throw;
                }
            })
            .Build();
        bus.Subscribe<Ping>(
            (_, _, _) => throw new InvalidOperationException("boom"),
            new SubscriptionOptions { Name = "failing", Retry = RetryPolicy.Constant(3, TimeSpan.FromMilliseconds(1)) });

        var outcome = await bus.PublishAndWaitAsync(new Ping(1)).Within();

        Assert.Equal(EventStatus.Failed, outcome.Status);
        var result = Assert.Single(outcome.Handlers);
        Assert.Equal(HandlerStatus.Failed, result.Status);
        Assert.Equal(3, result.Attempts);
        Assert.Equal([(1, "boom"), (2, "boom"), (3, "boom")], observed);
        var letter = Assert.Single(bus.DeadLetters.List());
        Assert.Equal("failing", letter.SubscriptionName);
        Assert.IsType<InvalidOperationException>(letter.Exception);
    }

    [Fact]
    public async Task Use_MiddlewareSwallowsHandlerException_InvocationSucceeds()
    {
        await using var bus = new EventBusBuilder()
            .Use(async (invocation, next) =>
            {
                try
                {
                    await next(invocation);
                }
                catch (InvalidOperationException)
                {
                    // Handled here: the handler's failure is not the event's.
                }
            })
            .Build();
        bus.Subscribe<Ping>((_, _, _) => throw new InvalidOperationException("boom"));

        var outcome = await bus.PublishAndWaitAsync(new Ping(1)).Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(HandlerStatus.Succeeded, Assert.Single(outcome.Handlers).Status);
        Assert.Equal(0, bus.DeadLetters.Count);
    }

    [Fact]
    public async Task Use_MiddlewareThrowsBeforeNext_HandlerNotRunAndInvocationFails()
    {
        var ran = false;
        await using var bus = new EventBusBuilder()
            .Use((_, _) => throw new UnauthorizedAccessException("denied"))
            .Build();
        bus.Subscribe<Ping>(_ => ran = true);

        var outcome = await bus.PublishAndWaitAsync(new Ping(1)).Within();

        Assert.False(ran);
        Assert.Equal(EventStatus.Failed, outcome.Status);
        Assert.IsType<UnauthorizedAccessException>(Assert.Single(outcome.Handlers).Exception);
        Assert.Equal(1, bus.DeadLetters.Count);
    }

    [Fact]
    public async Task Use_HandlerTimeout_CancelsTheMiddlewareToo()
    {
        // The pipeline runs inside the attempt: the attempt's timeout covers a middleware that hangs before the handler.
        var ran = false;
        await using var bus = new EventBusBuilder()
            .Use(async (invocation, next) =>
            {
                await Task.Delay(Timeout.Infinite, invocation.CancellationToken);
                await next(invocation);
            })
            .Build();
        bus.Subscribe<Ping>(_ => ran = true, new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(50) });

        var outcome = await bus.PublishAndWaitAsync(new Ping(1)).Within();

        Assert.False(ran);
        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        Assert.Equal(HandlerStatus.TimedOut, Assert.Single(outcome.Handlers).Status);
    }

    [Fact]
    public async Task UseTyped_OnlyEventsAssignableToItsType()
    {
        var counter = new OrderCounter();
        var animals = new ConcurrentQueue<string>();
        var all = 0;
        await using var bus = new EventBusBuilder()
            .Use(counter)
            .Use<Animal>((animal, invocation, next) =>
            {
                animals.Enqueue(animal.Name);
                return next(invocation);
            })
            .Use((invocation, next) =>
            {
                Interlocked.Increment(ref all);
                return next(invocation);
            })
            .Build();
        var handled = 0;
        bus.Subscribe("*", (_, _) => Interlocked.Increment(ref handled));

        await bus.PublishAndWaitAsync(new OrderPlaced(1)).Within();
        await bus.PublishAndWaitAsync(new Ping(2)).Within();
        await bus.PublishAndWaitAsync(new OrderShipped(3)).Within();
        await bus.PublishAndWaitAsync(new Cat("tom")).Within();

        Assert.Equal([1, 3], counter.Seen);
        Assert.Equal(["tom"], animals);
        Assert.Equal(4, all);
        Assert.Equal(4, handled);
    }

    [Fact]
    public async Task SendAsync_SynchronousHandlersWithMiddleware_LeaveTheFastPathAndRunThePipeline()
    {
        // Plain, synchronous handlers would take the allocation-free synchronous path, which has no pipeline:
        // with a middleware registered the general path runs them, each inside its own invocation.
        var seen = new ConcurrentQueue<string>();
        var handled = 0;
        await using var bus = new EventBusBuilder()
            .Use((invocation, next) =>
            {
                seen.Enqueue(invocation.Subscription.Name);
                return next(invocation);
            })
            .Build();
        bus.Subscribe<Ping>(_ => handled++, new SubscriptionOptions { Name = "first" });
        bus.Subscribe<Ping>(_ => handled++, new SubscriptionOptions { Name = "second" });

        await bus.SendAsync(new Ping(1)).Within();

        Assert.Equal(2, handled);
        Assert.Equal(["first", "second"], seen);
    }

    [Fact]
    public async Task SendAsync_BuilderWithoutMiddleware_WarmSynchronousHandlersAllocateNothing()
    {
        await using var bus = new EventBusBuilder().Build();
        await AssertSendAllocatesNothingAsync(bus);
    }

    [Fact]
    public async Task SendAsync_OnlyTypedMiddlewareForOtherEvents_KeepsTheAllocationFreePath()
    {
        var ran = 0;
        await using var bus = new EventBusBuilder()
            .Use<IOrderEvent>((_, invocation, next) =>
            {
                ran++;
                return next(invocation);
            })
            .Build();

        await AssertSendAllocatesNothingAsync(bus);

        // It still applies to the events of its type.
        bus.Subscribe<OrderPlaced>(_ => { });
        await bus.SendAsync(new OrderPlaced(1)).Within();
        Assert.Equal(1, ran);
    }

    private static async Task AssertSendAllocatesNothingAsync(IEventBus bus)
    {
        var sum = 0;
        for (var i = 0; i < 8; i++)
        {
            bus.Subscribe<Ping>((p, _, _) =>
            {
                sum += p.Value;
                return ValueTask.CompletedTask;
            });
        }

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
    public async Task SendAsync_MiddlewareSkipsEveryHandler_CompletesWithoutThrowing()
    {
        var ran = false;
        await using var bus = new EventBusBuilder().Use((_, _) => ValueTask.CompletedTask).Build();
        bus.Subscribe<Ping>(_ => ran = true);

        await bus.SendAsync(new Ping(1)).Within();

        Assert.False(ran);
    }

    [Fact]
    public async Task SendAsync_MiddlewareRethrowsHandlerFailure_ThrowsOriginal()
    {
        var observed = 0;
        await using var bus = new EventBusBuilder()
            .Use(async (invocation, next) =>
            {
                try
                {
                    await next(invocation);
                }
                catch (FormatException)
                {
                    observed++;
                    throw;
                }
            })
            .Build();
        bus.Subscribe<Ping>((_, _, _) => throw new FormatException("bad"));

        await Assert.ThrowsAsync<FormatException>(async () => await bus.SendAsync(new Ping(1)));
        Assert.Equal(1, observed);
    }

    [Fact]
    public async Task InvokeAsync_HandlerWithResult_MiddlewareSeesTheValueAndCallerGetsIt()
    {
        object? valueSeen = null;
        await using var bus = new EventBusBuilder()
            .Use(async (invocation, next) =>
            {
                Assert.Null(invocation.Value);
                await next(invocation);
                valueSeen = invocation.Value;
            })
            .Build();
        bus.Subscribe<Ping, int>(p => p.Value * 2);

        var outcome = await bus.InvokeAsync(new Ping(21)).Within();

        Assert.Equal(42, outcome.FirstResult<int>());
        Assert.Equal(42, valueSeen);
    }

    [Fact]
    public async Task PublishAsync_ParallelHandlers_EachInvocationOwnsItsSubscriptionAndToken()
    {
        var seen = new ConcurrentDictionary<string, CancellationToken>();
        await using var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Parallel })
            .Use((invocation, next) =>
            {
                seen[invocation.Subscription.Name] = invocation.CancellationToken;
                Assert.Same(invocation.Context.Event, invocation.Event);
                return next(invocation);
            })
            .Build();
        var tokens = new ConcurrentDictionary<string, CancellationToken>();
        bus.Subscribe<Ping>(async (_, _, ct) => { tokens["a"] = ct; await Task.Yield(); }, new SubscriptionOptions { Name = "a" });
        bus.Subscribe<Ping>(async (_, _, ct) => { tokens["b"] = ct; await Task.Yield(); }, new SubscriptionOptions { Name = "b" });

        var outcome = await bus.PublishAndWaitAsync(new Ping(1)).Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(["a", "b"], seen.Keys.Order());
        Assert.Equal(tokens["a"], seen["a"]);
        Assert.Equal(tokens["b"], seen["b"]);
    }

    [Fact]
    public async Task Use_BlockingSubscription_MiddlewareWrapsTheHandlerOnItsOwnThread()
    {
        var log = new ConcurrentQueue<string>();
        await using var bus = new EventBusBuilder().Use(new Recorder("m", log)).Build();
        bus.Subscribe<Ping>(_ => log.Enqueue("handler"), new SubscriptionOptions { Blocking = true });

        var outcome = await bus.PublishAndWaitAsync(new Ping(1)).Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(["m>", "handler", "<m"], log);
    }

    [Fact]
    public async Task RedriveAsync_DeadLetter_RunsThroughTheMiddlewareAgain()
    {
        var attempts = new ConcurrentQueue<int>();
        var fail = true;
        await using var bus = new EventBusBuilder()
            .Use((invocation, next) =>
            {
                attempts.Enqueue(invocation.Context.Attempt);
                return next(invocation);
            })
            .Build();
        bus.Subscribe<Ping>(_ =>
        {
            if (fail)
                throw new InvalidOperationException("first time");
        }, new SubscriptionOptions { Name = "flaky" });
        await bus.PublishAndWaitAsync(new Ping(1)).Within();
        var letter = Assert.Single(bus.DeadLetters.List());
        fail = false;

        var outcome = await bus.DeadLetters.RedriveAsync(letter.Id).Within();

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal([1, 2], attempts);
    }

#pragma warning disable IL2026, IL3050 // reflection-based JSON for the test's log
    [Fact]
    public async Task Recovery_WriteAheadLogRedeliversUnfinishedEvent_ThroughTheMiddleware()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = new EventBusBuilder().UseWriteAheadLog(_walDirectory).Build();
        first.Subscribe<OrderPlaced>(async (_, _, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }, new SubscriptionOptions { Name = "billing" });
        await first.PublishAsync(new OrderPlaced(7));
        await started.Task.Within();
        var report = await first.StopAsync(TimeSpan.FromMilliseconds(50)).Within();
        Assert.Equal(1, report.PendingInLog);
        await first.DisposeAsync();

        var seen = new ConcurrentQueue<(int Order, int Attempt, string Subscription)>();
        await using var again = new EventBusBuilder()
            .UseWriteAheadLog(_walDirectory)
            .Use<OrderPlaced>((order, invocation, next) =>
            {
                seen.Enqueue((order.OrderId, invocation.Context.Attempt, invocation.Subscription.Name));
                return next(invocation);
            })
            .Build();
        var handled = 0;
        again.Subscribe<OrderPlaced>(_ => Interlocked.Increment(ref handled), new SubscriptionOptions { Name = "billing" });

        await TestTimeout.Until(() => Volatile.Read(ref handled) == 1, what: "the recovered event handled");
        Assert.Equal([(7, 2, "billing")], seen);
        await TestTimeout.Until(() => again.GetWriteAheadLogStatus()!.PendingEvents == 0, what: "the log finished");
    }
    [Fact]
    public async Task Recovery_DurableHandlerSkippedByMiddleware_FinishedAndNotRedelivered()
    {
        await using (var first = new EventBusBuilder()
            .UseWriteAheadLog(_walDirectory)
            .Use((_, _) => ValueTask.CompletedTask)
            .Build())
        {
            first.Subscribe<OrderPlaced>(_ => { }, new SubscriptionOptions { Name = "billing" });
            var outcome = await first.PublishAndWaitAsync(new OrderPlaced(8)).Within();
            Assert.Equal(HandlerStatus.Skipped, Assert.Single(outcome.Handlers).Status);
            await TestTimeout.Until(() => first.GetWriteAheadLogStatus()!.PendingEvents == 0, what: "the skipped handler recorded as finished");
        }

        await using var again = new EventBusBuilder().UseWriteAheadLog(_walDirectory).Build();
        Assert.Equal(0, again.GetWriteAheadLogStatus()!.PendingEvents);
    }
#pragma warning restore IL2026, IL3050

    [Fact]
    public async Task Transport_BrokerDelivery_RunsThroughTheMiddlewareAndARedeliveryRunsItAgain()
    {
        await using var transport = InMemoryTransport.Create(new InMemoryTransportOptions { MaxDeliveries = 3 });
        var seen = new ConcurrentQueue<(int Number, int Attempt)>();
        await using var bus = new EventBusBuilder()
            .UseTransport(
                transport,
                new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced),
                new TransportBusOptions { Group = "orders", RetryDelay = TimeSpan.FromMilliseconds(10), MaxRetryDelay = TimeSpan.FromMilliseconds(50) })
            .Use<Busbar.Transport.Contract.OrderPlaced>((order, invocation, next) =>
            {
                seen.Enqueue((order.Number, invocation.Context.Attempt));
                return next(invocation);
            })
            .Build();
        var handled = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Busbar.Transport.Contract.OrderPlaced>((order, context, _) =>
        {
            if (context.Attempt == 1)
                throw new InvalidOperationException("first delivery fails");
            handled.TrySetResult(order.Number);
            return ValueTask.CompletedTask;
        }, new SubscriptionOptions { Name = "billing" });
        await ((InProcessEventBus)bus).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());

        await bus.PublishAsync(new Busbar.Transport.Contract.OrderPlaced(7, "c7"));

        Assert.Equal(7, await handled.Task.Within());
        Assert.Equal([(7, 1), (7, 2)], seen);
    }

    [Fact]
    public void Use_Null_ThrowsArgumentNullException()
    {
        var builder = new EventBusBuilder();

        Assert.Throws<ArgumentNullException>(() => builder.Use((IEventMiddleware)null!));
        Assert.Throws<ArgumentNullException>(() => builder.Use((IEventMiddleware<Ping>)null!));
        Assert.Throws<ArgumentNullException>(() => builder.Use((Func<HandlerInvocation, HandlerDelegate, ValueTask>)null!));
        Assert.Throws<ArgumentNullException>(() => builder.Use((Func<Ping, HandlerInvocation, HandlerDelegate, ValueTask>)null!));
    }
}
