using System.Collections.Concurrent;
using Busbar.Durability;
using Busbar.Tests.Durability;
using Xunit.Abstractions;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// Admission without the lock (the queue's intake, issue 16) where it meets the rest: publishers racing each other, a stop,
/// every full mode, ordering keys and several workers, and a worker that goes idle between events. Each run is bounded in
/// events and time and uses a fixed, printed seed.
/// </summary>
[Collection(nameof(StressCollection))]
public sealed class QueueIntakeTests(ITestOutputHelper output)
{
    public static TheoryData<int> Seeds => new() { 3, 17, 29, 131, 2026, 20261201, 5, 7, 41 };

    /// <summary>
    /// Four publishers race a stop called at a random moment. Every publish either returns a handle or throws
    /// (stopped, or full under Reject); every handle completes once, in a status its mode allows; handled events are handled
    /// once and only those whose handle says completed; a shed event was reported once; and once the stop returns nothing
    /// is left queued or in flight, so no event pushed while the queue closed is stranded. Half the seeds publish through a
    /// write-ahead log (a refused or taken-back event is recorded there as refused). Half give events priorities -1, 0 and 1
    /// (a prioritized publish admits under the queue's lock, which then the publishers and the worker contend for); with one
    /// worker, each publisher's handled events of one priority then run in its publish order.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task PublishersRacingAStop_EveryPublishEndsOnceAndNothingIsStranded(int seed)
    {
        var random = new Random(seed);
        var mode = (BusFullMode)random.Next(4);
        var capacity = new[] { 2, 8, 64, 1024 }[random.Next(4)];
        var workers = new[] { 1, 1, 4 }[random.Next(3)];
        var drain = TimeSpan.FromMilliseconds(new[] { 0, 5, 2000 }[random.Next(3)]);
        const int Publishers = 4;
        const int PerPublisher = 600;
        var stopAfter = random.Next(PerPublisher * Publishers / 20, PerPublisher * Publishers);
        var durable = random.Next(2) == 0;
        var prioritized = random.Next(2) == 0;
        output.WriteLine($"seed {seed}: {mode}, capacity {capacity}, {workers} workers, drain {drain.TotalMilliseconds} ms, stop after {stopAfter} publishes" +
            $"{(durable ? ", write-ahead log" : "")}{(prioritized ? ", priorities -1/0/1" : "")}");
        using var walDirectory = new WalTestDirectory();

        var handled = new ConcurrentDictionary<int, int>();
        var runOrder = new ConcurrentQueue<int>();
        var shed = new ConcurrentDictionary<int, EventStatus>();
        var violations = new ConcurrentQueue<string>();
        var options = new EventBusOptions
        {
            Name = $"intake-{seed}",
            Capacity = capacity,
            FullMode = mode,
            MaxConcurrentEvents = workers,
            DrainTimeout = drain,
            OnEventShed = a =>
            {
                if (!shed.TryAdd(((Ping)a.Context.Event).Value, a.Status))
                    violations.Enqueue($"event {((Ping)a.Context.Event).Value} shed twice");
            },
        };
#pragma warning disable IL2026, IL3050
        var bus = durable
            ? new EventBusBuilder().WithOptions(options).UseWriteAheadLog(walDirectory.Path, new WriteAheadLogOptions { FlushMode = WalFlushMode.None }).Build()
            : EventBus.Create(options);
#pragma warning restore IL2026, IL3050
        await using var _ = bus;
        bus.Subscribe<Ping>(async (e, context, ct) =>
        {
            if (handled.AddOrUpdate(e.Value, 1, static (_, n) => n + 1) > 1)
                violations.Enqueue($"event {e.Value} handled twice");
            runOrder.Enqueue(e.Value);
            if (e.Value % 3 == 0)
                await Task.Yield();
        }, new SubscriptionOptions { Name = "count" });

        var handles = new ConcurrentDictionary<int, EventHandle>();
        var refusedAtTheDoor = 0;
        var published = 0;
        var stopStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<StopReport>? stop = null;
        var publishers = Enumerable.Range(0, Publishers).Select(p => Task.Run(async () =>
        {
            for (var i = 0; i < PerPublisher; i++)
            {
                var id = p * PerPublisher + i;
                if (Interlocked.Increment(ref published) == stopAfter)
                {
                    stop = bus.StopAsync().AsTask();
                    stopStarted.TrySetResult();
                }

                // Publishes that never wait would hold the pool's threads (2 on a small machine): let the workers run beside them.
                if (i % 16 == 0)
                    await Task.Yield();
                try
                {
                    using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    var priority = prioritized ? PriorityOf(id) : 0;
                    handles[id] = await bus.PublishAsync(new Ping(id), priority == 0 ? null : new PublishOptions { Priority = priority }, cancel.Token);
                }
                catch (BusStoppedException)
                {
                    Interlocked.Increment(ref refusedAtTheDoor);
                }
                catch (BusFullException)
                {
                    Interlocked.Increment(ref refusedAtTheDoor);
                }
            }
        })).ToArray();

        await Task.WhenAll(publishers).Within(TimeSpan.FromSeconds(60));
        await stopStarted.Task.Within();
        var report = await stop!.Within(TimeSpan.FromSeconds(60));

        var statuses = new Dictionary<EventStatus, int>();
        foreach (var (id, handle) in handles)
        {
            var outcome = await handle.WaitAsync(TimeSpan.FromSeconds(20));
            statuses[outcome.Status] = statuses.GetValueOrDefault(outcome.Status) + 1;
            var ran = handled.ContainsKey(id);
            switch (outcome.Status)
            {
                case EventStatus.Completed when !ran:
                    violations.Enqueue($"event {id} completed without being handled");
                    break;
                case EventStatus.Dropped or EventStatus.Rejected when ran:
                    violations.Enqueue($"event {id} {outcome.Status} but handled");
                    break;
                case EventStatus.Dropped or EventStatus.Rejected when shed.GetValueOrDefault(id) != outcome.Status:
                    violations.Enqueue($"event {id} {outcome.Status} but not reported as shed so");
                    break;
                case EventStatus.Failed or EventStatus.TimedOut:
                    violations.Enqueue($"event {id} ended {outcome.Status}");
                    break;
            }

            if (outcome.Status == EventStatus.Dropped && mode != BusFullMode.DropNewest && mode != BusFullMode.DropOldest)
                violations.Enqueue($"event {id} dropped under {mode}");
        }

        foreach (var id in handled.Keys.Where(id => !handles.ContainsKey(id)))
            violations.Enqueue($"event {id} handled although its publish threw");

        // One worker runs one event at a time in queue order: FIFO within a priority, so per publisher in publish order.
        if (workers == 1)
        {
            var last = new Dictionary<(int Publisher, int Priority), int>();
            foreach (var id in runOrder)
            {
                var line = (id / PerPublisher, prioritized ? PriorityOf(id) : 0);
                if (last.TryGetValue(line, out var before) && before > id)
                    violations.Enqueue($"event {id} ran after {before} (publisher {line.Item1}, priority {line.Item2})");
                last[line] = id;
            }
        }

        var stats = bus.GetStatistics();
        output.WriteLine($"published {handles.Count}, refused at the door {refusedAtTheDoor}, statuses {string.Join(", ", statuses.Select(s => $"{s.Key} {s.Value}"))}; stop completed {report.Completed}");
        Assert.Equal(Publishers * PerPublisher, handles.Count + refusedAtTheDoor);
        Assert.True(violations.IsEmpty, $"seed {seed}: {string.Join(" | ", violations.Take(10))}");
        Assert.Equal(0, stats.QueueDepth);
        Assert.Equal(0, stats.InFlight);
    }

