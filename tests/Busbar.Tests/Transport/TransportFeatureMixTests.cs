using System.Collections.Concurrent;
using Busbar.Dispatch;
using Busbar.Transport;
using Busbar.Transport.Contract;
using Local = Busbar.Tests.OrderPlaced;
using Remote = Busbar.Transport.Contract.OrderPlaced;

namespace Busbar.Tests.Transport;

/// <summary>
/// Every feature at once over the in-memory broker (fixed, printed seeds): bus <c>a</c> publishes kept-local and transported
/// events (some with ordering keys, priorities or deadlines; some through <c>TryPublish</c> or <c>PublishBatchAsync</c>) under a
/// random capacity and <see cref="BusFullMode"/>, and
/// consumes the transported ones in group <c>mix</c> beside bus <c>b</c>, which is stopped at a random moment. Handlers
/// succeed, run slowly, fail once, time out once, always fail, or fail until healed (then their dead letters are
/// re-driven, locally and in the broker); a second local subscription comes and goes mid-run; some seeds give bus <c>a</c> a
/// write-ahead log, reopened at the end. Invariants: every published
/// event ends exactly one of handled, dead-lettered, timed out (deadline), shed or rejected (a transported event whose
/// deadline passed before its handlers finished is in the broker's dead letters with that reason, never acknowledged); shed events never reach a
/// handler or the broker; per-key order holds for kept-local events; a disposed subscription sees no event published after
/// its disposal; outcomes match what the handlers did; the stop reports add up; the log keeps nothing pending and exactly
/// the dead letters left.
/// </summary>
public sealed class TransportFeatureMixTests
{
    private enum Kind
    {
        Ok,
        Slow,
        Flaky,
        TimeoutOnce,
        Poison,
        FailUntilHealed,
        Deadline,
    }

    private sealed record Plan(int Number, bool Remote, Kind Kind, string? Key, int Priority, bool Try);

