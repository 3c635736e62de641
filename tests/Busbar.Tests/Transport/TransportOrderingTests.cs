using System.Collections.Concurrent;
using Busbar.Dispatch;
using Busbar.Transport;
using Busbar.Transport.Contract;
using Placed = Busbar.Transport.Contract.OrderPlaced;

namespace Busbar.Tests.Transport;

/// <summary>
/// Ordering keys on a bus over a transport, as docs/transports.md states them: the key travels in the envelope (a consumer's
/// handlers see it) but the broker's order, not the key, orders consumed events; one consumer taking one delivery at a time
/// handles one publisher's events in publish order; a redelivery (retry later) comes after the events behind it.
/// </summary>
public sealed class TransportOrderingTests : IAsyncDisposable
{
    private readonly InMemoryBroker _broker = new(new InMemoryTransportOptions { Lease = TimeSpan.FromSeconds(30), MaxDeliveries = 5 }, TimeProvider.System);
    private readonly EventTypeRegistry _events = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);

    public ValueTask DisposeAsync() => _broker.DisposeAsync();

    private IEventBus Bus(string name, int maxConcurrentEvents = 1) => new EventBusBuilder()
        .WithOptions(new EventBusOptions { Name = name, MaxConcurrentEvents = maxConcurrentEvents })
        .UseTransport(_broker.CreateTransport(ownsBroker: false), _events, new TransportBusOptions { Group = "ordering", RetryDelay = TimeSpan.FromMilliseconds(50) })
        .Build();

    private static Task Subscribed(IEventBus bus) => ((InProcessEventBus)bus).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());

    [Fact]
    public async Task OrderingKey_OneConsumerOneDeliveryAtATime_EachKeyHandledInPublishOrder()
    {
        await using var consumer = Bus("consumer");
        var seen = new ConcurrentQueue<(string? Key, int Number)>();
        consumer.Subscribe<Placed>((e, context, _) =>
        {
            seen.Enqueue((e.Customer, e.Number));
            return ValueTask.CompletedTask;
        });
        await Subscribed(consumer);
        await using var publisher = new EventBusBuilder().UseTransport(_broker.CreateTransport(ownsBroker: false), _events).Build();
        await ((InProcessEventBus)publisher).Link!.Transport.WaitAsync(TestTimeout.Token());

        for (var i = 0; i < 60; i++)
        {
            var key = "k" + (i % 3);
            await publisher.PublishAsync(new Placed(i, key), new PublishOptions { OrderingKey = key });
        }

        await TestTimeout.Until(() => seen.Count == 60, what: "every event handled");
        foreach (var key in new[] { "k0", "k1", "k2" })
        {
            var numbers = seen.Where(s => s.Key == key).Select(s => s.Number).ToList();
            Assert.Equal(numbers.Order(), numbers);
        }
    }

    [Fact]
    public async Task OrderingKey_ConsumedEvent_CarriesThePublishedKey()
    {
        await using var consumer = Bus("consumer");
        var keys = new ConcurrentQueue<string?>();
        consumer.Subscribe<Placed>((_, context, _) =>
        {
            keys.Enqueue(context.OrderingKey);
            return ValueTask.CompletedTask;
        });
        await Subscribed(consumer);
        await using var publisher = new EventBusBuilder().UseTransport(_broker.CreateTransport(ownsBroker: false), _events).Build();

        await publisher.PublishAndWaitAsync(new Placed(1, "c"), new PublishOptions { OrderingKey = "customer-1" }).AsTask().Within();
        await publisher.PublishAndWaitAsync(new Placed(2, "c")).AsTask().Within();

        await TestTimeout.Until(() => keys.Count == 2, what: "both events consumed");
        Assert.Equal(["customer-1", null], keys);
    }

    [Fact]
    public async Task OrderingKey_FirstEventRetriedLater_LaterEventOfTheKeyHandledBeforeIt()
    {
        // Both are in the broker before the group's consumer starts, so the second is ready when the first fails.
        await using var publisher = new EventBusBuilder().UseTransport(_broker.CreateTransport(ownsBroker: false), _events).Build();
        await publisher.PublishAndWaitAsync(new Placed(0, "c"), new PublishOptions { OrderingKey = "customer-1" }).AsTask().Within();
        await publisher.PublishAndWaitAsync(new Placed(1, "c"), new PublishOptions { OrderingKey = "customer-1" }).AsTask().Within();
        await using var consumer = Bus("consumer");
        var handled = new ConcurrentQueue<int>();
        consumer.Subscribe<Placed>((e, context, _) =>
        {
            if (e.Number == 0 && context.Attempt == 1)
                throw new InvalidOperationException("fails on its first delivery");
            handled.Enqueue(e.Number);
            return ValueTask.CompletedTask;
        });

        await TestTimeout.Until(() => handled.Count == 2, what: "both events handled");
        Assert.Equal([1, 0], handled);
    }

    [Fact]
    public async Task PublishAsync_BeforeTheTransportConnected_ReachesTheBrokerInPublishOrder()
    {
        await using var consumer = Bus("consumer");
        var seen = new ConcurrentQueue<int>();
        consumer.Subscribe<Placed>((e, _, _) =>
        {
            seen.Enqueue(e.Number);
            return ValueTask.CompletedTask;
        });
        await Subscribed(consumer);
        var connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var publisher = new EventBusBuilder()
            .UseTransport(async (_, ct) =>
            {
                await connected.Task.WaitAsync(ct);
                return _broker.CreateTransport(ownsBroker: false);
            }, _events)
            .Build();

        // The publishes wait for the connection; they must reach the broker in the order they were made.
        var handles = new List<EventHandle>();
        for (var i = 0; i < 30; i++)
            handles.Add(await publisher.PublishAsync(new Placed(i, "c"), new PublishOptions { OrderingKey = "c" }));
        connected.SetResult();
        foreach (var handle in handles)
            Assert.Equal(EventStatus.Completed, (await handle.AsTask().Within()).Status);

        await TestTimeout.Until(() => seen.Count == 30, what: "every event handled");
        Assert.Equal(Enumerable.Range(0, 30), seen);
    }
}
