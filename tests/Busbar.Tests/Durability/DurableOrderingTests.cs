using System.Collections.Concurrent;
using Busbar.Durability;
using Xunit.Abstractions;

namespace Busbar.Tests.Durability;

/// <summary>
/// Ordering keys meet the write-ahead log: events recovered after a stop that left them unhandled keep their ordering key
/// and are handled in publish order per key by a bus with several workers, each exactly once.
/// </summary>
public sealed class DurableOrderingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "busbar-durable-order-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

#pragma warning disable IL2026, IL3050
    private IEventBus Open(int workers) => new EventBusBuilder()
        .WithOptions(new EventBusOptions { MaxConcurrentEvents = workers })
        .UseWriteAheadLog(_dir, new WriteAheadLogOptions { FlushMode = WalFlushMode.Always })
        .Build();
#pragma warning restore IL2026, IL3050

    [Theory]
    [InlineData(11)]
    [InlineData(1201)]
    [InlineData(20261201)]
    public async Task Recovery_KeyedEventsLeftUnhandled_HandledOncePerKeyInPublishOrderWithTheirKeys(int seed)
    {
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        string?[] keys = ["a", "b", "c", null];
        var published = new List<(int Order, string? Key)>();
        await using (var bus = Open(workers: 1 + random.Next(4)))
        {
            var started = 0;
            bus.Subscribe<OrderPlaced>(async (_, _, ct) =>
            {
                Interlocked.Increment(ref started);
                await Task.Delay(Timeout.Infinite, ct);
            }, new SubscriptionOptions { Name = "billing" });
            for (var n = 0; n < 60; n++)
            {
                var key = keys[random.Next(keys.Length)];
                await bus.PublishAsync(new OrderPlaced(n), new PublishOptions { OrderingKey = key }).Within();
                published.Add((n, key));
            }

            await TestTimeout.Until(() => Volatile.Read(ref started) > 0, what: "a handler started");
            var report = await bus.StopAsync(TimeSpan.FromMilliseconds(50)).Within();
            Assert.Equal(published.Count, report.PendingInLog);
        }

        var seen = new ConcurrentQueue<(int Order, string? Key)>();
        var yields = new Random(seed + 1);
        await using var again = Open(workers: 4);
        again.Subscribe<OrderPlaced>(async (e, context, _) =>
        {
            bool yieldNow;
            lock (yields)
                yieldNow = yields.Next(3) == 0;
            if (yieldNow)
                await Task.Yield();
            seen.Enqueue((e.OrderId, context.OrderingKey));
        }, new SubscriptionOptions { Name = "billing" });

        await TestTimeout.Until(() => again.GetWriteAheadLogStatus()!.PendingEvents == 0 && again.GetStatistics().InFlight == 0, what: "the recovered events handled");
        Assert.Equal(published.Select(p => p.Order), seen.Select(s => s.Order).Order());
        Assert.Equal(published.OrderBy(p => p.Order), seen.OrderBy(s => s.Order));
        foreach (var key in keys.OfType<string>())
            Assert.Equal(published.Where(p => p.Key == key).Select(p => p.Order), seen.Where(s => s.Key == key).Select(s => s.Order));
    }
}

/// <summary>Deadlines meet the write-ahead log: a recovered event whose deadline passed while the bus was down is not handled.</summary>
public sealed class DurableDeadlineTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "busbar-durable-deadline-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

#pragma warning disable IL2026, IL3050
    private IEventBus Open(TimeProvider time) => new EventBusBuilder()
        .WithTimeProvider(time)
        .UseWriteAheadLog(_dir, new WriteAheadLogOptions { FlushMode = WalFlushMode.Always })
        .Build();
#pragma warning restore IL2026, IL3050

    [Fact]
    public async Task Recovery_DeadlinePassedWhileDown_TimedOutNotHandledAndNotRecoveredAgain()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using (var bus = Open(time))
        {
            var started = new TaskCompletionSource();
            bus.Subscribe<OrderPlaced>(async (_, _, ct) =>
            {
                started.TrySetResult();
                await Task.Delay(Timeout.Infinite, ct);
            }, new SubscriptionOptions { Name = "billing" });
            await bus.PublishAsync(new OrderPlaced(0)).Within();
            await bus.PublishAsync(new OrderPlaced(1), new PublishOptions { DeadlineAfter = TimeSpan.FromMinutes(1) }).Within();
            await bus.PublishAsync(new OrderPlaced(2), new PublishOptions { DeadlineAfter = TimeSpan.FromHours(1) }).Within();
            await started.Task.Within();
            // The drain timeout runs on the bus's clock: move it until the stop gives up on the blocked handler.
            var stop = bus.StopAsync(TimeSpan.FromMilliseconds(50)).AsTask();
            await TestTimeout.Until(() =>
            {
                time.Advance(TimeSpan.FromMilliseconds(10));
                return stop.IsCompleted;
            }, what: "the stop's drain timed out");
            Assert.Equal(3, (await stop).PendingInLog);
        }

        time.Advance(TimeSpan.FromMinutes(5));
        var handled = new ConcurrentQueue<int>();
        await using (var again = Open(time))
        {
            again.Subscribe<OrderPlaced>(e => handled.Enqueue(e.OrderId), new SubscriptionOptions { Name = "billing" });
            await TestTimeout.Until(() => again.GetWriteAheadLogStatus()!.PendingEvents == 0 && again.GetStatistics().InFlight == 0, what: "the recovered events settled");
            Assert.Equal([0, 2], handled.Order());
            var expired = Assert.Single(again.History<OrderPlaced>((e, _) => e.OrderId == 1));
            Assert.Equal(EventStatus.TimedOut, (await expired.AsValueTask().Within()).Status);
        }

        await using var third = Open(time);
        Assert.Equal(0, third.GetWriteAheadLogStatus()!.PendingEvents);
    }
}