    // Chosen to cover every FullMode: 65521 Wait (a runs 4 at once), 128 DropOldest with a log, 129 DropNewest with a log,
    // 174 Reject (a runs 3 at once).
    [Theory]
    [InlineData(65521)]
    [InlineData(128)]
    [InlineData(129)]
    [InlineData(174)]
    public async Task RandomMixOverTransport_EveryEventAccountedForOrderKeptDisposedSubscriptionSilent(int seed)
    {
        const int total = 240;
        var random = new Random(seed);
        var plans = new Plan[total];
        for (var i = 0; i < total; i++)
        {
            var remote = random.Next(2) == 0;
            var kind = random.Next(100) switch
            {
                < 40 => Kind.Ok,
                < 58 => Kind.Slow,
                < 68 => Kind.Flaky,
                < 75 => Kind.TimeoutOnce,
                < 82 => Kind.Poison,
                < 90 => Kind.FailUntilHealed,
                _ => Kind.Deadline,
            };
            var key = kind is Kind.Ok or Kind.Slow && random.Next(3) == 0 ? "k" + random.Next(4) : null;
            plans[i] = new Plan(i, remote, kind, key, key is null && !remote ? random.Next(3) : 0, random.Next(10) == 0);
        }

        var capacity = random.Next(4, 17);
        var mode = (BusFullMode)random.Next(4);
        var concurrencyA = random.Next(1, 5);
        var concurrencyB = random.Next(1, 5);
        var durable = random.Next(2) == 0;
        var stopBAt = random.Next(total);
        var drainB = TimeSpan.FromMilliseconds(random.Next(0, 50));
        var observeFrom = random.Next(total / 2);
        var observeUntil = random.Next(observeFrom, total);
        Console.WriteLine($"transport feature mix seed {seed}: capacity {capacity}, {mode}, a runs {concurrencyA} at once, b {concurrencyB}{(durable ? ", a has a write-ahead log" : "")}; b stops after {stopBAt} publishes (drain {drainB.TotalMilliseconds} ms); observer from {observeFrom} to {observeUntil}");

        var registry = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);
        var codec = new EnvelopeCodec(registry);
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = TimeSpan.FromSeconds(5), MaxDeliveries = 3 }, TimeProvider.System);
        var transportOptions = new TransportBusOptions
        {
            Group = "mix",
            MaxDeliveries = 3,
            RetryDelay = TimeSpan.FromMilliseconds(5),
            MaxRetryDelay = TimeSpan.FromMilliseconds(20),
            LeaseExtensionInterval = TimeSpan.FromMilliseconds(500),
        };

        var shed = new ConcurrentDictionary<int, (EventStatus Status, int Times)>();
        var handled = new ConcurrentDictionary<int, int>();
        var keyOrder = new ConcurrentDictionary<string, ConcurrentQueue<int>>();
        var observerLate = new ConcurrentQueue<int>();
        var observerGoneFrom = int.MaxValue;
        var healed = false;
        var delays = new Random(random.Next());

        async ValueTask Handle(int number, EventContext context, CancellationToken ct)
        {
            var plan = plans[number];
            if (plan.Key is { } key && context.Attempt == 1)
                keyOrder.GetOrAdd(key, _ => new ConcurrentQueue<int>()).Enqueue(number);
            switch (plan.Kind)
            {
                case Kind.Slow:
                case Kind.Deadline:
                    int delay;
                    lock (delays)
                        delay = delays.Next(1, 15);
                    await Task.Delay(delay, ct);
                    break;
                case Kind.Flaky when context.Attempt == 1:
                    throw new InvalidOperationException("fails on its first attempt");
                case Kind.TimeoutOnce when context.Attempt == 1:
                    await Task.Delay(Timeout.Infinite, ct);
                    break;
                case Kind.Poison:
                    throw new InvalidOperationException("poison");
                case Kind.FailUntilHealed when !Volatile.Read(ref healed):
                    throw new InvalidOperationException("not healed yet");
            }

            handled.AddOrUpdate(number, 1, static (_, n) => n + 1);
        }

        var busOptions = new EventBusOptions
        {
            Name = "a",
            Capacity = capacity,
            FullMode = mode,
            MaxConcurrentEvents = concurrencyA,
            OnEventShed = e => shed.AddOrUpdate(Number(e.Context.Event), (e.Status, 1), static (_, s) => (s.Status, s.Times + 1)),
        };
        var recorderA = new RecordingTransport(broker.CreateTransport(ownsBroker: false), codec);
        var recorderB = new RecordingTransport(broker.CreateTransport(ownsBroker: false), codec);
        using var walDirectory = new Durability.WalTestDirectory();
        var builderA = new EventBusBuilder().WithOptions(busOptions).UseTransport(recorderA, registry, transportOptions).KeepLocal<Local>();
#pragma warning disable IL2026, IL3050
        if (durable)
            builderA.UseWriteAheadLog(walDirectory.Path);
