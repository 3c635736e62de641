using System.Collections.Concurrent;
using Busbar.Dispatch;
using Busbar.Transport;
using Busbar.Transport.Contract;
using Placed = Busbar.Transport.Contract.OrderPlaced;
using Shipped = Busbar.Transport.Contract.OrderShipped;

namespace Busbar.Tests.Transport;

/// <summary>
/// A stop that meets a bus over a transport mid-work: deliveries inside their handlers (some finish during the drain, some
/// never do) and publishes waiting for the broker's answer. The report must add up, nothing may be acknowledged that was
/// not handled, and what was given back must reach another consumer of the group.
/// </summary>
public sealed class TransportStopTests
{
    [Fact]
    public async Task StopAsync_DeliveriesMidHandlerAndPublishesInTheWindow_ReportAddsUpAndNothingAckedUnhandled()
    {
        var registry = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced).Add(ContractJsonContext.Default.OrderShipped);
        var codec = new EnvelopeCodec(registry);
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = TimeSpan.FromSeconds(30), MaxDeliveries = 5 }, TimeProvider.System);
        var slow = new SlowAckTransport(broker.CreateTransport(ownsBroker: false));
        var recorder = new RecordingTransport(slow, codec);
        var options = new TransportBusOptions { Group = "stop" };
        var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "b", MaxConcurrentEvents = 4, Capacity = 8 })
            .UseTransport(recorder, registry, options)
            .Build();
        var started = new ConcurrentDictionary<int, bool>();
        var handled = new ConcurrentDictionary<int, bool>();
        var finish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Placed>(async (e, _, ct) =>
        {
            started[e.Number] = true;

            // 0 and 1 never finish on their own; 2 and 3 finish once the stop has begun.
            if (e.Number < 2)
                await Task.Delay(Timeout.Infinite, ct);
            else
                await finish.Task.WaitAsync(ct);
            handled[e.Number] = true;
        });
        await ((InProcessEventBus)bus).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());
        await using var publisher = new EventBusBuilder().UseTransport(broker.CreateTransport(ownsBroker: false), registry).Build();
        var ids = new Dictionary<Guid, int>();
        for (var i = 0; i < 4; i++)
            ids[(await publisher.PublishAndWaitAsync(new Placed(i, "c")).AsTask().Within()).Context.EventId] = i;
        await TestTimeout.Until(() => started.Count == 4, what: "four deliveries inside their handlers");
        var sent = new List<EventHandle>();
        for (var i = 0; i < 5; i++)
            sent.Add(await bus.PublishAsync(new Shipped(i)));
        await TestTimeout.Until(() => slow.Waiting > 0, what: "the publishes waiting for the broker");
        Assert.Empty(slow.Stored);

        var stopping = bus.StopAsync(TimeSpan.FromSeconds(2)).AsTask();
        finish.SetResult();
        slow.Open();
        var report = await stopping.Within();
        await bus.DisposeAsync();

        Console.WriteLine(report);
        Assert.False(report.Completed);
        Assert.Equal(2, report.Drained);
        Assert.Equal(2, report.Cancelled);
        Assert.Equal(2, report.PendingInBroker);
        Assert.Equal([2, 3], handled.Keys.Order());
        Assert.Equal([2, 3], recorder.Acked.Keys.Select(id => ids[id]).Order());
        Assert.All(recorder.Settled.Where(s => s.Settlement != "ack"), s => Assert.Equal("retry", s.Settlement));
        foreach (var handle in sent)
            Assert.Equal(EventStatus.Completed, (await handle.AsTask().Within()).Status);
        Assert.Equal(5, slow.Stored.Count);

        // What the stop gave back goes to the next consumer of the group, delivered a second time.
        var again = new ConcurrentQueue<(int Number, int Attempt)>();
        await using var next = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "c" })
            .UseTransport(broker.CreateTransport(ownsBroker: false), registry, options)
            .Build();
        next.Subscribe<Placed>((e, context, _) =>
        {
            again.Enqueue((e.Number, context.Attempt));
            return ValueTask.CompletedTask;
        });
        await TestTimeout.Until(() => again.Count >= 2, what: "the given-back deliveries consumed by the next bus");
        Assert.Equal([(0, 2), (1, 2)], again.Order());
    }
}