    private static int PriorityOf(int id) => (id % 3) - 1;

    /// <summary>
    /// Under <see cref="BusFullMode.DropOldest"/> with four publishers racing for the last places of a tiny queue: every event is
    /// handled or dropped, once, the depth never exceeds the capacity, and each publisher's handled events run in its publish order.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task DropOldestWithRacingPublishers_EveryEventHandledOrDroppedOnceInPublishOrder(int seed)
    {
        var random = new Random(seed);
        var capacity = random.Next(1, 5);
        const int Publishers = 4;
        const int PerPublisher = 500;
        output.WriteLine($"seed {seed}: capacity {capacity}");
        var dropped = new ConcurrentDictionary<int, int>();
        var handled = new ConcurrentDictionary<int, int>();
        var lastOfPublisher = new int[Publishers];
        Array.Fill(lastOfPublisher, -1);
        var violations = new ConcurrentQueue<string>();
        var maxDepth = 0;
        var bus = EventBus.Create(new EventBusOptions
        {
            Name = $"drop-oldest-{seed}",
            Capacity = capacity,
            FullMode = BusFullMode.DropOldest,
            OnEventShed = a => dropped.AddOrUpdate(((Ping)a.Context.Event).Value, 1, static (_, n) => n + 1),
        });
        await using var _ = bus;
        bus.Subscribe<Ping>((e, _, _) =>
        {
            handled.AddOrUpdate(e.Value, 1, static (_, n) => n + 1);
            var publisher = e.Value / PerPublisher;
            if (e.Value <= lastOfPublisher[publisher])
                violations.Enqueue($"event {e.Value} after {lastOfPublisher[publisher]} of the same publisher");
            lastOfPublisher[publisher] = e.Value;
            var depth = bus.GetStatistics().QueueDepth;
            if (depth > maxDepth)
                maxDepth = depth;
            return ValueTask.CompletedTask;
        });

        var handles = new ConcurrentBag<EventHandle>();
        await Task.WhenAll(Enumerable.Range(0, Publishers).Select(p => Task.Run(async () =>
        {
            for (var i = 0; i < PerPublisher; i++)
                handles.Add(await bus.PublishAsync(new Ping(p * PerPublisher + i)));
        }))).Within(TimeSpan.FromSeconds(60));
        foreach (var handle in handles)
            await handle.WaitAsync(TimeSpan.FromSeconds(20));

        for (var id = 0; id < Publishers * PerPublisher; id++)
        {
            var ran = handled.GetValueOrDefault(id);
            var shed = dropped.GetValueOrDefault(id);
            if (ran + shed != 1)
                violations.Enqueue($"event {id}: handled {ran}×, dropped {shed}×");
        }

        output.WriteLine($"handled {handled.Count}, dropped {dropped.Count}, deepest {maxDepth}");
        Assert.True(violations.IsEmpty, $"seed {seed}: {string.Join(" | ", violations.Take(10))}");
        Assert.InRange(maxDepth, 0, capacity);
        var stats = bus.GetStatistics();
        Assert.Equal(0, stats.QueueDepth);
        Assert.Equal(0, stats.InFlight);
    }