#pragma warning restore IL2026, IL3050
        var a = builderA.Build();
        var b = new EventBusBuilder().WithOptions(new EventBusOptions { Name = "b", MaxConcurrentEvents = concurrencyB }).UseTransport(recorderB, registry, transportOptions).Build();
        try
        {
            var remoteOptions = new SubscriptionOptions { Name = "remote", HandlerTimeout = TimeSpan.FromMilliseconds(100) };
            a.Subscribe<Local>((e, context, ct) => Handle(e.OrderId, context, ct), new SubscriptionOptions
            {
                Name = "local",
                HandlerTimeout = TimeSpan.FromMilliseconds(100),
                Retry = RetryPolicy.Constant(2, TimeSpan.FromMilliseconds(1)),
            });
            a.Subscribe<Remote>((e, context, ct) => Handle(e.Number, context, ct), remoteOptions);
            b.Subscribe<Remote>((e, context, ct) => Handle(e.Number, context, ct), remoteOptions);
            await ((InProcessEventBus)a).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());
            await ((InProcessEventBus)b).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());

            var handles = new Dictionary<int, EventHandle>();
            var thrown = new HashSet<int>();
            ISubscription? observer = null;
            Task<StopReport>? stoppingB = null;
            foreach (var plan in plans)
            {
                if (plan.Number == stopBAt)
                    stoppingB = b.StopAsync(drainB).AsTask();
                if (plan.Number == observeFrom)
                {
                    observer = a.Subscribe<Local>((e, _, _) =>
                    {
                        if (e.OrderId >= Volatile.Read(ref observerGoneFrom))
                            observerLate.Enqueue(e.OrderId);
                        return ValueTask.CompletedTask;
                    }, new SubscriptionOptions { Name = "observer" });
                }

                if (plan.Number == observeUntil)
                {
                    observer!.Dispose();
                    Volatile.Write(ref observerGoneFrom, plan.Number);
                }

                var options = new PublishOptions
                {
                    OrderingKey = plan.Key,
                    Priority = plan.Priority,
                    DeadlineAfter = plan.Kind == Kind.Deadline ? TimeSpan.FromMilliseconds(random.Next(1, 10)) : null,
                };
                try
                {
                    if (plan.Try)
                    {
                        EventHandle handle;
                        _ = plan.Remote ? a.TryPublish(new Remote(plan.Number, "c"), out handle, options) : a.TryPublish(new Local(plan.Number), out handle, options);
                        handles[plan.Number] = handle;
                    }
                    else if (plan.Number % 7 == 3)
                    {
                        // A batch of one: the batch path (each event as PublishAsync would, kept-local ones logged).
                        object payload = plan.Remote ? new Remote(plan.Number, "c") : new Local(plan.Number);
                        handles[plan.Number] = (await a.PublishBatchAsync([payload], options).AsTask().Within())[0];
                    }
                    else
                    {
                        handles[plan.Number] = plan.Remote
                            ? await a.PublishAsync(new Remote(plan.Number, "c"), options).AsTask().Within()
                            : await a.PublishAsync(new Local(plan.Number), options).AsTask().Within();
                    }
                }
                catch (BusFullException)
                {
                    thrown.Add(plan.Number);
                }
            }

            var reportB = await stoppingB!.Within(TimeSpan.FromSeconds(30));
            var outcomes = new Dictionary<int, EventStatus>();
            var localResults = new Dictionary<int, HandlerStatus>();
            foreach (var (number, handle) in handles)
            {
                var outcome = await handle.AsTask().Within(TimeSpan.FromSeconds(30));
                outcomes[number] = outcome.Status;
                foreach (var result in outcome.Handlers)
                {
                    if (result.SubscriptionName == "local")
                        localResults[number] = result.Status;
                }
            }
            foreach (var number in thrown)
                outcomes[number] = EventStatus.Rejected;
            var accepted = plans.Where(p => p.Remote && outcomes[p.Number] == EventStatus.Completed).ToDictionary(p => handles[p.Number].EventId, p => p.Number);

            HashSet<Guid> InBrokerDeadLetters() => [.. broker.ReadDeadLetters(10_000).Select(l => codec.Decode(l.Name, l.Envelope).Event!.Envelope.EventId)];
            bool Acked(Guid id) => recorderA.Acked.ContainsKey(id) || recorderB.Acked.ContainsKey(id);
            await TestTimeout.Until(() =>
            {
                var letters = InBrokerDeadLetters();
                return accepted.Keys.All(id => Acked(id) || letters.Contains(id));
            }, TimeSpan.FromSeconds(60), "every accepted transported event acknowledged or dead-lettered");

            // Heal, then re-drive what failed until healed: the local dead letters on the bus, the transported ones in the broker.
            Volatile.Write(ref healed, true);
            var localLetters = a.DeadLetters.List();
            foreach (var letter in localLetters.Where(l => plans[Number(l.Context.Event)].Kind == Kind.FailUntilHealed))
                Assert.Equal(EventStatus.Completed, (await a.DeadLetters.RedriveAsync(letter.Id).AsTask().Within()).Status);
            var brokerLetters = broker.ReadDeadLetters(10_000);
            foreach (var letter in brokerLetters)
            {
                var number = Number(codec.Decode(letter.Name, letter.Envelope).Event!.Payload);
                if (plans[number].Kind == Kind.FailUntilHealed)
                    Assert.True(await recorderA.RedriveDeadLetterAsync(letter.Id).AsTask().Within());
            }

            // A transported event past its deadline is dead-lettered at once and stays there (nothing re-drives it).
            var expired = InBrokerDeadLetters();
            await TestTimeout.Until(() => accepted.Where(p => plans[p.Value].Kind != Kind.Poison && !(plans[p.Value].Kind == Kind.Deadline && expired.Contains(p.Key))).All(p => Acked(p.Key)), TimeSpan.FromSeconds(30), "every re-driven transported event acknowledged");
            var reportA = await a.StopAsync().AsTask().Within(TimeSpan.FromSeconds(30));

            var finalLetters = broker.ReadDeadLetters(10_000);
            var deadLettersLeft = InBrokerDeadLetters();
            var deadlineExpired = 0;
            var liveLetters = a.DeadLetters.List();
            var localDeadLettersLeft = liveLetters.Select(l => Number(l.Context.Event)).ToHashSet();
            var ackedAll = recorderA.Acked.Keys.Concat(recorderB.Acked.Keys).ToHashSet();
            var published = recorderA.Published.Select(m => Number(codec.Decode(m.Name, m.Envelope).Event!.Payload)).ToHashSet();
            Console.WriteLine($"outcomes: {string.Join(", ", outcomes.GroupBy(o => (plans[o.Key].Remote ? "remote " : "local ") + o.Value).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"))}");
            Console.WriteLine($"local dead letters {localLetters.Count} (left {localDeadLettersLeft.Count}), broker dead letters {brokerLetters.Count} (left {deadLettersLeft.Count}); handled twice or more {handled.Values.Count(n => n > 1)}");
            Console.WriteLine($"b: {reportB}");
            Console.WriteLine($"a: {reportA}");

            foreach (var plan in plans)
            {
                var status = outcomes[plan.Number];
                var wasShed = shed.TryGetValue(plan.Number, out var shedding);
                var what = $"event {plan.Number} ({(plan.Remote ? "remote" : "local")}, {plan.Kind}) ended {status}";
                if (status is EventStatus.Dropped or EventStatus.Rejected)
                {
                    Assert.True(wasShed && shedding.Times == 1 && shedding.Status == status, $"{what}: reported to OnEventShed once with its status");
                    Assert.False(handled.ContainsKey(plan.Number), $"{what}: yet a handler ran");
                    Assert.DoesNotContain(plan.Number, published);
                    continue;
                }

                Assert.False(wasShed, $"{what}, yet OnEventShed reported it");
                if (plan.Remote)
                {
                    // Accepted by the broker; handled by the group (at least once) unless poison, which only dead-letters.
                    Assert.Equal(EventStatus.Completed, status);
                    Assert.Contains(plan.Number, published);
                    var id = handles[plan.Number].EventId;
                    if (plan.Kind == Kind.Poison)
                    {
                        Assert.True(deadLettersLeft.Contains(id) && !ackedAll.Contains(id), $"{what}: a poison event must be dead-lettered, never acknowledged");
                        Assert.False(handled.ContainsKey(plan.Number), $"{what}: a poison handler never succeeds");
                    }
                    else if (plan.Kind == Kind.Deadline && deadLettersLeft.Contains(id))
                    {
                        // Too late for a handler (or for the observer after it): dead-lettered at once, never retried or acknowledged.
                        Assert.False(ackedAll.Contains(id), $"{what}: dead-lettered and acknowledged");
                        var letter = finalLetters.Single(l => codec.Decode(l.Name, l.Envelope).Event!.Envelope.EventId == id);
                        Assert.Contains("after the event's deadline", letter.Reason, StringComparison.Ordinal);
                        deadlineExpired++;
                    }
                    else
                    {
                        Assert.True(ackedAll.Contains(id) && !deadLettersLeft.Contains(id), $"{what}: must be acknowledged and out of the dead letters");
                        Assert.True(handled.ContainsKey(plan.Number), $"{what}: acknowledged without a handler succeeding");
                    }

                    continue;
                }

                Assert.DoesNotContain(plan.Number, published);

                // The outcome says what the local handler did (before any re-drive).
                HandlerStatus? local = localResults.TryGetValue(plan.Number, out var result) ? result : null;
                if (plan.Kind == Kind.FailUntilHealed)
                    Assert.Equal(HandlerStatus.Failed, local);
                else
                    Assert.True(local == HandlerStatus.Succeeded == handled.ContainsKey(plan.Number), $"{what}: the local handler's result {local} disagrees with what it did");
                switch (plan.Kind)
                {
                    case Kind.Poison:
                        Assert.Equal(EventStatus.Failed, status);
                        Assert.Contains(plan.Number, localDeadLettersLeft);
                        Assert.False(handled.ContainsKey(plan.Number), what);
                        break;
                    case Kind.FailUntilHealed:
                        Assert.Equal(EventStatus.Failed, status);
                        Assert.DoesNotContain(plan.Number, localDeadLettersLeft);
                        Assert.Equal(1, handled.GetValueOrDefault(plan.Number));
                        break;
                    case Kind.Deadline:
                        // In time: completed. Too late: timed out, though the local handler may have finished just before
                        // the deadline and a later handler (the observer) not started.
                        Assert.True(status is EventStatus.Completed or EventStatus.TimedOut, what);
                        Assert.True(status == EventStatus.TimedOut || handled.GetValueOrDefault(plan.Number) == 1, what);
                        Assert.InRange(handled.GetValueOrDefault(plan.Number), 0, 1);
                        break;
                    default:
                        Assert.Equal(EventStatus.Completed, status);
                        Assert.Equal(1, handled.GetValueOrDefault(plan.Number));
                        Assert.DoesNotContain(plan.Number, localDeadLettersLeft);
                        break;
                }
            }

            Console.WriteLine($"transported events dead-lettered after their deadline: {deadlineExpired}");
            foreach (var (key, order) in keyOrder)
            {
                var locals = order.Where(n => !plans[n].Remote).ToList();
                Assert.True(locals.SequenceEqual(locals.Order()), $"kept-local events of key {key} handled out of order: {string.Join(", ", locals)}");
            }

            Assert.True(observerLate.IsEmpty, $"the disposed observer saw events published after its disposal: {string.Join(", ", observerLate)}");
            Assert.Equal(reportB.Cancelled, reportB.PendingInBroker);
            Assert.Equal(0, reportA.PendingInBroker);
            Assert.True(reportA.Completed);
            Assert.Equal(0, reportA.PendingInLog);
            if (durable)
            {
                // After a restart the log holds nothing pending, and exactly the dead letters left (the re-driven ones are gone).
                await a.DisposeAsync();
#pragma warning disable IL2026, IL3050
                await using var reopened = new EventBusBuilder().UseWriteAheadLog(walDirectory.Path).RegisterEvent<Local>().Build();
#pragma warning restore IL2026, IL3050
                Assert.Equal(0, reopened.GetWriteAheadLogStatus()!.PendingEvents);
                Assert.Equal(liveLetters.Select(l => l.Id).Order(), reopened.DeadLetters.List().Select(l => l.Id).Order());
            }
            var statistics = a.GetStatistics();
            Assert.Equal(shed.Values.Count(s => s.Status == EventStatus.Dropped), statistics.Dropped);
            Assert.Equal(shed.Values.Count(s => s.Status == EventStatus.Rejected), statistics.Rejected);
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }

    private static int Number(object payload) => payload switch
    {
        Local local => local.OrderId,
        Remote remote => remote.Number,
        _ => throw new InvalidOperationException($"unexpected payload {payload.GetType()}"),
    };
}
