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
    public async Task StopAsync_DeliveriesWaitingBehindTheirKey_GivenBackInOrderBeforeStopReturns()
    {
        var registry = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);
        var codec = new EnvelopeCodec(registry);
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = TimeSpan.FromSeconds(30), MaxDeliveries = 5 }, TimeProvider.System);
        var recorder = new RecordingTransport(broker.CreateTransport(ownsBroker: false), codec);
        var options = new TransportBusOptions { Group = "stop" };
        var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "b", MaxConcurrentEvents = 4 })
            .UseTransport(recorder, registry, options)
            .Build();
        var started = new ConcurrentQueue<int>();
        var handled = new ConcurrentQueue<int>();
        bus.Subscribe<Placed>(async (e, _, ct) =>
        {
            started.Enqueue(e.Number);

            // Key k's first event never finishes on its own, so its later ones wait behind it; key m's finish at once.
            if (e.Number == 0)
                await Task.Delay(Timeout.Infinite, ct);
            handled.Enqueue(e.Number);
        });
        await ((InProcessEventBus)bus).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());
        await using var publisher = new EventBusBuilder().UseTransport(broker.CreateTransport(ownsBroker: false), registry).Build();
        var ids = new Dictionary<Guid, int>();
        foreach (var (number, key) in new[] { (0, "k"), (1, "k"), (2, "m"), (3, "k") })
            ids[(await publisher.PublishAndWaitAsync(new Placed(number, "c"), new PublishOptions { OrderingKey = key }).AsTask().Within()).Context.EventId] = number;
        await TestTimeout.Until(() => handled.Contains(2) && started.Contains(0), what: "key m's event handled beside key k's first");

        var report = await bus.StopAsync(TimeSpan.FromMilliseconds(300)).AsTask().Within();
        await bus.DisposeAsync();

        // The waiting ones started only after the drain timeout cancelled the first: none was handled, all were given back.
        Console.WriteLine(report);
        Assert.Equal([2], handled);
        Assert.Equal([2], recorder.Acked.Keys.Select(id => ids[id]));
        Assert.Equal([0, 1, 3], recorder.Settled.Where(s => s.Settlement == "retry").Select(s => ids[s.EventId]).Order());
        Assert.False(report.Completed);
        Assert.Equal(3, report.Cancelled);
        Assert.Equal(3, report.PendingInBroker);
        Assert.Equal([0], started.Where(n => n != 2));

        // The next consumer of the group gets them again, key k's in publish order.
        var again = new ConcurrentQueue<(int Number, int Attempt)>();
        await using var next = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "c", MaxConcurrentEvents = 4 })
            .UseTransport(broker.CreateTransport(ownsBroker: false), registry, options)
            .Build();
        next.Subscribe<Placed>((e, context, _) =>
        {
            again.Enqueue((e.Number, context.Attempt));
            return ValueTask.CompletedTask;
        });
        await TestTimeout.Until(() => again.Count >= 3, what: "the given-back deliveries consumed by the next bus");
        Assert.Equal([0, 1, 3], again.Select(a => a.Number));
        Assert.All(again, a => Assert.Equal(2, a.Attempt));
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

    [Fact]
    public async Task PublishAsync_PassedTheStopCheckAsTheStopBegan_RefusedWithBusStoppedAndNothingSentAfterTheStop()
    {
        var registry = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderShipped);
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions(), TimeProvider.System);
        var recorder = new SlowAckTransport(broker.CreateTransport(ownsBroker: false));
        recorder.Open();
        var gate = new GateValidator();
        var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "gated" })
            .AddValidator(gate)
            .UseTransport(recorder, registry)
            .Build();
        await ((InProcessEventBus)bus).Link!.Transport.WaitAsync(TestTimeout.Token());
        gate.Arm();

        // The publish passes the bus's stop check, then waits in its validator (the race point) while the stop runs to the end.
        var publishing = Task.Factory.StartNew(() => bus.PublishAsync(new Shipped(1)).AsTask(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        await gate.Reached.Task.Within();
        var report = await bus.StopAsync().AsTask().Within();
        gate.Open();

        await Assert.ThrowsAsync<BusStoppedException>(() => publishing.Within());
        Assert.True(report.Completed);
        Assert.Empty(recorder.Stored);
        await bus.DisposeAsync();
        Assert.Empty(recorder.Stored);
    }

    [Theory]
    [InlineData(3, BusFullMode.Wait)]
    [InlineData(17, BusFullMode.Reject)]
    [InlineData(29, BusFullMode.Wait)]
    [InlineData(43, BusFullMode.DropNewest)]
    [InlineData(61, BusFullMode.Wait)]
    public async Task StopAsync_WhilePublishersRace_EveryPublishSentBeforeTheStopReturnedOrRefused(int seed, BusFullMode mode)
    {
        var random = new Random(seed);
        var capacity = random.Next(1, 64);
        var publishers = random.Next(2, 6);
        var stopAfter = random.Next(0, 400);
        Console.WriteLine($"seed {seed}: {mode}, capacity {capacity}, {publishers} publishers, stop after {stopAfter} publishes");
        var registry = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderShipped);
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions(), TimeProvider.System);
        var recorder = new SlowAckTransport(broker.CreateTransport(ownsBroker: false));
        recorder.Open();
        var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions { Name = "race", Capacity = capacity, FullMode = mode })
            .AddValidator(new JitterValidator())
            .UseTransport(recorder, registry)
            .Build();
        await ((InProcessEventBus)bus).Link!.Transport.WaitAsync(TestTimeout.Token());
        var handles = new ConcurrentQueue<EventHandle>();
        var refused = 0;
        var attempts = 0;
        var unexpected = new ConcurrentQueue<Exception>();
        var limit = TestTimeout.Token();

        async Task PublishUntilStoppedAsync(int publisher)
        {
            // Each publisher has its own seeded stream of choices, so a run is the same mix every time (the interleaving is not).
            var choices = new Random(seed * 31 + publisher);
            for (var i = 0; i < 100_000 && !limit.IsCancellationRequested; i++)
            {
                Interlocked.Increment(ref attempts);
                try
                {
                    switch (choices.Next(3))
                    {
                        case 0:
                            handles.Enqueue(await bus.PublishAsync(new Shipped(i), cancellationToken: limit));
                            break;
                        case 1:
                            if (bus.TryPublish(new Shipped(i), out var handle))
                                handles.Enqueue(handle);
                            else
                                Interlocked.Increment(ref refused);
                            break;
                        default:
                            foreach (var each in await bus.PublishBatchAsync([new Shipped(i), new Shipped(-i)], cancellationToken: limit))
                                handles.Enqueue(each);
                            break;
                    }
                }
                catch (BusStoppedException)
                {
                    return;
                }
                catch (BusFullException)
                {
                    Interlocked.Increment(ref refused);
                }
                catch (Exception ex)
                {
                    unexpected.Enqueue(ex);
                    return;
                }

                if (choices.Next(4) == 0)
                    await Task.Yield();
            }
        }

        var running = new List<Task>();
        for (var p = 0; p < publishers; p++)
        {
            var publisher = p;
            running.Add(Task.Run(() => PublishUntilStoppedAsync(publisher)));
        }

        await TestTimeout.Until(() => Volatile.Read(ref attempts) >= stopAfter, what: "publishes before the stop");
        var report = await bus.StopAsync(TimeSpan.FromSeconds(20)).AsTask().Within();
        var storedWhenStopped = recorder.Stored.Select(static m => m.EventId).ToHashSet();
        await Task.WhenAll(running).Within();
        await bus.DisposeAsync();

        Assert.Empty(unexpected);
        Assert.True(report.Completed, $"seed {seed}: the stop did not drain");
        var sent = 0;
        foreach (var handle in handles)
        {
            var status = handle.Context.Status;
            if (status is EventStatus.Dropped or EventStatus.Rejected)
                continue;
            Assert.True(status == EventStatus.Completed, $"seed {seed}: event {handle.Context.EventId} is {status}, not sent before the stop returned");
            Assert.True(storedWhenStopped.Contains(handle.Context.EventId), $"seed {seed}: event {handle.Context.EventId} reached the broker after the stop returned");
            sent++;
        }

        // A batch the stop cut short threw away the handles of its first events, but they too were sent before the stop returned.
        Assert.Equal(storedWhenStopped.Count, recorder.Stored.Count);
        Console.WriteLine($"seed {seed}: {sent} sent, {refused} refused by a full window, {handles.Count - sent} dropped or rejected");
    }

    /// <summary>Widens the window between a publish's stop check and its send (where a validator runs) now and then, so a stop meets publishes there.</summary>
    private sealed class JitterValidator : IEventValidator<Shipped>
    {
        public void Validate(Shipped @event, ICollection<System.ComponentModel.DataAnnotations.ValidationResult> errors)
        {
            switch (@event.Number & 7)
            {
                case 0:
                    Thread.Yield();
                    break;
                case 1:
                    Thread.SpinWait(2_000);
                    break;
            }
        }
    }

    /// <summary>A validator that, once armed, holds the next publish at the point after the bus's stop check until <see cref="Open"/>.</summary>
    private sealed class GateValidator : IEventValidator<Shipped>
    {
        private readonly ManualResetEventSlim _open = new();
        private int _armed;

        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Arm() => Volatile.Write(ref _armed, 1);

        public void Open() => _open.Set();

        public void Validate(Shipped @event, ICollection<System.ComponentModel.DataAnnotations.ValidationResult> errors)
        {
            if (Interlocked.Exchange(ref _armed, 0) == 0)
                return;
            Reached.TrySetResult();
            Assert.True(_open.Wait(TestTimeout.Default), "the gate was never opened");
        }
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
