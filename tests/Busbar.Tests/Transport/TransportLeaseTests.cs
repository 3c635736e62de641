using System.Collections.Concurrent;
using Busbar.Dispatch;
using Busbar.Transport;
using Busbar.Transport.Contract;
using Microsoft.Extensions.Time.Testing;
using Placed = Busbar.Transport.Contract.OrderPlaced;

namespace Busbar.Tests.Transport;

/// <summary>
/// A consuming bus keeps the lease of every delivery it holds, from the moment it reads it until its settlement begins:
/// waiting for a pump, running synchronously, parked behind its ordering key, and across the step from parked to running.
/// The broker and the bus share one fake clock, so a lease runs out exactly when the clock says so and never because a
/// loaded machine was slow.
/// </summary>
public sealed class TransportLeaseTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);
    private readonly EventTypeRegistry _events = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);

    /// <summary>Moves the shared clock on in steps of a second, so each timer fires at its own time, in order.</summary>
    private static void Advance(FakeTimeProvider clock, TimeSpan by)
    {
        for (var gone = TimeSpan.Zero; gone < by; gone += TimeSpan.FromSeconds(1))
            clock.Advance(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Lease_DeliveriesWaitingForAPumpAndHandlersBlockingIt_KeptPastThreeLeases()
    {
        // Every pump is held by a handler that blocks synchronously, and three more deliveries wait for a pump: none of them
        // has returned to the source yet, and none may go back to the broker while the clock runs three leases on.
        var pumps = TransportSource.MaxPumps;
        var count = pumps + 3;
        ThreadPool.GetMinThreads(out var workers, out var ports);
        // The pumps block pool threads: room for the test's own continuations without waiting for the pool to grow.
        ThreadPool.SetMinThreads(workers + pumps, ports);
        try
        {
            var clock = new FakeTimeProvider();
            await using var broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = Lease, MaxDeliveries = 5 }, clock);
            await using var consumer = new EventBusBuilder()
                .WithTimeProvider(clock)
                .WithOptions(new EventBusOptions { Name = "consumer", MaxConcurrentEvents = count })
                .UseTransport(broker.CreateTransport(ownsBroker: false), _events, new TransportBusOptions { Group = "lease", LeaseExtensionInterval = TimeSpan.FromSeconds(4) })
                .Build();
            using var gate = new ManualResetEventSlim();
            var started = 0;
            var handled = new ConcurrentQueue<(int Number, int Attempt)>();
            consumer.Subscribe<Placed>((e, context, _) =>
            {
                Interlocked.Increment(ref started);
                Assert.True(gate.Wait(TestTimeout.Default), "the gate opened");
                handled.Enqueue((e.Number, context.Attempt));
                return ValueTask.CompletedTask;
            });
            var link = ((InProcessEventBus)consumer).Link!;
            await link.WaitUntilSubscribedAsync(TestTimeout.Token());
            await using var publisher = new EventBusBuilder().UseTransport(broker.CreateTransport(ownsBroker: false), _events).Build();
            for (var i = 0; i < count; i++)
                await publisher.PublishAsync(new Placed(i, "c"));

            await TestTimeout.Until(() => Volatile.Read(ref started) == pumps && link.Running == count, what: "every pump blocked, the rest read");
            Advance(clock, 3 * Lease);

            // Before this was kept, every one of them went back to the broker here and each was handled up to four times.
            Assert.Equal(count, link.Running);
            gate.Set();
            await TestTimeout.Until(() => handled.Count >= count, what: "every event handled");
            await consumer.StopAsync().AsTask().Within();
            Assert.Equal(Enumerable.Range(0, count).Select(n => (n, 1)), handled.OrderBy(h => h.Number));
            Assert.Equal(0, link.Running);
        }
        finally
        {
            ThreadPool.SetMinThreads(workers, ports);
        }
    }

    [Fact]
    public async Task Lease_ParkedThenRunning_ExtendedAcrossTheStepFromOneToTheOther()
    {
        // An interval close to the lease (8 of 10 s), and the parked delivery starts 7 s after its last extension (8, 16 s):
        // had its extensions started over when it left its key's queue, the next would come at 31 s, after its lease ran
        // out at 26 s.
        var clock = new FakeTimeProvider();
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = Lease, MaxDeliveries = 5 }, clock);
        await using var consumer = new EventBusBuilder()
            .WithTimeProvider(clock)
            .WithOptions(new EventBusOptions { Name = "consumer", MaxConcurrentEvents = 4 })
            .UseTransport(broker.CreateTransport(ownsBroker: false), _events, new TransportBusOptions { Group = "lease", LeaseExtensionInterval = TimeSpan.FromSeconds(8) })
            .Build();
        var gates = new[] { new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var attempts = new ConcurrentQueue<(int Number, int Attempt)>();
        consumer.Subscribe<Placed>(async (e, context, ct) =>
        {
            attempts.Enqueue((e.Number, context.Attempt));
            await gates[e.Number].Task.WaitAsync(ct);
        });
        var link = ((InProcessEventBus)consumer).Link!;
        await link.WaitUntilSubscribedAsync(TestTimeout.Token());
        await using var publisher = new EventBusBuilder().UseTransport(broker.CreateTransport(ownsBroker: false), _events).Build();
        await publisher.PublishAsync(new Placed(0, "c"), new PublishOptions { OrderingKey = "c" });
        await publisher.PublishAsync(new Placed(1, "c"), new PublishOptions { OrderingKey = "c" });
        await TestTimeout.Until(() => !attempts.IsEmpty && link.Running == 2, what: "the first event running, the second parked");

        // Parked for 23 s, then running for 25 s.
        Advance(clock, TimeSpan.FromSeconds(23));
        gates[0].SetResult();
        await TestTimeout.Until(() => attempts.Count >= 2, what: "the parked event started");
        Advance(clock, 2.5 * Lease);
        gates[1].SetResult();

        await consumer.StopAsync().AsTask().Within();
        Assert.Equal([(0, 1), (1, 1)], attempts);
    }

    [Fact]
    public async Task Lease_StopAbandonsAHandlerThatIgnoresItsToken_LeaseNoLongerKeptAndTheEventComesAgainElsewhere()
    {
        // Stop × the lease sweep: a handler that ignores its cancellation is abandoned after the grace (zero here), its
        // delivery is given back, and the stopped bus keeps no lease on it, so the group's other consumer gets it.
        var clock = new FakeTimeProvider();
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = Lease, MaxDeliveries = 5 }, clock);
        var options = new TransportBusOptions { Group = "lease", LeaseExtensionInterval = TimeSpan.FromSeconds(4) };
        await using var first = new EventBusBuilder()
            .WithTimeProvider(clock)
            .WithOptions(new EventBusOptions { Name = "first", CancellationGrace = TimeSpan.Zero })
            .UseTransport(broker.CreateTransport(ownsBroker: false), _events, options)
            .Build();
        var started = new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        first.Subscribe<Placed>(async (_, context, _) =>
        {
            started.TrySetResult(context.EventId);
            await release.Task;
        });
        var link = ((InProcessEventBus)first).Link!;
        await link.WaitUntilSubscribedAsync(TestTimeout.Token());
        await using var publisher = new EventBusBuilder().UseTransport(broker.CreateTransport(ownsBroker: false), _events).Build();
        await publisher.PublishAsync(new Placed(1, "c"));
        var id = await started.Task.Within();

        try
        {
            // The drain timeout runs on the bus's clock.
            var stopping = first.StopAsync(TimeSpan.FromSeconds(1)).AsTask();
            Advance(clock, TimeSpan.FromSeconds(2));
            var report = await stopping.Within();
            Assert.Equal(1, report.PendingInBroker);
            Assert.Equal(0, link.Held);

            await using var second = new EventBusBuilder()
                .WithTimeProvider(clock)
                .WithOptions(new EventBusOptions { Name = "second" })
                .UseTransport(broker.CreateTransport(ownsBroker: false), _events, options)
                .Build();
            var again = new TaskCompletionSource<EventContext>(TaskCreationOptions.RunContinuationsAsynchronously);
            second.Subscribe<Placed>((_, context, _) =>
            {
                again.TrySetResult(context);
                return ValueTask.CompletedTask;
            });
            await ((InProcessEventBus)second).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());
            // Three leases of the clock: had the stopped bus kept extending the lease, the event would never come again. The
            // broker may first hand it back to the stopped bus's subscription while it closes (this clock jumps faster than
            // the stop runs); unread, that delivery comes again after its lease, so the attempt seen here is 2 or more.
            for (var step = 0; step < 30 && !again.Task.IsCompleted; step++)
            {
                clock.Advance(TimeSpan.FromSeconds(1));
                await Task.Yield();
            }

            var context = await again.Task.Within();
            Assert.Equal(id, context.EventId);
            Assert.True(context.Attempt >= 2, $"attempt {context.Attempt}");
        }
        finally
        {
            release.TrySetResult();
        }
    }

    /// <summary>
    /// Leases × ordering keys × concurrency × handler shapes × retries, on the shared fake clock (fixed, printed seeds): 30
    /// events, some keyed, handled at once or held — asynchronously, or blocking their pump — until the test lets them go,
    /// and some failing on their first delivery (so given back and delivered again after the retry delay, on the same clock),
    /// while the clock runs on in random steps of up to a lease and a quarter at a time, past many leases in all. Invariants:
    /// no delivery lost its lease (an event that does not fail is delivered once; one that fails once, twice), each event is
    /// handled once, a key's events never run two at a time, each key's first deliveries start in publish order, and nothing
    /// is held once the bus stopped.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(2026)]
    [InlineData(20261201)]
    public async Task Lease_RandomMixOfKeysConcurrencySlowHandlersAndRetries_NoDeliveryComesTwice(int seed)
    {
        var random = new Random(seed);
        const int count = 30;
        var interval = TimeSpan.FromSeconds(random.Next(2, 9));
        var concurrency = random.Next(1, 7);
        string?[] keys = [null, "a", "b", "c"];
        var key = new string?[count];
        // 0: handled at once; 1: held asynchronously; 2: held by blocking its thread (a pump) until let go.
        var hold = new int[count];
        var failOnce = new bool[count];
        for (var i = 0; i < count; i++)
        {
            key[i] = keys[random.Next(keys.Length)];
            hold[i] = random.Next(5) switch { < 2 => 0, < 4 => 1, _ => 2 };
            failOnce[i] = random.Next(6) == 0;
        }

        ThreadPool.GetMinThreads(out var workers, out var ports);
        // Blocked pumps hold pool threads: room for the test's own continuations without waiting for the pool to grow.
        ThreadPool.SetMinThreads(workers + TransportSource.MaxPumps, ports);
        try
        {
            var clock = new FakeTimeProvider();
            await using var broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = Lease, MaxDeliveries = 5 }, clock);
            await using var consumer = new EventBusBuilder()
                .WithTimeProvider(clock)
                .WithOptions(new EventBusOptions { Name = "consumer", MaxConcurrentEvents = concurrency })
                .UseTransport(broker.CreateTransport(ownsBroker: false), _events, new TransportBusOptions { Group = "lease", LeaseExtensionInterval = interval })
                .Build();
            var gates = Enumerable.Range(0, count).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            var started = new ConcurrentQueue<(int Number, int Attempt)>();
            var ended = new ConcurrentDictionary<int, int>();
            var running = new ConcurrentDictionary<string, int>();
            var overlaps = new ConcurrentQueue<string>();
            var handled = new ConcurrentDictionary<int, int>();
            consumer.Subscribe<Placed>(async (e, context, ct) =>
            {
                started.Enqueue((e.Number, context.Attempt));
                var k = context.OrderingKey;
                if (k is not null && running.AddOrUpdate(k, 1, (_, n) => n + 1) > 1)
                    overlaps.Enqueue(k);
                try
                {
                    if (hold[e.Number] == 1)
                        await gates[e.Number].Task.WaitAsync(ct);
                    else if (hold[e.Number] == 2)
                        Assert.True(gates[e.Number].Task.Wait(TestTimeout.Default), "let go");
                    if (failOnce[e.Number] && context.Attempt == 1)
                        throw new InvalidOperationException($"event {e.Number} fails its first delivery");
                    handled.AddOrUpdate(e.Number, 1, (_, n) => n + 1);
                }
                finally
                {
                    if (k is not null)
                        running.AddOrUpdate(k, 0, (_, n) => n - 1);
                    ended.AddOrUpdate(e.Number, 1, (_, n) => n + 1);
                }
            });
            var link = ((InProcessEventBus)consumer).Link!;
            await link.WaitUntilSubscribedAsync(TestTimeout.Token());
            await using var publisher = new EventBusBuilder().UseTransport(broker.CreateTransport(ownsBroker: false), _events).Build();
            for (var i = 0; i < count; i++)
                await publisher.PublishAsync(new Placed(i, key[i] ?? "-"), new PublishOptions { OrderingKey = key[i] });

            var context = $"seed {seed}: interval {interval.TotalSeconds} s, {concurrency} at once, fail once: {string.Join(" ", Enumerable.Range(0, count).Where(n => failOnce[n]))}";

            // Each second of the clock moves only once the bus has read every delivery the broker leased to it (a retry falls
            // due, and is leased, as the clock moves): before that a delivery is the transport's (docs/transports.md), and a
            // fake clock could run its lease out before a loaded machine read it.
            async Task AdvanceAsync(TimeSpan by)
            {
                for (var gone = TimeSpan.Zero; gone < by; gone += TimeSpan.FromSeconds(1))
                {
                    await TestTimeout.Until(() => broker.LeasedCount("lease") == link.Held, what: $"{context}: every leased delivery read");
                    clock.Advance(TimeSpan.FromSeconds(1));
                }
            }

            for (var step = 0; step < 400 && handled.Count < count; step++)
            {
                var waiting = started.Select(s => s.Number).Distinct().Where(n => hold[n] > 0 && !gates[n].Task.IsCompleted).ToArray();
                if (waiting.Length == 0 || random.Next(2) == 0)
                {
                    await AdvanceAsync(TimeSpan.FromSeconds(random.Next(1, 13)));
                    continue;
                }

                // Let one held event go, and wait until its handler returned.
                var number = waiting[random.Next(waiting.Length)];
                gates[number].SetResult();
                await TestTimeout.Until(() => ended.GetValueOrDefault(number) == started.Count(s => s.Number == number), what: $"{context}: event {number} let go");
            }

            // Whatever is left: every gate open, and the clock on a second at a time whenever nothing is left but retries
            // waiting for their delay (the bus holds nothing), until every event was handled.
            foreach (var gate in gates)
                gate.TrySetResult();
            for (var step = 0; step < 100 && handled.Count < count; step++)
            {
                await TestTimeout.Until(() => handled.Count == count || (link.Running == 0 && broker.DelayedCount("lease") > 0), what: $"{context}: the rest handled, or waiting for a retry");
                if (handled.Count < count)
                    await AdvanceAsync(TimeSpan.FromSeconds(1));
            }

            await TestTimeout.Until(() => handled.Count == count, what: $"{context}: every event handled");
            await consumer.StopAsync().AsTask().Within();
            var attempts = started.GroupBy(s => s.Number).ToDictionary(g => g.Key, g => g.Select(s => s.Attempt).Order().ToArray());
            for (var n = 0; n < count; n++)
            {
                int[] expected = failOnce[n] ? [1, 2] : [1];
                Assert.True(attempts[n].SequenceEqual(expected), $"{context}: event {n} delivered as attempts {string.Join(", ", attempts[n])}");
            }

            Assert.True(handled.Values.All(n => n == 1), context);
            Assert.Empty(overlaps);
            foreach (var k in keys.OfType<string>())
            {
                var order = started.Where(s => s.Attempt == 1).Select(s => s.Number).Where(n => key[n] == k).ToArray();
                Assert.True(order.SequenceEqual(order.Order()), $"{context}: key {k} started in the order {string.Join(", ", order)}");
            }

            Assert.Equal(0, link.Running);
        }
        finally
        {
            ThreadPool.SetMinThreads(workers, ports);
        }
    }
}
