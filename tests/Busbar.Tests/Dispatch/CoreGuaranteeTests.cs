using Busbar.Tests.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

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
        bus.Subscribe<Ping>(async (_, _, ct) => await Task.Delay(1, ct), new SubscriptionOptions { Timeout = TimeSpan.FromMilliseconds(1) });
        bus.Subscribe<Ping>(
            async (_, _, ct) => await Task.Delay(1, ct),
            new SubscriptionOptions { Timeout = TimeSpan.FromMilliseconds(1), Retry = RetryPolicy.Fixed(2, TimeSpan.FromMilliseconds(1)) });
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var handles = new List<EventHandle>();
        for (var i = 0; i < 2_000 && !limit.IsCancellationRequested; i++)
        {
            var options = (i % 3) switch
            {
                0 => null,
                1 => new PublishOptions { Timeout = TimeSpan.FromMilliseconds(1) },
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
            new SubscriptionOptions { Timeout = TimeSpan.FromMilliseconds(20) });

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

        var outcome = await (await bus.PublishAsync(new Ping(1), new PublishOptions { Timeout = TimeSpan.FromMilliseconds(20) })).AsValueTask().Within();

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

    private static FakeLogger NewLogger() =>
        new(new FakeLogCollector(Microsoft.Extensions.Options.Options.Create(new FakeLogCollectorOptions())));
}
