using System.Collections.Concurrent;
using Busbar.Durability;
using Xunit.Abstractions;

namespace Busbar.Tests.Durability;

/// <summary>
/// The typed sender meets the write-ahead log: inline sends (through the sender, the bus and the sender's invoke) are never logged,
/// while events published through the sender, directly or from an inline handler, are durable, survive a restart and keep the
/// cause the handler gave them.
/// </summary>
public sealed class EventSenderDurableTests(ITestOutputHelper output) : IDisposable
{
    private readonly WalTestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

#pragma warning disable IL2026, IL3050
    private IEventBus Open() =>
        new EventBusBuilder().UseWriteAheadLog(_dir.Path, new WriteAheadLogOptions { FlushMode = WalFlushMode.Always }).Build();
#pragma warning restore IL2026, IL3050

    [Theory]
    [InlineData(3)]
    [InlineData(1201)]
    [InlineData(20261201)]
    public async Task Sender_RandomSendsAndPublishesOnDurableBus_PublishedSurviveRestartWithTheirCauseAndSendsAreNeverLogged(int seed)
    {
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        var expected = new Dictionary<int, Guid?>();
        var pingIds = new ConcurrentDictionary<int, Guid>();
        var sends = 0;
        var handledPings = 0;
        await using (var bus = Open())
        {
            var orders = bus.GetSender<OrderPlaced>();
            var pings = bus.GetSender<Ping>();
            // Every order stays unhandled until the stop: the first one holds the worker, the rest wait in the log.
            bus.Subscribe<OrderPlaced>(async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct), new SubscriptionOptions { Name = "billing" });
            bus.Subscribe<Ping>(async (ping, context, _) =>
            {
                Assert.Same(context, EventContext.Current);
                pingIds[ping.Value] = context.EventId;
                Interlocked.Increment(ref handledPings);
                if (ping.Value % 2 == 1)
                    await orders.PublishAsync(new OrderPlaced(ping.Value));
                Assert.Same(context, EventContext.Current);
            }, new SubscriptionOptions { Name = "pinger" });

            for (var n = 1; n <= 150; n++)
            {
                var choice = random.Next(4);
                switch (choice)
                {
                    case 0:
                        await pings.SendAsync(new Ping(n)).Within();
                        break;
                    case 1:
                        await bus.SendAsync(new Ping(n)).Within();
                        break;
                    case 2:
                        var outcome = await pings.InvokeAsync(new Ping(n)).Within();
                        Assert.Equal(EventStatus.Completed, outcome.Status);
                        break;
                    default:
                        await orders.PublishAsync(new OrderPlaced(n)).Within();
                        expected[n] = null;
                        break;
                }

                if (choice < 3)
                {
                    sends++;
                    if (n % 2 == 1)
                        expected[n] = pingIds[n];
                }
            }

            Assert.Equal(sends, handledPings);
            // Every published order is still unhandled and in the log; inline sends never reached it.
            var report = await bus.StopAsync(TimeSpan.FromMilliseconds(50)).Within();
            Assert.Equal(expected.Count, report.PendingInLog);
        }

        var seen = new ConcurrentDictionary<int, Guid?>();
        var duplicates = 0;
        var pingsAfterRestart = 0;
        await using var again = Open();
        Assert.Equal(expected.Count, again.GetWriteAheadLogStatus()!.PendingEvents);
        again.Subscribe<Ping>(_ => Interlocked.Increment(ref pingsAfterRestart), new SubscriptionOptions { Name = "pinger" });
        again.Subscribe<OrderPlaced>((order, context, _) =>
        {
            if (!seen.TryAdd(order.OrderId, context.CausationId))
                Interlocked.Increment(ref duplicates);
            return ValueTask.CompletedTask;
        }, new SubscriptionOptions { Name = "billing" });

        await TestTimeout.Until(() => again.GetWriteAheadLogStatus()!.PendingEvents == 0 && again.GetStatistics().InFlight == 0, what: "the recovered orders handled");
        Assert.Equal(0, duplicates);
        Assert.Equal(0, pingsAfterRestart);
        Assert.Equal(expected.OrderBy(e => e.Key), seen.OrderBy(e => e.Key));
        output.WriteLine($"{sends} inline sends, {expected.Count} durable orders ({expected.Count(e => e.Value is not null)} published from a handler)");
    }
}
