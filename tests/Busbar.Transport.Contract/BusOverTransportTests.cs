using System.Collections.Concurrent;
using System.Diagnostics;
using Busbar.Dispatch;

namespace Busbar.Transport.Contract;

/// <summary>
/// A bus over a transport (<see cref="EventBusBuilder.UseTransport(IEventTransport, EventTypeRegistry, TransportBusOptions?)"/>):
/// what every transport must give the bus. A transport's test project subclasses it as it does
/// <see cref="TransportContractTests"/>; xUnit makes a new instance per test, so each test has its own broker namespace.
/// </summary>
public abstract class BusOverTransportTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _cleanup = [];

    /// <summary>The types the buses move: every contract event except <see cref="StockReserved"/>, which stays unknown.</summary>
    protected static EventTypeRegistry Events() => new EventTypeRegistry()
        .Add(ContractJsonContext.Default.OrderPlaced)
        .Add(ContractJsonContext.Default.OrderShipped)
        .Add(ContractJsonContext.Default.CardCaptured);

    protected EnvelopeCodec Codec { get; } = new(Events());

    /// <summary>The lease the fixture's transports are configured with.</summary>
    protected abstract TimeSpan Lease { get; }

    /// <summary>The maximum delivery count the fixture's transports are configured with.</summary>
    protected abstract int MaxDeliveries { get; }

    /// <summary>How long a test waits for something that should happen (generous: the machine is shared).</summary>
    protected virtual TimeSpan Patience => TimeSpan.FromSeconds(30);

    /// <summary>A new transport instance (its own consumer identity) on this test's broker namespace.</summary>
    protected abstract ValueTask<IEventTransport> CreateTransportAsync(string instance);

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
            await _cleanup[i].DisposeAsync();
    }

    /// <summary>A recording transport for one bus instance.</summary>
    protected async Task<RecordingTransport> TransportAsync(string instance)
    {
        var transport = new RecordingTransport(await CreateTransportAsync(instance), Codec);
        _cleanup.Add(transport);
        return transport;
    }

    /// <summary>A bus named <paramref name="name"/> over <paramref name="transport"/>, consuming in <paramref name="group"/>.</summary>
    protected IEventBus Bus(string name, IEventTransport transport, string group, TransportBusOptions? options = null, EventBusOptions? busOptions = null, Action<EventBusBuilder>? configure = null)
    {
        var builder = new EventBusBuilder()
            .WithOptions((busOptions ?? new EventBusOptions()) with { Name = name })
            .UseTransport(transport, Events(), (options ?? Options()) with { Group = group });
        configure?.Invoke(builder);
        var bus = builder.Build();
        _cleanup.Add(bus);
        return bus;
    }

    /// <summary>Transport options for these tests: the fixture's maximum deliveries, short retry delays, extension at a quarter of the lease.</summary>
    protected TransportBusOptions Options() => new()
    {
        MaxDeliveries = MaxDeliveries,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        MaxRetryDelay = TimeSpan.FromMilliseconds(50),
        LeaseExtensionInterval = Lease / 4,
    };

    /// <summary>Waits until the bus's transport subscriptions cover its subscriptions.</summary>
    protected async Task ConsumingAsync(IEventBus bus)
    {
        using var limit = new CancellationTokenSource(Patience);
        await ((InProcessEventBus)bus).Link!.WaitUntilSubscribedAsync(limit.Token);
    }

    protected async Task UntilAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > Patience)
                throw new TimeoutException($"Not within {Patience}: {what}");
            await Task.Delay(10);
        }
    }

    protected async Task<IReadOnlyList<TransportDeadLetter>> DeadLettersAsync(IEventTransport transport, int atLeast)
    {
        IReadOnlyList<TransportDeadLetter> letters = [];
        await UntilAsync(() =>
        {
            letters = transport.ReadDeadLettersAsync(1000).AsTask().GetAwaiter().GetResult();
            return letters.Count >= atLeast;
        }, $"{atLeast} dead letter(s)");
        return letters;
    }

    [Fact]
    public async Task PublishAsync_PriorityOrderingKeyAndDeadline_ConsumerSeesThemAsPublished()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders");
        var received = new TaskCompletionSource<EventContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<OrderPlaced>((_, context, _) =>
        {
            received.TrySetResult(context);
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(bus);

        var handle = await bus.PublishAsync(new OrderPlaced(8, "c8"), new PublishOptions { Priority = 3, OrderingKey = "customer-8", DeadlineAfter = TimeSpan.FromHours(1) });
        await handle.AsTask().WaitAsync(Patience);
        var context = await received.Task.WaitAsync(Patience);

        Assert.Equal(3, context.Priority);
        Assert.Equal("customer-8", context.OrderingKey);
        Assert.Equal(context.CreatedAt + TimeSpan.FromHours(1), context.Deadline);
        await UntilAsync(() => transport.Acked.ContainsKey(handle.EventId), "the delivery acknowledged");
    }

    [Fact]
    public async Task PublishAsync_DeadlinePassedBeforeConsumed_NoHandlerRunsAndTheDeliveryIsDeadLetteredAtOnce()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders");
        var handled = new ConcurrentQueue<int>();
        bus.Subscribe<OrderPlaced>((e, _, _) =>
        {
            handled.Enqueue(e.Number);
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(bus);

        // 100 ns after creation: over by the time any broker delivers it. The event after it has no deadline.
        var late = await bus.PublishAsync(new OrderPlaced(1, "late"), new PublishOptions { DeadlineAfter = TimeSpan.FromTicks(1) });
        await late.AsTask().WaitAsync(Patience);
        var onTime = await bus.PublishAsync(new OrderPlaced(2, "on time"));
        await onTime.AsTask().WaitAsync(Patience);
        await UntilAsync(() => transport.Acked.ContainsKey(onTime.EventId), "the event without a deadline acknowledged");
        var letters = await DeadLettersAsync(transport, 1);

        Assert.Equal([2], handled);
        var letter = Assert.Single(letters);
        Assert.Equal(1, letter.DeliveryCount);
        Assert.Contains("deadline", letter.Reason, StringComparison.Ordinal);
        Assert.Contains("timed out on delivery 1", letter.Reason, StringComparison.Ordinal);
        Assert.Equal(late.EventId, Codec.Decode(letter.Name, letter.Envelope).Event!.Envelope.EventId);
        Assert.DoesNotContain(transport.Settled, s => s.EventId == late.EventId && s.Settlement == "retry");
    }

    [Fact]
    public async Task PublishAsync_RemoteEvent_HandlerReceivesItThroughTheBrokerWithItsEnvelope()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders");
        var received = new TaskCompletionSource<(OrderPlaced Event, EventContext Context)>(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<OrderPlaced>((e, context, _) =>
        {
            received.TrySetResult((e, context));
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(bus);
        var correlation = Guid.NewGuid();

        var handle = await bus.PublishAsync(new OrderPlaced(7, "c7"), new PublishOptions { CorrelationId = correlation, Headers = new Dictionary<string, string> { ["tenant"] = "t1" } });
        var outcome = await handle.AsTask().WaitAsync(Patience);
        var (e, context) = await received.Task.WaitAsync(Patience);

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(new OrderPlaced(7, "c7"), e);
        Assert.Equal(handle.EventId, context.EventId);
        Assert.Equal(correlation, context.CorrelationId);
        Assert.Equal("t1", context.Headers["tenant"]);
        Assert.Equal(1, context.Attempt);
        Assert.Same(bus, context.Bus);
        Assert.Equal("orders-a", context.Path[0]);
        Assert.Equal(1, transport.PublishedCount("contract.orders.placed"));
        await UntilAsync(() => transport.Acked.ContainsKey(handle.EventId), "the delivery acknowledged");
    }

    [Fact]
    public async Task PublishAsync_TwoBusesInOneGroup_ShareTheEventsEachHandledOnce()
    {
        var handled = new ConcurrentDictionary<int, ConcurrentBag<string>>();
        var buses = new List<IEventBus>();
        foreach (var name in new[] { "w1", "w2" })
        {
            var bus = Bus(name, await TransportAsync(name), "workers", busOptions: new EventBusOptions { MaxConcurrentEvents = 2 });
            bus.Subscribe<OrderPlaced>(async (e, _, ct) =>
            {
                handled.GetOrAdd(e.Number, _ => []).Add(name);
                await Task.Delay(5, ct);
            });
            buses.Add(bus);
        }

        foreach (var bus in buses)
            await ConsumingAsync(bus);
        var publisher = Bus("publisher", await TransportAsync("p"), "publisher");
        for (var i = 0; i < 40; i++)
            await publisher.PublishAsync(new OrderPlaced(i, "c"));

        await UntilAsync(() => handled.Count == 40, "40 events handled");
        Assert.All(handled.Values, by => Assert.Single(by));
        Assert.Equal(2, handled.Values.SelectMany(b => b).Distinct().Count());
    }

    [Fact]
    public async Task Deliveries_WaitingBehindHandlersThatBlockEveryPumpForTwoLeases_EachHandledOnceOnItsFirstDelivery()
    {
        // A delivery the bus has read keeps its lease while it waits for a pump, not only while its handlers run: every pump
        // blocks synchronously for two leases and a half while three more deliveries wait behind them.
        var pumps = TransportSource.MaxPumps;
        var count = pumps + 3;
        ThreadPool.GetMinThreads(out var workers, out var ports);
        // The blocked pumps hold pool threads: room for the lease sweep and the broker client without waiting for the pool to grow.
        ThreadPool.SetMinThreads(workers + pumps, ports);
        try
        {
            var consumer = Bus("consumer", await TransportAsync("consumer"), "blocked", busOptions: new EventBusOptions { MaxConcurrentEvents = count });
            using var gate = new ManualResetEventSlim();
            var started = 0;
            var handled = new ConcurrentQueue<(int Number, int Attempt)>();
            consumer.Subscribe<OrderPlaced>((e, context, _) =>
            {
                Interlocked.Increment(ref started);
                Assert.True(gate.Wait(Patience), "the gate opened");
                handled.Enqueue((e.Number, context.Attempt));
                return ValueTask.CompletedTask;
            });
            await ConsumingAsync(consumer);
            var link = ((InProcessEventBus)consumer).Link!;
            var publisher = Bus("publisher", await TransportAsync("p"), "publisher");
            for (var i = 0; i < count; i++)
                await (await publisher.PublishAsync(new OrderPlaced(i, "c"))).AsTask().WaitAsync(Patience);

            await UntilAsync(() => Volatile.Read(ref started) == pumps && link.Running == count, "every pump blocked, the rest read");
            var blocked = Stopwatch.StartNew();
            await UntilAsync(() => blocked.Elapsed > Lease * 2.5, "two leases and a half");
            gate.Set();

            await UntilAsync(() => handled.Count >= count, $"{count} events handled");
            // The stop drains what the bus holds: a second delivery of any event would be handled by then.
            await consumer.StopAsync().AsTask().WaitAsync(Patience);
            Assert.Equal(Enumerable.Range(0, count).Select(n => (n, 1)), handled.OrderBy(h => h.Number));
        }
        finally
        {
            ThreadPool.SetMinThreads(workers, ports);
        }
    }

    [Fact]
    public async Task PublishAsync_OneConsumerTakingOneDeliveryAtATime_HandlesOnePublishersEventsInPublishOrder()
    {
        // The order docs/transports.md promises over a broker for one consumer taking one delivery at a time.
        var consumer = Bus("ordered", await TransportAsync("c"), "ordered", busOptions: new EventBusOptions { MaxConcurrentEvents = 1 });
        var seen = new ConcurrentQueue<int>();
        consumer.Subscribe<OrderPlaced>((e, _, _) =>
        {
            seen.Enqueue(e.Number);
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(consumer);
        var publisher = Bus("publisher", await TransportAsync("p"), "publisher");

        for (var i = 0; i < 30; i++)
            await (await publisher.PublishAsync(new OrderPlaced(i, "c"), new PublishOptions { OrderingKey = "c" })).AsTask().WaitAsync(Patience);

        await UntilAsync(() => seen.Count == 30, "30 events handled");
        Assert.Equal(Enumerable.Range(0, 30), seen);
    }

    [Fact]
    public async Task PublishAsync_KeyedEventsToAConsumerRunningFourAtOnce_EachKeyHandledOneAtATimeInPublishOrder()
    {
        var consumer = Bus("keyed", await TransportAsync("c"), "keyed", busOptions: new EventBusOptions { MaxConcurrentEvents = 4 });
        var order = new ConcurrentDictionary<string, ConcurrentQueue<int>>();
        var running = new ConcurrentDictionary<string, int>();
        var overlaps = 0;
        var handled = 0;
        consumer.Subscribe<OrderPlaced>(async (e, context, ct) =>
        {
            var key = context.OrderingKey!;
            if (running.AddOrUpdate(key, 1, static (_, n) => n + 1) > 1)
                Interlocked.Increment(ref overlaps);
            order.GetOrAdd(key, _ => new ConcurrentQueue<int>()).Enqueue(e.Number);
            await Task.Delay(e.Number % 3, ct);
            running.AddOrUpdate(key, 0, static (_, n) => n - 1);
            Interlocked.Increment(ref handled);
        });
        await ConsumingAsync(consumer);
        var publisher = Bus("publisher", await TransportAsync("p"), "publisher");

        var handles = new List<EventHandle>();
        for (var i = 0; i < 45; i++)
            handles.Add(await publisher.PublishAsync(new OrderPlaced(i, "c"), new PublishOptions { OrderingKey = "k" + (i % 3) }));
        foreach (var handle in handles)
            await handle.AsTask().WaitAsync(Patience);

        await UntilAsync(() => Volatile.Read(ref handled) == 45, "45 events handled");
        Assert.Equal(0, overlaps);
        foreach (var (key, numbers) in order)
            Assert.Equal(Enumerable.Range(0, 45).Where(i => "k" + (i % 3) == key), numbers);
    }

    [Fact]
    public async Task PublishAsync_TwoGroups_EachGroupHandlesEveryEvent()
    {
        var handled = new ConcurrentDictionary<string, ConcurrentBag<int>>();
        foreach (var group in new[] { "billing", "shipping" })
        {
            var bus = Bus(group, await TransportAsync(group), group);
            bus.Subscribe<OrderPlaced>((e, _, _) =>
            {
                handled.GetOrAdd(group, _ => []).Add(e.Number);
                return ValueTask.CompletedTask;
            });
            await ConsumingAsync(bus);
        }

        var publisher = Bus("publisher", await TransportAsync("p"), "publisher");
        for (var i = 0; i < 10; i++)
            await publisher.PublishAsync(new OrderPlaced(i, "c"));

        await UntilAsync(() => handled.Values.Sum(b => b.Count) == 20, "10 events in each of two groups");
        Assert.Equal(Enumerable.Range(0, 10), handled["billing"].Order());
        Assert.Equal(Enumerable.Range(0, 10), handled["shipping"].Order());
    }

    [Fact]
    public async Task HandlerFails_RedeliveredUntilMaxDeliveriesThenDeadLetteredWithTheHandlerAndReason()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders");
        var attempts = new ConcurrentQueue<int>();
        bus.Subscribe<OrderPlaced>((_, context, _) =>
        {
            attempts.Enqueue(context.Attempt);
            throw new InvalidOperationException("poison");
        }, new SubscriptionOptions { Name = "poison-handler" });
        await ConsumingAsync(bus);

        var handle = await bus.PublishAsync(new OrderPlaced(1, "c"));
        var letters = await DeadLettersAsync(transport, 1);

        var letter = Assert.Single(letters);
        Assert.Equal("orders", letter.Group);
        Assert.Equal(MaxDeliveries, letter.DeliveryCount);
        Assert.Contains("poison-handler", letter.Reason, StringComparison.Ordinal);
        Assert.Contains(nameof(InvalidOperationException), letter.Reason, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(1, MaxDeliveries), attempts);
        Assert.False(transport.Acked.ContainsKey(handle.EventId));
    }

    [Fact]
    public async Task Delivery_UnknownNameOrBadBody_DeadLetteredWithReasonAndGoodEventsKeepFlowing()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders");
        var good = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe("contract.**", (e, _, _) =>
        {
            if (e is OrderPlaced)
                good.TrySetResult();
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(bus);
        var unknown = new EnvelopeCodec(new EventTypeRegistry().Add(ContractJsonContext.Default.StockReserved))
            .Encode(new EventEnvelope { EventId = Guid.NewGuid(), Name = "contract.stock.reserved", CreatedAt = DateTimeOffset.UtcNow }, new StockReserved(1));
        var garbage = new TransportMessage(Guid.NewGuid(), "contract.orders.shipped", "{\"v\":1,\"id\":"u8.ToArray());

        await transport.PublishAsync([unknown, garbage]);
        await bus.PublishAsync(new OrderPlaced(2, "c"));
        var letters = await DeadLettersAsync(transport, 2);
        await good.Task.WaitAsync(Patience);

        Assert.Contains(letters, l => l.Name == "contract.stock.reserved" && l.Reason.Contains("UnknownName", StringComparison.Ordinal));
        Assert.Contains(letters, l => l.Name == "contract.orders.shipped" && l.Reason.Contains("MalformedEnvelope", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PublishAsync_EventKeptLocal_HandledInProcessAndNeverPublishedToTheBroker()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders", configure: b => b.KeepLocal<OrderShipped>());
        var local = new TaskCompletionSource<EventContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<OrderShipped>((_, context, _) =>
        {
            local.TrySetResult(context);
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(bus);

        var handle = await bus.PublishAsync(new OrderShipped(3));
        var outcome = await handle.AsTask().WaitAsync(Patience);

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(handle.EventId, (await local.Task.WaitAsync(Patience)).EventId);
        Assert.Empty(transport.Published);
        Assert.DoesNotContain("contract.orders.shipped", ((InProcessEventBus)bus).Link!.SubscribedPatterns);
    }

    [Fact]
    public async Task BrokerDelivery_HandlerPublishesOnContextBus_FollowUpCrossesTheBrokerWithCorrelationAndCausation()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders");
        var placedBus = new TaskCompletionSource<IEventBus?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var captured = new TaskCompletionSource<EventContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<OrderPlaced>(async (e, context, cancellationToken) =>
        {
            placedBus.TrySetResult(context.Bus);
            await context.Bus!.PublishAsync(new CardCaptured(e.Number), cancellationToken: cancellationToken);
        });
        bus.Subscribe<CardCaptured>((_, context, _) =>
        {
            captured.TrySetResult(context);
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(bus);
        var correlation = Guid.NewGuid();

        var handle = await bus.PublishAsync(new OrderPlaced(8, "c8"), new PublishOptions { CorrelationId = correlation });
        var followUp = await captured.Task.WaitAsync(Patience);

        Assert.Same(bus, await placedBus.Task.WaitAsync(Patience));
        Assert.Same(bus, followUp.Bus);
        Assert.Equal(correlation, followUp.CorrelationId);
        Assert.Equal(handle.EventId, followUp.CausationId);
        Assert.Equal(1, transport.PublishedCount("contract.payments.card.captured"));
    }

    [Fact]
    public async Task BrokerDelivery_HandlerPublishesALocalEventOnContextBusAndAwaitsIt_HandledInProcessWithCorrelationAndCausation()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders", configure: b => b.KeepLocal<OrderShipped>());
        var followUpOutcome = new TaskCompletionSource<EventOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var shipped = new TaskCompletionSource<EventContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<OrderPlaced>(async (e, context, cancellationToken) =>
        {
            var child = await context.Bus!.PublishAsync(new OrderShipped(e.Number), cancellationToken: cancellationToken);
            followUpOutcome.TrySetResult(await child);
        });
        bus.Subscribe<OrderShipped>((_, context, _) =>
        {
            shipped.TrySetResult(context);
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(bus);
        var correlation = Guid.NewGuid();

        var handle = await bus.PublishAsync(new OrderPlaced(9, "c9"), new PublishOptions { CorrelationId = correlation });
        var outcome = await followUpOutcome.Task.WaitAsync(Patience);
        var followUp = await shipped.Task.WaitAsync(Patience);

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Same(bus, followUp.Bus);
        Assert.Equal(correlation, followUp.CorrelationId);
        Assert.Equal(handle.EventId, followUp.CausationId);
        Assert.Equal(0, transport.PublishedCount("contract.orders.shipped"));
        await UntilAsync(() => transport.Acked.ContainsKey(handle.EventId), "the delivery acknowledged");
    }

    [Fact]
    public async Task SendAsync_OnABusWithATransport_RunsTheLocalHandlersInlineWithoutTheBroker()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders");
        var handled = 0;
        bus.Subscribe<OrderPlaced>((_, _, _) =>
        {
            handled++;
            return ValueTask.CompletedTask;
        });

        await bus.SendAsync(new OrderPlaced(4, "c"));
        var outcome = await bus.InvokeAsync(new OrderPlaced(5, "c"));

        Assert.Equal(2, handled);
        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Empty(transport.Published);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(1201)]
    public async Task Sender_RandomSendsInvokesAndPublishes_OnlyPublishesOfRemoteEventsCrossTheBrokerEachOnceWithTheirCause(int seed)
    {
        // The typed sender meets the transport: inline sends and invokes never reach the broker, a kept-local event
        // published through its sender stays in process, remote events published through a sender (directly or from an
        // inline handler) cross it once with the correlation and causation they were given.
        var random = new Random(seed);
        var transport = await TransportAsync("a");
        var bus = Bus("orders-a", transport, "orders-a", configure: b => b.KeepLocal<OrderShipped>());
        var consumer = Bus("orders-b", await TransportAsync("b"), "orders-b");
        var orders = bus.GetSender<OrderPlaced>();
        var ships = bus.GetSender<OrderShipped>();
        var cards = bus.GetSender<CardCaptured>();
        var shippedIds = new ConcurrentDictionary<int, Guid>();
        bus.Subscribe<OrderShipped>(async (e, context, cancellationToken) =>
        {
            Assert.Same(context, EventContext.Current);
            shippedIds[e.Number] = context.EventId;
            if (e.Number % 2 == 1)
                await cards.PublishAsync(new CardCaptured(e.Number), cancellationToken: cancellationToken);
        });
        var placed = new ConcurrentDictionary<int, (Guid Correlation, int Count)>();
        var captured = new ConcurrentDictionary<int, (Guid? Causation, int Count)>();
        consumer.Subscribe<OrderPlaced>((e, context, _) =>
        {
            placed.AddOrUpdate(e.Number, (context.CorrelationId, 1), (_, seen) => (seen.Correlation, seen.Count + 1));
            return ValueTask.CompletedTask;
        });
        consumer.Subscribe<CardCaptured>((e, context, _) =>
        {
            captured.AddOrUpdate(e.Number, (context.CausationId, 1), (_, seen) => (seen.Causation, seen.Count + 1));
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(consumer);

        var expectedPlaced = new Dictionary<int, Guid>();
        var shipped = new List<int>();
        var queuedShips = new List<EventHandle>();
        for (var n = 1; n <= 40; n++)
        {
            switch (random.Next(5))
            {
                case 0:
                    await ships.SendAsync(new OrderShipped(n));
                    shipped.Add(n);
                    break;
                case 1:
                    Assert.Equal(EventStatus.Completed, (await ships.InvokeAsync(new OrderShipped(n))).Status);
                    shipped.Add(n);
                    break;
                case 2:
                    var correlation = Guid.NewGuid();
                    await orders.PublishAsync(new OrderPlaced(n, "c" + n), new PublishOptions { CorrelationId = correlation });
                    expectedPlaced[n] = correlation;
                    break;
                case 3:
                    // No local handler of OrderPlaced on this bus: an inline send runs nothing and must not publish.
                    await bus.SendAsync(new OrderPlaced(n, "c" + n));
                    break;
                default:
                    queuedShips.Add(await ships.PublishAsync(new OrderShipped(n)));
                    shipped.Add(n);
                    break;
            }
        }

        foreach (var handle in queuedShips)
            Assert.Equal(EventStatus.Completed, (await handle.AsTask().WaitAsync(Patience)).Status);
        var expectedCards = shipped.Where(n => n % 2 == 1).ToList();
        await UntilAsync(() => placed.Count == expectedPlaced.Count && captured.Count == expectedCards.Count, "every published order and card consumed");

        Assert.Equal(expectedPlaced.Count, transport.PublishedCount("contract.orders.placed"));
        Assert.Equal(0, transport.PublishedCount("contract.orders.shipped"));
        Assert.Equal(expectedCards.Count, transport.PublishedCount("contract.payments.card.captured"));
        Assert.Equal(expectedPlaced.OrderBy(e => e.Key).Select(e => (e.Key, e.Value, 1)), placed.OrderBy(e => e.Key).Select(e => (e.Key, e.Value.Correlation, e.Value.Count)));
        Assert.Equal(expectedCards.Select(n => (n, (Guid?)shippedIds[n], 1)), captured.OrderBy(e => e.Key).Select(e => (e.Key, e.Value.Causation, e.Value.Count)));
    }

    private enum KeyedKind
    {
        Ok,
        Slow,
        FailOnce,
        Expired,
        HangOnFirstBus,
    }

    /// <summary>
    /// Ordering keys meet deadlines, failures and a stop over the broker (fixed, printed seeds): a consumer running four at
    /// once handles a random mix of keyed and unkeyed events, some slow, some failing their first delivery, some already past
    /// their deadline, some hanging until the stop gives them back; it is stopped at a random moment and a second consumer of
    /// the group takes over. Every event ends once: past its deadline, dead-lettered unhandled; else acknowledged after a
    /// handler succeeded. Neither bus ever runs two events of one key at once, and each runs a key's first deliveries in
    /// publish order.
    /// </summary>
    [Theory]
    [InlineData(7)]
    [InlineData(1201)]
    public async Task KeysDeadlinesFailuresAndAStop_RandomMix_EveryEventEndsOnceAndEachBusRunsAKeyOneAtATimeInOrder(int seed)
    {
        Console.WriteLine($"keyed transport mix seed {seed}");
        var random = new Random(seed);
        const int total = 60;
        var keys = new string?[total];
        var kinds = new KeyedKind[total];
        for (var i = 0; i < total; i++)
        {
            keys[i] = random.Next(4) == 0 ? null : "k" + random.Next(4);
            kinds[i] = random.Next(100) switch
            {
                < 55 => KeyedKind.Ok,
                < 70 => KeyedKind.Slow,
                < 83 => KeyedKind.FailOnce,
                < 93 => KeyedKind.Expired,
                _ => KeyedKind.HangOnFirstBus,
            };
        }

        var stopAfter = random.Next(5, 30);
        var hanging = false;
        var handled = new ConcurrentDictionary<int, int>();
        var overlaps = new ConcurrentQueue<string>();
        var firstRuns = new ConcurrentDictionary<(string Bus, string Key), ConcurrentQueue<int>>();

        IEventBus Consumer(string name, IEventTransport transport)
        {
            var running = new ConcurrentDictionary<string, int>();
            var bus = Bus(name, transport, "keyed", busOptions: new EventBusOptions { MaxConcurrentEvents = 4 });
            bus.Subscribe<OrderPlaced>(async (e, context, ct) =>
            {
                var key = context.OrderingKey;
                Assert.Equal(keys[e.Number], key);
                if (key is not null)
                {
                    if (running.AddOrUpdate(key, 1, static (_, n) => n + 1) > 1)
                        overlaps.Enqueue($"{name}: {key} at event {e.Number}");
                    if (context.Attempt == 1)
                        firstRuns.GetOrAdd((name, key), _ => new ConcurrentQueue<int>()).Enqueue(e.Number);
                }

                try
                {
                    switch (kinds[e.Number])
                    {
                        case KeyedKind.Slow:
                            await Task.Delay(1 + (e.Number % 15), ct);
                            break;
                        case KeyedKind.FailOnce when context.Attempt == 1:
                            throw new InvalidOperationException("fails on its first delivery");
                        case KeyedKind.HangOnFirstBus when name == "keyed-1":
                            Volatile.Write(ref hanging, true);
                            await Task.Delay(Timeout.Infinite, ct);
                            break;
                        default:
                            await Task.Yield();
                            break;
                    }

                    handled.AddOrUpdate(e.Number, 1, static (_, n) => n + 1);
                }
                finally
                {
                    if (key is not null)
                        running.AddOrUpdate(key, 0, static (_, n) => n - 1);
                }
            });
            return bus;
        }

        var firstTransport = await TransportAsync("c1");
        var first = Consumer("keyed-1", firstTransport);
        await ConsumingAsync(first);
        var publisher = Bus("publisher", await TransportAsync("p"), "publisher");
        var ids = new Guid[total];
        for (var i = 0; i < total; i++)
        {
            var options = new PublishOptions { OrderingKey = keys[i], DeadlineAfter = kinds[i] == KeyedKind.Expired ? TimeSpan.FromTicks(1) : null };
            ids[i] = (await (await publisher.PublishAsync(new OrderPlaced(i, "c"), options)).AsTask().WaitAsync(Patience)).Context.EventId;
        }

        // Stopped at a random moment, or once an event hangs there (it holds its key and a place until the stop).
        await UntilAsync(() => handled.Count >= stopAfter || Volatile.Read(ref hanging), $"{stopAfter} events handled, or one hanging, before the stop");
        var report = await first.StopAsync(TimeSpan.FromMilliseconds(300)).AsTask().WaitAsync(Patience);
        Console.WriteLine($"first consumer stopped after {handled.Count} handled: {report}");
        var secondTransport = await TransportAsync("c2");
        var second = Consumer("keyed-2", secondTransport);
        await ConsumingAsync(second);

        var expired = Enumerable.Range(0, total).Where(i => kinds[i] == KeyedKind.Expired).ToList();
        bool Acked(int i) => firstTransport.Acked.ContainsKey(ids[i]) || secondTransport.Acked.ContainsKey(ids[i]);
        await UntilAsync(() => Enumerable.Range(0, total).Where(i => kinds[i] != KeyedKind.Expired).All(Acked), "every event with time left acknowledged");
        var letters = expired.Count == 0 ? [] : await DeadLettersAsync(firstTransport, expired.Count);

        Assert.Empty(overlaps);
        Assert.Equal(expired.Select(i => ids[i]).Order(), letters.Select(l => Codec.Decode(l.Name, l.Envelope).Event!.Envelope.EventId).Order());
        Assert.All(letters, l => Assert.Contains("deadline", l.Reason, StringComparison.Ordinal));
        for (var i = 0; i < total; i++)
        {
            if (kinds[i] == KeyedKind.Expired)
                Assert.False(handled.ContainsKey(i) || Acked(i), $"event {i}: past its deadline, yet handled or acknowledged");
            else
                Assert.True(handled.ContainsKey(i), $"event {i} ({kinds[i]}): acknowledged without a handler succeeding");
        }

        foreach (var ((bus, key), numbers) in firstRuns)
            Assert.True(numbers.SequenceEqual(numbers.Order()), $"{bus} ran key {key}'s first deliveries out of publish order: {string.Join(", ", numbers)}");
    }

    [Fact]
    public async Task StopAsync_HandlerStillRunningAfterTheDrain_DeliveryNotAckedAndRedeliveredToAnotherBusOfTheGroup()
    {
        var first = await TransportAsync("a");
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var busA = Bus("a", first, "orders");
        busA.Subscribe<OrderPlaced>(async (_, _, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        await ConsumingAsync(busA);
        var handle = await busA.PublishAsync(new OrderPlaced(8, "c"));
        await started.Task.WaitAsync(Patience);

        var report = await busA.StopAsync(TimeSpan.FromMilliseconds(50));
        var busB = Bus("b", await TransportAsync("b"), "orders");
        var redelivered = new TaskCompletionSource<EventContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        busB.Subscribe<OrderPlaced>((_, context, _) =>
        {
            redelivered.TrySetResult(context);
            return ValueTask.CompletedTask;
        });
        var context = await redelivered.Task.WaitAsync(Patience);

        Assert.False(report.Completed);
        Assert.Equal(1, report.PendingInBroker);
        Assert.Equal(1, report.Cancelled);
        Assert.Equal(handle.EventId, context.EventId);
        Assert.Equal(2, context.Attempt);
        Assert.False(first.Acked.ContainsKey(handle.EventId));
    }

    [Fact]
    public async Task StopAsync_HandlersFinishWithinTheDrain_EveryDeliveryAckedBeforeItReturns()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("a", transport, "orders");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        bus.Subscribe<OrderPlaced>(async (_, _, _) =>
        {
            Interlocked.Increment(ref started);
            await release.Task;
        });
        await ConsumingAsync(bus);
        for (var i = 0; i < 3; i++)
            await bus.PublishAsync(new OrderPlaced(i, "c"));
        await UntilAsync(() => Volatile.Read(ref started) >= 1, "a handler started");

        var stopping = bus.StopAsync(Patience).AsTask();
        release.SetResult();
        var report = await stopping.WaitAsync(Patience);

        Assert.True(report.Completed);
        Assert.Equal(0, report.PendingInBroker);
        Assert.Equal(Volatile.Read(ref started), transport.Acked.Count);
    }

    [Fact]
    public async Task PublishAsync_InsideAnActivity_HandlerSpanContinuesTheTraceAcrossTheBroker()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Busbar",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        var bus = Bus("a", await TransportAsync("a"), "orders");
        var seen = new TaskCompletionSource<(ActivityTraceId Trace, ActivityKind Kind, string Name)>(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<OrderPlaced>((_, _, _) =>
        {
            var current = Activity.Current!;
            seen.TrySetResult((current.TraceId, current.Kind, current.OperationName));
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(bus);
        using var source = new ActivitySource("Busbar.Tests.Caller");
        using var callerListener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == source.Name,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(callerListener);

        ActivityTraceId trace;
        using (var caller = source.StartActivity("request")!)
        {
            trace = caller.TraceId;
            await bus.PublishAsync(new OrderPlaced(9, "c"));
        }

        var handler = await seen.Task.WaitAsync(Patience);
        Assert.Equal(trace, handler.Trace);
        Assert.Equal(ActivityKind.Consumer, handler.Kind);
        Assert.Equal("process contract.orders.placed", handler.Name);
    }

    [Fact]
    public async Task Subscribe_AfterTheBusStarted_NewEventNameIsConsumed()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("a", transport, "orders");
        bus.Subscribe<OrderPlaced>((_, _, _) => ValueTask.CompletedTask);
        await ConsumingAsync(bus);

        var captured = new TaskCompletionSource<CardCaptured>(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe("contract.payments.**", (e, _, _) =>
        {
            captured.TrySetResult((CardCaptured)e);
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(bus);
        await bus.PublishAsync(new CardCaptured(11));

        Assert.Equal(new CardCaptured(11), await captured.Task.WaitAsync(Patience));
        Assert.Contains("contract.payments.**", ((InProcessEventBus)bus).Link!.SubscribedPatterns);
    }

    [Fact]
    public async Task Unsubscribe_EventForNoHandler_IsAcknowledged()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("a", transport, "orders");
        var subscription = bus.Subscribe<OrderPlaced>((_, _, _) => throw new InvalidOperationException("must not run"));
        await ConsumingAsync(bus);
        subscription.Dispose();

        var handle = await bus.PublishAsync(new OrderPlaced(12, "c"));

        await UntilAsync(() => transport.Acked.ContainsKey(handle.EventId), "the event for no handler acknowledged");
    }

    [Fact]
    public async Task SlowHandler_RunsLongerThanTheLease_LeaseExtendedAndNotRedelivered()
    {
        var transport = await TransportAsync("a");
        var bus = Bus("a", transport, "orders");
        var runs = 0;
        bus.Subscribe<OrderPlaced>(async (_, _, ct) =>
        {
            Interlocked.Increment(ref runs);
            await Task.Delay(Lease * 3, ct);
        });
        await ConsumingAsync(bus);
        var handle = await bus.PublishAsync(new OrderPlaced(13, "c"));
        await UntilAsync(() => Volatile.Read(ref runs) == 1, "the slow handler started");

        // A competing consumer of the group, idle: it would receive the event if the lease lapsed.
        var other = Bus("b", await TransportAsync("b"), "orders");
        other.Subscribe<OrderPlaced>((_, _, _) =>
        {
            Interlocked.Increment(ref runs);
            return ValueTask.CompletedTask;
        });
        await ConsumingAsync(other);
        await UntilAsync(() => transport.Acked.ContainsKey(handle.EventId), "the slow delivery acknowledged");

        Assert.Equal(1, Volatile.Read(ref runs));
        Assert.True(transport.Extended.GetValueOrDefault(handle.EventId) >= 2, $"extended {transport.Extended.GetValueOrDefault(handle.EventId)} time(s)");
    }
}
