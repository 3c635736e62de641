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
    private readonly WalTestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

#pragma warning disable IL2026, IL3050
    private IEventBus Open(int workers) => new EventBusBuilder()
        .WithOptions(new EventBusOptions { MaxConcurrentEvents = workers })
        .UseWriteAheadLog(_dir.Path, new WriteAheadLogOptions { FlushMode = WalFlushMode.Always })
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
