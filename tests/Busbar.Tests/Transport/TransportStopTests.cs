using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
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

    [Fact]
    public async Task StopAsync_DeliveryReadAsIntakeEnds_DrainedThenGivenBackBeforeStopReturns()
    {
        var registry = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);
        var codec = new EnvelopeCodec(registry);
        var message = codec.Encode(new EventEnvelope { EventId = Guid.NewGuid(), Name = "contract.orders.placed", CreatedAt = DateTimeOffset.UnixEpoch }, new Placed(1, "c"));
        await using var transport = new LateDeliveryTransport(message);
        await using var bus = new EventBusBuilder().WithOptions(new EventBusOptions { Name = "late" }).UseTransport(transport, registry).Build();
        bus.Subscribe<Placed>(async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct));
        await ((InProcessEventBus)bus).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(300)).Within();

        // The broker handed the delivery over just after intake ended: the stop waits for it like any running delivery,
        // cancels it at the drain timeout and gives it back, all before it returns. It never runs after the stop.
        Assert.Equal("retry", transport.Settlement);
        Assert.False(report.Completed);
        Assert.Equal(1, report.Cancelled);
        Assert.Equal(1, report.PendingInBroker);
    }

    /// <summary>A broker whose one subscription hands over a delivery a moment after the consumer cancelled its read, as a read answered in flight does.</summary>
    private sealed class LateDeliveryTransport(TransportMessage message) : IEventTransport, ITransportDelivery
    {
        private string? _settlement;

        public string? Settlement => Volatile.Read(ref _settlement);

        public string DeliveryId => "late-1";

        public string Name => message.Name;

        public string Group { get; private set; } = "";

        public int DeliveryCount => 1;

        public ReadOnlyMemory<byte> Envelope => message.Envelope;

        public ValueTask PublishAsync(IReadOnlyList<TransportMessage> messages, CancellationToken cancellationToken = default) => default;

        public ValueTask<ITransportSubscription> SubscribeAsync(TransportSubscriptionOptions options, CancellationToken cancellationToken = default)
        {
            Group = options.Group;
            return new ValueTask<ITransportSubscription>(new Subscription(this, options));
        }

        public ValueTask<IReadOnlyList<TransportDeadLetter>> ReadDeadLettersAsync(int maxCount, CancellationToken cancellationToken = default) => new([]);

        public ValueTask<bool> RedriveDeadLetterAsync(string id, CancellationToken cancellationToken = default) => new(false);

        public IAsyncEnumerable<TransportMessage> TailAsync(IReadOnlyList<string> patterns, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask AckAsync(CancellationToken cancellationToken = default) => Settle("ack");

        public ValueTask RetryLaterAsync(TimeSpan delay, CancellationToken cancellationToken = default) => Settle("retry");

        public ValueTask TerminateAsync(string reason, CancellationToken cancellationToken = default) => Settle("terminate");

        public ValueTask ExtendLeaseAsync(CancellationToken cancellationToken = default) => default;

        public ValueTask DisposeAsync() => default;

        private ValueTask Settle(string how)
        {
            Assert.Null(Interlocked.CompareExchange(ref _settlement, how, null));
            return default;
        }

        private sealed class Subscription(LateDeliveryTransport owner, TransportSubscriptionOptions options) : ITransportSubscription
        {
            public string Group => options.Group;

            public IReadOnlyList<string> Patterns => options.Patterns;

            public async IAsyncEnumerable<ITransportDelivery> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

                // The read was answered as it was cancelled: the answer arrives a moment later (a broker round trip).
                await Task.Delay(20, CancellationToken.None);
                yield return owner;
            }

            public ValueTask DisposeAsync() => default;
        }
    }
}