    /// <summary>
    /// A worker that finds the queue empty after every event (one publish, then its outcome awaited): a publish that takes no
    /// lock must wake it every time, whichever of the two comes first, with one worker and with several (ordering keys on).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task WorkerIdleBetweenEvents_EveryPublishWakesIt(int workers)
    {
        await using var bus = EventBus.Create(new EventBusOptions { Name = "idle", MaxConcurrentEvents = workers });
        var handled = 0;
        bus.Subscribe<Ping>((_, _, _) =>
        {
            Interlocked.Increment(ref handled);
            return ValueTask.CompletedTask;
        });

        for (var i = 0; i < 3000; i++)
        {
            var handle = await bus.PublishAsync(new Ping(i), new PublishOptions { OrderingKey = workers > 1 && i % 2 == 0 ? "even" : null });
            var outcome = await handle.WaitAsync(TimeSpan.FromSeconds(20));
            Assert.Equal(EventStatus.Completed, outcome.Status);
        }

        Assert.Equal(3000, handled);
    }

    /// <summary>
    /// Two publishers, ordering keys and four workers: events of each key run one at a time in the order each publisher
    /// published them, wherever the admission went (intake or lock), and the counts end at zero.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task KeyedEventsFromRacingPublishers_EachKeyInPublishOrderOneAtATime(int seed)
    {
        var random = new Random(seed);
        var capacity = new[] { 4, 32, 512 }[random.Next(3)];
        output.WriteLine($"seed {seed}: capacity {capacity}");
        const int PerPublisher = 400;
        var keys = Enumerable.Range(0, 2 * PerPublisher).Select(_ => "k" + random.Next(3)).ToArray();
        var running = new ConcurrentDictionary<string, int>();
        var last = new ConcurrentDictionary<(int Publisher, string Key), int>();
        var violations = new ConcurrentQueue<string>();
        var handled = 0;
        await using var bus = EventBus.Create(new EventBusOptions { Name = $"keys-{seed}", Capacity = capacity, MaxConcurrentEvents = 4 });
        bus.Subscribe<Ping>(async (e, context, _) =>
        {
            var key = context.OrderingKey!;
            if (running.AddOrUpdate(key, 1, static (_, n) => n + 1) > 1)
                violations.Enqueue($"key {key} ran two events at once (event {e.Value})");
            var publisher = e.Value / PerPublisher;
            var previous = last.GetValueOrDefault((publisher, key), -1);
            if (e.Value < previous)
                violations.Enqueue($"event {e.Value} of key {key} after {previous}");
            last[(publisher, key)] = e.Value;
            if (e.Value % 4 == 0)
                await Task.Yield();
            running.AddOrUpdate(key, 0, static (_, n) => n - 1);
            Interlocked.Increment(ref handled);
        });

        await Task.WhenAll(Enumerable.Range(0, 2).Select(p => Task.Run(async () =>
        {
            for (var i = 0; i < PerPublisher; i++)
            {
                var id = p * PerPublisher + i;
                await bus.PublishAsync(new Ping(id), new PublishOptions { OrderingKey = keys[id] });
            }
        }))).Within(TimeSpan.FromSeconds(60));

        await TestTimeout.Until(() => Volatile.Read(ref handled) == 2 * PerPublisher, what: "every event handled");
        Assert.True(violations.IsEmpty, $"seed {seed}: {string.Join(" | ", violations.Take(10))}");
        await TestTimeout.Until(() => bus.GetStatistics() is { QueueDepth: 0, InFlight: 0 }, what: "the counts back at zero");
    }
}
