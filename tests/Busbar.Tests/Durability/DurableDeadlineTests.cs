using System.Collections.Concurrent;
using Busbar.Durability;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Durability;

/// <summary>Deadlines meet the write-ahead log: a recovered event whose deadline passed while the bus was down is not handled.</summary>
public sealed class DurableDeadlineTests : IDisposable
{
    private readonly WalTestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

#pragma warning disable IL2026, IL3050
    private IEventBus Open(TimeProvider time) => new EventBusBuilder()
        .WithTimeProvider(time)
        .UseWriteAheadLog(_dir.Path, new WriteAheadLogOptions { FlushMode = WalFlushMode.Always })
        .Build();
#pragma warning restore IL2026, IL3050

    [Fact]
    public async Task Recovery_DeadlinePassedWhileDown_TimedOutNotHandledAndNotRecoveredAgain()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
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
