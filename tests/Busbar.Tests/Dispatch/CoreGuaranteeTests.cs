using Busbar.Tests.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// The guarantees of issue 17 on the handler-invocation side: timeouts, deadlines, cancellation,
/// ambient attribution and execution context. Each test fails on the code before the fix.
/// </summary>
public class CoreGuaranteeTests
{
    // ---------------------------------------------------------------- 0: a timeout never crashes the process

    [Fact]
    public async Task HandlerTimeout_AttemptsEndingAtTheirTimeout_NeverCrashProcess()
    {
        // A handler that waits exactly its timeout ends while the timer fires: the timer used to cancel a
        // disposed token source on a pool thread (ObjectDisposedException, exit 134). Bounded in count and time.
        var bus = EventBus.Create(new EventBusOptions { MaxConcurrentEvents = 2, Capacity = 100 });
        bus.Subscribe<Ping>(async (_, _, ct) => await Task.Delay(1, ct), new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(1) });
        bus.Subscribe<Ping>(
            async (_, _, ct) => await Task.Delay(1, ct),
            new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(1), Retry = RetryPolicy.Constant(2, TimeSpan.FromMilliseconds(1)) });
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var handles = new List<EventHandle>();
        for (var i = 0; i < 2_000 && !limit.IsCancellationRequested; i++)
        {
            var options = (i % 3) switch
            {
                0 => null,
                1 => new PublishOptions { DeadlineAfter = TimeSpan.FromMilliseconds(1) },
                _ => new PublishOptions { HandlerTimeout = TimeSpan.FromMilliseconds(1) },
            };
            handles.Add(await bus.PublishAsync(new Ping(i), options));
        }

        foreach (var handle in handles)
        {
            var outcome = await handle.AsValueTask().Within();
            Assert.Contains(outcome.Status, new[] { EventStatus.Completed, EventStatus.TimedOut });
        }

        Assert.True(handles.Count >= 100, $"only {handles.Count} events published in the time limit");
        await bus.StopAsync().Within();
    }

    [Fact]
    public async Task HandlerTimeout_CallbackOnTokenThrows_AttemptTimesOutAndIsLogged()
    {
        var logger = NewLogger();
        var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).Build();
        bus.Subscribe<Ping>(
            async (_, _, ct) =>
            {
                // Not disposed: the callback must still be registered when the bus cancels.
                ct.Register(static () => throw new InvalidOperationException("callback"));
                await Task.Delay(Timeout.Infinite, ct);
            },
            new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(20) });

        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();

        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        await TestTimeout.Until(() => logger.Collector.GetSnapshot().Any(r => r.Id.Name == "CancellationCallbackFailed"));
        await bus.StopAsync().Within();
    }

    [Fact]
    public async Task EventDeadline_CallbackOnTokenThrows_EventTimesOutWithoutCrash()
    {
        var bus = EventBus.Create();
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            // Not disposed: the callback must still be registered when the bus cancels.
            ct.Register(static () => throw new InvalidOperationException("callback"));
            await Task.Delay(Timeout.Infinite, ct);
        });

        var outcome = await (await bus.PublishAsync(new Ping(1), new PublishOptions { DeadlineAfter = TimeSpan.FromMilliseconds(20) })).AsValueTask().Within();

        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        await bus.StopAsync().Within();
    }

    [Fact]
    public async Task StopAsync_CallbackOnTokenThrows_StopCompletesWithReport()
    {
        var bus = EventBus.Create();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            // Not disposed: the callback must still be registered when the bus cancels.
            ct.Register(static () => throw new InvalidOperationException("callback"));
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        var handle = await bus.PublishAsync(new Ping(1));
        await started.Task.Within();

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(10)).Within();

        Assert.Equal(1, report.Cancelled);
        Assert.Equal(EventStatus.Cancelled, (await handle.AsValueTask().Within()).Status);
    }

    // ---------------------------------------------------------------- 4: an event deadline is a deadline

    [Fact]
    public async Task Deadline_FiresDuringSerialHandler_LaterHandlerNeverStarts()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondRan = 0;
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        }, new SubscriptionOptions { Name = "first" });
        bus.Subscribe<Ping>(_ => Interlocked.Increment(ref secondRan), new SubscriptionOptions { Name = "second" });
        var handle = await bus.PublishAsync(new Ping(1), new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(1) });
        await started.Task.Within();

        time.Advance(TimeSpan.FromSeconds(1));
        var outcome = await handle.AsValueTask().Within();

        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        Assert.Equal(0, Volatile.Read(ref secondRan));
        Assert.Equal(HandlerStatus.TimedOut, outcome.Handlers[0].Status);
        Assert.Equal(HandlerStatus.TimedOut, outcome.Handlers[1].Status);
        Assert.Equal(0, outcome.Handlers[1].Attempts);
    }

    [Fact]
    public async Task Deadline_FiresDuringParallelTier_LaterTierNeverStarts()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).WithOptions(new EventBusOptions { HandlerConcurrency = HandlerConcurrency.Parallel }).Build();
        var started = 0;
        var lowRan = 0;
        bus.Subscribe<Ping>(async (_, _, ct) => { Interlocked.Increment(ref started); await Task.Delay(Timeout.Infinite, ct); }, new SubscriptionOptions { Priority = 10 });
        bus.Subscribe<Ping>(async (_, _, ct) => { Interlocked.Increment(ref started); await Task.Delay(Timeout.Infinite, ct); }, new SubscriptionOptions { Priority = 10 });
        bus.Subscribe<Ping>(_ => Interlocked.Increment(ref lowRan), new SubscriptionOptions { Name = "low" });
        var handle = await bus.PublishAsync(new Ping(1), new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(1) });
        await TestTimeout.Until(() => Volatile.Read(ref started) == 2);

        time.Advance(TimeSpan.FromSeconds(1));
        var outcome = await handle.AsValueTask().Within();

        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        Assert.Equal(0, Volatile.Read(ref lowRan));
        var low = Assert.Single(outcome.Handlers, h => h.SubscriptionName == "low");
        Assert.Equal(HandlerStatus.TimedOut, low.Status);
        Assert.Equal(0, low.Attempts);
    }

    [Fact]
    public async Task Deadline_PassesDuringAttempt_NoRetryStarts()
    {
        // Guard rather than regression pin: Polly itself refuses an attempt once the token is cancelled; the
        // processor also checks the clock before each attempt for a deadline timer that has not fired yet.
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        bus.Subscribe<Ping>(async (_, _, _) =>
        {
            Interlocked.Increment(ref calls);
            await gate.Task;
            throw new IOException("down");
        }, new SubscriptionOptions { Retry = RetryPolicy.Constant(3, TimeSpan.Zero) });
        var handle = await bus.PublishAsync(new Ping(1), new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(1) });
        await TestTimeout.Until(() => Volatile.Read(ref calls) == 1);

        time.Advance(TimeSpan.FromSeconds(2));
        gate.SetResult();
        var outcome = await handle.AsValueTask().Within();

        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        Assert.Equal(HandlerStatus.TimedOut, outcome.Handlers[0].Status);
        Assert.Equal(1, outcome.Handlers[0].Attempts);
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task Deadline_FiresDuringRetryBackoff_TimedOutWithoutAnotherAttempt()
    {
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder().WithTimeProvider(time).Build();
        var calls = 0;
        bus.Subscribe<Ping>((_, _, _) =>
        {
            Interlocked.Increment(ref calls);
            throw new IOException("down");
        }, new SubscriptionOptions { Retry = RetryPolicy.Constant(3, TimeSpan.FromSeconds(10)) });
        var handle = await bus.PublishAsync(new Ping(1), new PublishOptions { DeadlineAfter = TimeSpan.FromSeconds(5) });
        await TestTimeout.Until(() => Volatile.Read(ref calls) == 1);

        // The deadline timer was armed when the event started, so it fires whether or not Polly has armed its delay yet.
        time.Advance(TimeSpan.FromSeconds(5));
        var outcome = await handle.AsValueTask().Within();

        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        Assert.Equal(HandlerStatus.TimedOut, outcome.Handlers[0].Status);
        Assert.Equal(1, outcome.Handlers[0].Attempts);
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    // ---------------------------------------------------------------- 8: ambient context can flow to handlers

    private static readonly AsyncLocal<string?> s_tenant = new();

    [Fact]
    public async Task FlowExecutionContext_On_QueuedHandlersSeePublishersAsyncLocals()
    {
        await using var bus = EventBus.Create(new EventBusOptions { FlowExecutionContext = true });
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        bus.Subscribe<Ping>(p => seen.Enqueue($"{p.Value}:{s_tenant.Value}"));
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            await Task.Yield();
            seen.Enqueue($"{p.Value}:async:{s_tenant.Value}");
        });

        s_tenant.Value = "acme";
        var first = await bus.PublishAsync(new Ping(1));
        s_tenant.Value = "globex";
        Assert.True(bus.TryPublish(new Ping(2), out var second));
        s_tenant.Value = null;
        await first.AsValueTask().Within();
        await second.AsValueTask().Within();

        Assert.Equal(["1:acme", "1:async:acme", "2:globex", "2:async:globex"], seen);
    }

    private static readonly AsyncLocal<object?> s_requestState = new();

    [Fact]
    public async Task FlowExecutionContext_EventDroppedBeforeStart_ReleasesPublishersContext()
    {
        await using var bus = EventBus.Create(new EventBusOptions { FlowExecutionContext = true, Capacity = 1, FullMode = BusFullMode.DropOldest });
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            if (p.Value != 0)
                return;
            running.TrySetResult();
            await gate.Task;
        });
        var blocker = await bus.PublishAsync(new Ping(0));
        await running.Task.Within();

        // Published from a flow whose request state is gone afterwards; the event is then evicted, never started.
        var state = await Task.Run(async () =>
        {
            var request = new object();
            s_requestState.Value = request;
            await bus.PublishAsync(new Ping(1));
            return new WeakReference(request);
        });
        await bus.PublishAsync(new Ping(2));
        Assert.Equal(1, bus.GetStatistics().Dropped);
        for (var i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        var alive = state.IsAlive;
        gate.SetResult();
        await blocker.AsValueTask().Within();

        Assert.False(alive, "the dropped event (kept in the history) still holds the publisher's execution context");
    }

    [Fact]
    public async Task FlowExecutionContext_OffByDefault_QueuedHandlersDoNotSeePublishersAsyncLocals()
    {
        await using var bus = EventBus.Create();
        string? seen = "unset";
        bus.Subscribe<Ping>(_ => seen = s_tenant.Value);

        s_tenant.Value = "acme";
        var handle = await bus.PublishAsync(new Ping(1));
        s_tenant.Value = null;
        await handle.AsValueTask().Within();

        Assert.Null(seen);
    }

    [Fact]
    public async Task FlowExecutionContext_On_HandlerStillAttributedToItsOwnEvent()
    {
        // The captured context holds the publishing handler's ambient frame; the child must not run as its parent.
        await using var bus = EventBus.Create(new EventBusOptions { FlowExecutionContext = true });
        var grandchild = new TaskCompletionSource<EventContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        EventContext? childContext = null;
        bus.Subscribe<Job>(async (_, _, _) => await bus.PublishAsync(new FollowUp(1)));
        bus.Subscribe<FollowUp>(async (f, ctx, _) =>
        {
            if (f.N == 1)
            {
                childContext = ctx;
                Assert.Same(ctx, EventContext.Current);
                await bus.PublishAsync(new FollowUp(2));
            }
            else
            {
                grandchild.SetResult(ctx);
            }
        });

        await (await bus.PublishAsync(new Job(1))).AsValueTask().Within();
        var g = await grandchild.Task.Within();

        Assert.Equal(childContext!.EventId, g.CausationId);
    }

    // ---------------------------------------------------------------- 9: inline failures and dead letters

    [Fact]
    public async Task InlineFailure_ByDefault_NotDeadLetteredButCounted()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping>((_, _, _) => throw new IOException("down"), new SubscriptionOptions { Name = "failing" });

        var outcome = await bus.InvokeAsync(new Ping(1)).Within();
        await Assert.ThrowsAsync<IOException>(async () => await bus.SendAsync(new Ping(2)));

        Assert.Equal(EventStatus.Failed, outcome.Status);
        Assert.Equal(0, bus.DeadLetters.Count);
        var queued = await (await bus.PublishAsync(new Ping(3))).AsValueTask().Within();
        Assert.Equal(EventStatus.Failed, queued.Status);
        Assert.Equal(1, bus.DeadLetters.Count);
    }

    [Fact]
    public async Task InlineFailure_WithDeadLetterInlineFailures_DeadLetteredAndRedrivable()
    {
        await using var bus = EventBus.Create(new EventBusOptions { DeadLetterInlineFailures = true });
        var up = false;
        bus.Subscribe<Ping>((_, _, _) => up ? ValueTask.CompletedTask : throw new IOException("down"), new SubscriptionOptions { Name = "flaky" });

        await bus.InvokeAsync(new Ping(1)).Within();
        await Assert.ThrowsAsync<IOException>(async () => await bus.SendAsync(new Ping(2)));

        var letters = bus.DeadLetters.List();
        Assert.Equal(2, letters.Count);
        Assert.All(letters, l => Assert.Equal("flaky", l.SubscriptionName));
        up = true;
        var redriven = await bus.DeadLetters.RedriveAsync(letters[0].Id).Within();
        Assert.Equal(EventStatus.Completed, redriven.Status);
        Assert.Equal(1, bus.DeadLetters.Count);
    }

    // ---------------------------------------------------------------- 11: a stop during a retry back-off cancels

    [Fact]
    public async Task StopAsync_DuringRetryBackoff_RecordedCancelledNotDeadLettered()
    {
        await using var bus = EventBus.Create();
        var calls = 0;
        bus.Subscribe<Ping>((_, _, _) =>
        {
            Interlocked.Increment(ref calls);
            throw new IOException("down");
        }, new SubscriptionOptions { Retry = RetryPolicy.Constant(3, TimeSpan.FromSeconds(30)) });
        var handle = await bus.PublishAsync(new Ping(1));
        await TestTimeout.Until(() => Volatile.Read(ref calls) == 1);

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(20)).Within();
        var outcome = await handle.AsValueTask().Within();

        Assert.Equal(1, report.Cancelled);
        Assert.Equal(EventStatus.Cancelled, outcome.Status);
        Assert.Equal(HandlerStatus.Cancelled, outcome.Handlers[0].Status);
        Assert.Equal(1, outcome.Handlers[0].Attempts);
        Assert.Equal(0, bus.DeadLetters.Count);
        Assert.Equal(0, bus.GetStatistics().Failed);
    }

    // ---------------------------------------------------------------- 6: a handler that honours its token is not abandoned

    [Fact]
    public async Task HandlerTimeout_HandlerHonoursToken_NotAbandonedAndCleanUpRunsBeforeCompletion()
    {
        var logger = NewLogger();
        await using var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).Build();
        var cleanedUp = 0;
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                // Asynchronous clean-up: the event must wait for it.
                await Task.Delay(50, CancellationToken.None);
                Interlocked.Exchange(ref cleanedUp, 1);
            }
        }, new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(20) });

        var outcome = await (await bus.PublishAsync(new Ping(1))).AsValueTask().Within();

        Assert.Equal(1, Volatile.Read(ref cleanedUp));
        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Id.Name == "HandlerAbandoned");
    }

    [Fact]
    public async Task StopAsync_HandlerHonoursToken_ReturnsAfterHandlerFinishedNotAbandoned()
    {
        var logger = NewLogger();
        var bus = new EventBusBuilder().WithLoggerFactory(new SingleLoggerFactory(logger)).Build();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cleanedUp = 0;
        bus.Subscribe<Ping>(async (_, _, ct) =>
        {
            try
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                await Task.Delay(50, CancellationToken.None);
                Interlocked.Exchange(ref cleanedUp, 1);
            }
        });
        var handle = await bus.PublishAsync(new Ping(1));
        await started.Task.Within();

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(10)).Within();

        Assert.Equal(1, Volatile.Read(ref cleanedUp));
        Assert.Equal(1, report.Cancelled);
        Assert.Equal(EventStatus.Cancelled, (await handle.AsValueTask().Within()).Status);
        var records = logger.Collector.GetSnapshot();
        Assert.DoesNotContain(records, r => r.Id.Name is "HandlerAbandoned" or "StopAbandoned");
    }

    [Fact]
    public async Task HandlerTimeout_HandlerIgnoresToken_AbandonedOnlyAfterGrace()
    {
        var logger = NewLogger();
        var time = new FakeTimeProvider();
        await using var bus = new EventBusBuilder()
            .WithTimeProvider(time)
            .WithLoggerFactory(new SingleLoggerFactory(logger))
            .WithOptions(new EventBusOptions { CancellationGrace = TimeSpan.FromMilliseconds(100) })
            .Build();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (_, _, _) =>
        {
            started.TrySetResult();
            await release.Task;
            throw new InvalidOperationException("after abandonment: observed, never unobserved");
        }, new SubscriptionOptions { HandlerTimeout = TimeSpan.FromSeconds(1) });
        var handle = await bus.PublishAsync(new Ping(1));
        await started.Task.Within();

        time.Advance(TimeSpan.FromSeconds(1));
        var outcome = await handle.AsValueTask().Within();
        release.SetResult();

        Assert.Equal(EventStatus.TimedOut, outcome.Status);
        Assert.Single(logger.Collector.GetSnapshot(), r => r.Id.Name == "HandlerAbandoned");
    }

    [Fact]
    public async Task HostStop_ScopedHandlerHonoursToken_ScopeDisposedBeforeStopReturns()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton<ScopeProbeLog>();
        builder.Services.AddScoped<DisposalProbe>();
        builder.Services.AddBusbar(b => b.AddHandler<Ping, CooperativeScopedHandler>());
        using var host = builder.Build();
        var log = host.Services.GetRequiredService<ScopeProbeLog>();
        await host.StartAsync().Within();
        var bus = host.Services.GetRequiredService<IEventBus>();
        var handle = await bus.PublishAsync(new Ping(1));
        await log.Started.Task.Within();

        // A host stop whose token is already cancelled: the drain ends at once and the handler is cancelled.
        using var stopNow = new CancellationTokenSource();
        await stopNow.CancelAsync();
        await host.StopAsync(stopNow.Token).Within();

        Assert.Equal(1, Volatile.Read(ref log.Disposed));
        Assert.Equal(EventStatus.Cancelled, (await handle.AsValueTask().Within()).Status);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(3_601)]
    public void CancellationGrace_OutOfRange_RejectedNamingTheOption(int seconds)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => EventBus.Create(new EventBusOptions { CancellationGrace = TimeSpan.FromSeconds(seconds) }));

        Assert.Contains("EventBusOptions.CancellationGrace", ex.Message, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------- 5: fire-and-forget work is not credited to a stranger

    [EventName("core.job")]
    public sealed record Job(int N);

    [EventName("core.followup")]
    public sealed record FollowUp(int N);

    [Fact]
    public async Task FireAndForget_PublishAfterHandlerFinished_NotAttributedToTheEventRunningThen()
    {
        await using var bus = EventBus.Create();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var late = new TaskCompletionSource<EventHandle>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task? leftRunning = null;
        bus.Subscribe<Job>(async (job, _, _) =>
        {
            if (job.N == 1)
            {
                // Started and not awaited: it publishes after this handler has returned.
                leftRunning = Task.Run(async () =>
                {
                    await release.Task;
                    late.SetResult(await bus.PublishAsync(new FollowUp(1)));
                });
                return;
            }

            secondRunning.SetResult();
            await secondGate.Task;
        });
        var first = await bus.PublishAsync(new Job(1));
        await first.AsValueTask().Within();
        var second = await bus.PublishAsync(new Job(2));
        await secondRunning.Task.Within();

        release.SetResult();
        var followUp = await late.Task.Within();
        secondGate.SetResult();
        var secondOutcome = await second.AsValueTask().Within();
        await leftRunning!.Within();

        // Attributed to no event: the handler that started the work had finished.
        Assert.Null(followUp.Context.CausationId);
        Assert.Equal(followUp.EventId, followUp.Context.CorrelationId);
        Assert.Empty(secondOutcome.ChildEventIds);
        Assert.Empty((await first.AsValueTask()).ChildEventIds);
    }

    [Fact]
    public async Task FireAndForget_FromSendAsyncHandler_NotAttributedToALaterInlineEvent()
    {
        await using var bus = EventBus.Create();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var late = new TaskCompletionSource<EventContext?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task? leftRunning = null;
        bus.Subscribe<Job>((job, _, _) =>
        {
            if (job.N == 1)
            {
                leftRunning = Task.Run(async () =>
                {
                    await release.Task;
                    // What the bus would take as this flow's parent event right now.
                    late.SetResult(EventContext.Current);
                });
                return ValueTask.CompletedTask;
            }

            // A synchronous handler of a later inline event, running while the leftover work looks.
            release.SetResult();
            Assert.True(late.Task.Wait(TestTimeout.Default));
            return ValueTask.CompletedTask;
        });

        await bus.SendAsync(new Job(1));
        await bus.SendAsync(new Job(2));
        await leftRunning!.Within();

        Assert.Null(await late.Task.Within());
    }

    // ---------------------------------------------------------------- 13: no unobserved task exceptions

    [Fact]
    public async Task HandlerFaultingAsItsTokenFires_TimeoutOrStop_NoUnobservedTaskException()
    {
        const string Marker = "core-guarantee-13";
        var unobserved = 0;
        void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.Flatten().InnerExceptions.Any(x => x.Message.Contains(Marker, StringComparison.Ordinal)))
                Interlocked.Increment(ref unobserved);
        }

        TaskScheduler.UnobservedTaskException += OnUnobserved;
        try
        {
            await HammerAsync(Marker);
            for (var i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            Assert.Equal(0, Volatile.Read(ref unobserved));
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= OnUnobserved;
        }
    }

    private static async Task HammerAsync(string marker)
    {
        // The handler's task faults from inside its token's cancellation callback: exactly as the token fires.
        static ValueTask FaultWhenCancelled(CancellationToken ct, string marker)
        {
            var tcs = new TaskCompletionSource();
            ct.Register(() => tcs.TrySetException(new InvalidOperationException(marker)));
            return new ValueTask(tcs.Task);
        }

        var bus = EventBus.Create(new EventBusOptions { MaxConcurrentEvents = 2, CancellationGrace = TimeSpan.Zero });
        bus.Subscribe<Ping>((_, _, ct) => FaultWhenCancelled(ct, marker), new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(1) });

        // And on its own timer, racing the timeout's timer on another thread.
        bus.Subscribe<Ping>(
            async (_, _, _) =>
            {
                await Task.Delay(1, CancellationToken.None);
                throw new InvalidOperationException(marker);
            },
            new SubscriptionOptions { HandlerTimeout = TimeSpan.FromMilliseconds(1) });
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var handles = new List<EventHandle>();
        for (var i = 0; i < 1_000 && !limit.IsCancellationRequested; i++)
            handles.Add(await bus.PublishAsync(new Ping(i), new PublishOptions { HandlerConcurrency = HandlerConcurrency.Parallel }));
        foreach (var handle in handles)
        {
            // TimedOut when abandoned at the timeout, Failed when its fault is seen first.
            Assert.Contains((await handle.AsValueTask().Within()).Status, new[] { EventStatus.TimedOut, EventStatus.Failed });
        }

        // And at a stop: every running handler faults as the stop token fires.
        var stopped = EventBus.Create(new EventBusOptions { MaxConcurrentEvents = 4, CancellationGrace = TimeSpan.Zero });
        stopped.Subscribe<Ping>((_, _, ct) => FaultWhenCancelled(ct, marker));
        for (var i = 0; i < 8; i++)
            await stopped.PublishAsync(new Ping(i));
        await TestTimeout.Until(() => stopped.GetStatistics().InFlight == 8);
        await stopped.StopAsync(TimeSpan.Zero).Within();
        await bus.StopAsync().Within();
    }

    private static FakeLogger NewLogger() =>
        new(new FakeLogCollector(Microsoft.Extensions.Options.Options.Create(new FakeLogCollectorOptions())));
}

/// <summary>Shared between the test and the scoped handler it hosts.</summary>
public sealed class ScopeProbeLog
{
    public readonly TaskCompletionSource Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public int Disposed;
}

/// <summary>A scoped dependency whose asynchronous disposal the test can see.</summary>
public sealed class DisposalProbe(ScopeProbeLog log) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        await Task.Delay(20, CancellationToken.None);
        Interlocked.Exchange(ref log.Disposed, 1);
    }
}

/// <summary>A DI handler class that honours its token.</summary>
public sealed class CooperativeScopedHandler(DisposalProbe probe, ScopeProbeLog log) : IEventHandler<Ping>
{
    public async ValueTask HandleAsync(Ping @event, EventContext context, CancellationToken cancellationToken)
    {
        _ = probe;
        log.Started.TrySetResult();
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }
}
