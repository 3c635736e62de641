using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit.Abstractions;

namespace Busbar.Tests.Dispatch;

[CollectionDefinition(nameof(StressCollection), DisableParallelization = true)]
public sealed class StressCollection;

/// <summary>
/// A randomized mix where features meet: ordering keys (one hot key), priorities, queue jumps, every
/// <see cref="BusFullMode"/>, handler timeouts at the edge, retries, deadlines and a stop at a random moment.
/// Each run is bounded in events and time, uses a fixed seed (printed), and checks the bus's invariants.
/// Runs alone: it hooks the process-wide unobserved-exception event.
/// </summary>
[Collection(nameof(StressCollection))]
public sealed class StressTests(ITestOutputHelper output)
{
    public static TheoryData<int, BusFullMode> Seeds => new()
    {
        { 11, BusFullMode.Wait },
        { 23, BusFullMode.Reject },
        { 37, BusFullMode.DropNewest },
        { 41, BusFullMode.DropOldest },
        { 59, BusFullMode.Wait },
        { 67, BusFullMode.Reject },
        { 71, BusFullMode.DropNewest },
        { 83, BusFullMode.DropOldest },
        { 97, BusFullMode.Wait },
        { 1009, BusFullMode.Reject },
        { 1013, BusFullMode.DropNewest },
        { 1019, BusFullMode.DropOldest },
    };

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task RandomMix_StopAtRandomMoment_InvariantsHold(int seed, BusFullMode mode)
    {
        var run = new StressRun(seed, mode);
        output.WriteLine($"seed {seed}: {run.Describe()}");
        var violations = await run.ExecuteAsync();
        output.WriteLine(run.Summary);
        Assert.True(violations.Count == 0, $"seed {seed} ({run.Describe()}): {violations.Count} violations: {string.Join(" | ", violations.Take(15))}");
    }
}

internal enum StressBehaviour
{
    Quick,
    Yield,
    Delay,
    Fail,
    FlakyOnce,
    EdgeTimeout,
    Parent,
}

[EventName("stress.work")]
internal sealed record StressWork(int Id, int Publisher, int Sequence, string? Key, int Priority, StressBehaviour Behaviour);

[EventName("stress.child")]
internal sealed record StressChild(int Id, bool Yield);

internal sealed class StressRun : MixRun
{
    private const int Publishers = 3;
    private const int PerPublisher = 800;
    private static readonly TimeSpan s_publishBudget = TimeSpan.FromSeconds(3);

    private readonly int _seed;
    private readonly BusFullMode _mode;
    private readonly int _workers;
    private readonly int _capacity;
    private readonly int _stopAfter;
    private readonly TimeSpan _drainTimeout;

    private readonly ConcurrentDictionary<int, byte> _started = new();
    private int _nextId;
    private int _calls;
    private int _busFull;
    private int _stoppedAtDoor;
    private int _samples;
    private int _startedAfterCancel;
    private int _unobserved;
    private volatile bool _stopReturned;
    private IEventBus _bus = null!;

    public StressRun(int seed, BusFullMode mode)
    {
        _seed = seed;
        _mode = mode;
        var random = new Random(seed);
        _workers = new[] { 1, 2, 4 }[random.Next(3)];
        _capacity = new[] { 4, 16, 64 }[random.Next(3)];
        _stopAfter = random.Next(Publishers * PerPublisher / 10, Publishers * PerPublisher);
        _drainTimeout = TimeSpan.FromMilliseconds(new[] { 0, 2, 20, 200 }[random.Next(4)]);
    }

    public string Summary { get; private set; } = "";

    public string Describe() =>
        $"{_mode}, {_workers} workers, capacity {_capacity}, stop after {_stopAfter} publishes, drain timeout {_drainTimeout.TotalMilliseconds} ms";

    public async Task<IReadOnlyCollection<string>> ExecuteAsync()
    {
        EventHandler<UnobservedTaskExceptionEventArgs> onUnobserved = (_, args) =>
        {
            Interlocked.Increment(ref _unobserved);
            _violations.Enqueue($"unobserved exception: {args.Exception.InnerException?.GetType().Name}: {args.Exception.InnerException?.Message}");
        };
        TaskScheduler.UnobservedTaskException += onUnobserved;
        try
        {
            await RunAsync();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= onUnobserved;
        }

        return [.. _violations];
    }

    private async Task RunAsync()
    {
        _bus = EventBus.Create(new EventBusOptions
        {
            Capacity = _capacity,
            FullMode = _mode,
            MaxConcurrentEvents = _workers,
            DrainTimeout = TimeSpan.FromSeconds(30),
            CancellationGrace = TimeSpan.FromSeconds(2),
            SlowHandlerThreshold = null,
            OnEventShed = args => Refused(args.Context.Event, args.Status),
        });
        Subscribe();

        var clock = Stopwatch.StartNew();
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(() => SampleAsync(sampling.Token));
        var publishers = Enumerable.Range(0, Publishers).Select(p => Task.Run(() => PublishAsync(p, clock))).ToArray();

        // Stop at a random moment: after a seeded number of publish calls (or when the publishers are done).
        await TestTimeout.Until(() => Volatile.Read(ref _calls) >= _stopAfter || publishers.All(t => t.IsCompleted), TimeSpan.FromSeconds(30), "stop point");
        var processedBeforeStop = _bus.GetStatistics().Processed;
        var report = await _bus.StopAsync(_drainTimeout).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        _stopReturned = true;
        await Task.WhenAll(publishers).WaitAsync(TimeSpan.FromSeconds(30));
        await sampling.CancelAsync();
        await sampler.WaitAsync(TimeSpan.FromSeconds(30));

        Check(report, processedBeforeStop, clock.Elapsed);
        await _bus.DisposeAsync();
        var statuses = _handles.Values.GroupBy(h => h.Status).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}");
        Summary = $"{_calls} publish calls, {_handles.Count} handles ({string.Join(", ", statuses)}), {_refused.Count} refused, "
            + $"{_busFull} BusFullException, {_stoppedAtDoor} refused at the door after stop, {_samples} samples, "
            + $"{_startedAfterCancel} handlers started with the stop's cancellation already requested; "
            + $"report: drained {report.Drained}, cancelled {report.Cancelled}, completed {report.Completed}; {clock.ElapsedMilliseconds} ms";
    }

    private void Subscribe()
    {
        _bus.Subscribe<StressWork>(
            async (w, ctx, ct) =>
            {
                Started(w.Id);

                // Without a deadline, a cancelled token at the start means the stop had already cancelled the event
                // (a race between the processor's last check and this line; counted, printed, not asserted).
                if (ctx.Deadline is null && ct.IsCancellationRequested)
                    Interlocked.Increment(ref _startedAfterCancel);
                var keyed = w.Key is not null;
                if (keyed)
                    EnterKey(w);
                try
                {
                    switch (w.Behaviour)
                    {
                        case StressBehaviour.Yield:
                            await Task.Yield();
                            break;
                        case StressBehaviour.Delay:
                            await Task.Delay(1, ct);
                            break;
                        case StressBehaviour.Parent:
                            await ParentAsync(w, ct);
                            break;
                        default:
                            break;
                    }
                }
                finally
                {
                    if (keyed)
                        LeaveKey(w.Key!);
                }
            },
            new SubscriptionOptions { Name = "work", Priority = 10 });

        _bus.Subscribe<StressWork>(
            (w, ctx, _) =>
            {
                if (w.Behaviour == StressBehaviour.Fail || (w.Behaviour == StressBehaviour.FlakyOnce && ctx.Attempt == 1))
                    throw new InvalidOperationException($"stress failure {w.Id} attempt {ctx.Attempt}");
                return ValueTask.CompletedTask;
            },
            new SubscriptionOptions
            {
                Name = "flaky",
                Filter = (e, _) => ((StressWork)e).Behaviour is StressBehaviour.Fail or StressBehaviour.FlakyOnce,
                Retry = RetryPolicy.Constant(3, TimeSpan.FromMilliseconds(1)),
            });

        // A timeout at the edge: the attempt's work takes about as long as its limit.
        _bus.Subscribe<StressWork>(
            async (_, _, ct) => await Task.Delay(1, ct),
            new SubscriptionOptions
            {
                Name = "edge",
                Filter = (e, _) => ((StressWork)e).Behaviour == StressBehaviour.EdgeTimeout,
                HandlerTimeout = TimeSpan.FromMilliseconds(1),
            });

        _bus.Subscribe<StressChild>(
            async (c, _, _) =>
            {
                Started(c.Id);
                if (c.Yield)
                    await Task.Yield();
            },
            new SubscriptionOptions { Name = "child" });
    }

    private async Task ParentAsync(StressWork parent, CancellationToken ct)
    {
        var random = new Random(_seed ^ parent.Id);
        var count = random.Next(1, 4);
        for (var i = 0; i < count; i++)
        {
            var id = Interlocked.Increment(ref _nextId);
            try
            {
                var handle = await _bus.PublishAsync(new StressChild(id, random.Next(2) == 0), new PublishOptions { Priority = random.Next(-1, 2) * 5 }, ct);
                _handles[id] = handle;

                // Awaiting a queued child of this bus handles it at once (a queue jump).
                if (random.Next(2) == 0)
                    await handle;
            }
            catch (BusFullException)
            {
                Interlocked.Increment(ref _busFull);
                Expect(_refused.TryGetValue(id, out var status) && status == EventStatus.Rejected, $"child {id}: BusFullException without a rejected record");
            }
            catch (BusStoppedException)
            {
                return;
            }
        }
    }

    private async Task PublishAsync(int publisher, Stopwatch clock)
    {
        var random = new Random(_seed * 31 + publisher);
        var sequences = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < PerPublisher && clock.Elapsed < s_publishBudget; i++)
        {
            var roll = random.Next(100);
            var key = roll < 40 ? null : roll < 70 ? "hot" : $"k{random.Next(6)}";
            var priority = random.Next(10) switch { 0 => 5, 1 => -5, _ => 0 };
            var behaviour = (StressBehaviour)random.Next(Enum.GetValues<StressBehaviour>().Length);
            var sequence = 0;
            if (key is not null)
                sequences[key] = sequence = sequences.GetValueOrDefault(key) + 1;
            var id = Interlocked.Increment(ref _nextId);
            var work = new StressWork(id, publisher, sequence, key, priority, behaviour);
            var options = new PublishOptions
            {
                OrderingKey = key,
                Priority = priority,
                DeadlineAfter = random.Next(10) == 0 ? TimeSpan.FromMilliseconds(random.Next(1, 4)) : null,
            };
            var useTry = random.Next(10) < 3;

            // Pacing, not synchronisation: lets the workers keep up now and then, so the stop can land mid-stream.
            if (random.Next(16) == 0)
                await Task.Delay(1);
            Interlocked.Increment(ref _calls);
            try
            {
                if (useTry)
                {
                    var admitted = _bus.TryPublish(work, out var handle, options);
                    _handles[id] = handle;
                    Expect(admitted || handle.Status is EventStatus.Dropped or EventStatus.Rejected, $"event {id}: TryPublish refused it with status {handle.Status}");
                }
                else
                {
                    _handles[id] = await _bus.PublishAsync(work, options);
                }
            }
            catch (BusFullException)
            {
                Interlocked.Increment(ref _busFull);
                Expect(_refused.TryGetValue(id, out var status) && status == EventStatus.Rejected, $"event {id}: BusFullException without a rejected record");
            }
            catch (BusStoppedException)
            {
                if (!_refused.ContainsKey(id))
                    Interlocked.Increment(ref _stoppedAtDoor);
                return;
            }
            catch (Exception ex)
            {
                _violations.Enqueue($"event {id}: publish threw {ex.GetType().Name}: {ex.Message}");
                return;
            }
        }
    }

    private async Task SampleAsync(CancellationToken stop)
    {
        // Queued events: up to twice the capacity (handlers' own children may overflow). Running events: one per
        // worker, plus one awaited child (queue jump) per running parent.
        var maxDepth = 2 * _capacity;
        var maxInFlight = maxDepth + 2 * _workers;
        while (!stop.IsCancellationRequested)
        {
            var stats = _bus.GetStatistics();
            Interlocked.Increment(ref _samples);
            Expect(stats.QueueDepth >= 0 && stats.QueueDepth <= maxDepth, $"sample: queue depth {stats.QueueDepth} outside 0..{maxDepth}");
            Expect(stats.InFlight >= stats.QueueDepth, $"sample: in flight {stats.InFlight} < queue depth {stats.QueueDepth}");
            Expect(stats.InFlight <= maxInFlight, $"sample: in flight {stats.InFlight} > {maxInFlight}");
            Expect(stats.Published >= stats.Processed + stats.Dropped + stats.Rejected, $"sample: published {stats.Published} < processed {stats.Processed} + dropped {stats.Dropped} + rejected {stats.Rejected}");
            try
            {
                await Task.Delay(1, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Started(int id)
    {
        Expect(!_stopReturned, $"event {id}: a handler started after StopAsync returned");
        _started[id] = 0;
    }

    // A key's events start in admission order. With one worker the queue is FIFO per priority; with more,
    // a key's events wait in the key's line in admission order whatever their priority.
    private void EnterKey(StressWork w) =>
        EnterKey(w.Id, w.Key!, _workers == 1 ? $"{w.Publisher}/{w.Key}/{w.Priority}" : $"{w.Publisher}/{w.Key}", w.Sequence);

    protected override int IdOf(object payload) => payload switch
    {
        StressWork w => w.Id,
        StressChild c => c.Id,
        _ => -1,
    };

    private void Check(StopReport report, long processedBeforeStop, TimeSpan runTime)
    {
        var stats = _bus.GetStatistics();
        var handles = CheckSettled(stats);

        // The other outcomes agree with the counters too.
        Expect(stats.Processed == stats.Completed + stats.Failed + stats.Cancelled + stats.TimedOut, $"processed {stats.Processed} != sum of statuses");
        var byStatus = handles.GroupBy(h => h.Value.Status).ToDictionary(g => g.Key, g => (long)g.Count());
        long Count(EventStatus status) => byStatus.GetValueOrDefault(status);
        Expect(Count(EventStatus.Failed) == stats.Failed, $"failed handles {Count(EventStatus.Failed)} != statistics {stats.Failed}");
        Expect(Count(EventStatus.Cancelled) == stats.Cancelled, $"cancelled handles {Count(EventStatus.Cancelled)} != statistics {stats.Cancelled}");
        Expect(Count(EventStatus.TimedOut) == stats.TimedOut, $"timed-out handles {Count(EventStatus.TimedOut)} != statistics {stats.TimedOut}");
        foreach (var (id, handle) in handles)
        {
            if (handle.Status is EventStatus.Dropped or EventStatus.Rejected)
                Expect(_refused.TryGetValue(id, out var refused) && refused == handle.Status, $"event {id}: handle {handle.Status} without a matching record");
        }

        var processedHandles = Count(EventStatus.Completed) + Count(EventStatus.Failed) + Count(EventStatus.Cancelled) + Count(EventStatus.TimedOut);
        Expect(processedHandles + _refused.Count == stats.Published, $"handles processed {processedHandles} + refused {_refused.Count} != published {stats.Published}");

        // The stop report says what the handles say (nothing is cancelled before the stop).
        Expect(report.Cancelled == Count(EventStatus.Cancelled), $"report cancelled {report.Cancelled} != cancelled handles {Count(EventStatus.Cancelled)}");
        Expect(!report.Completed || report.Cancelled == 0, "report completed but cancelled events");
        Expect(report.Drained >= 0 && report.Drained + report.Cancelled <= stats.Processed - processedBeforeStop, $"report drained {report.Drained} + cancelled {report.Cancelled} > processed during the stop ({stats.Processed - processedBeforeStop})");
        Expect(report.Dropped + report.Rejected <= stats.Dropped + stats.Rejected, $"report shed {report.Dropped + report.Rejected} > {stats.Dropped + stats.Rejected}");

        // A handler ran exactly for the events whose outcome says it did; an event cancelled before it started never ran.
        foreach (var (id, handle) in handles)
        {
            if (!handle.IsCompleted || handle.Status is EventStatus.Dropped or EventStatus.Rejected)
            {
                Expect(!_started.ContainsKey(id), $"event {id}: {handle.Status} but its handler ran");
                continue;
            }

            var outcome = handle.Context.GetOutcome();
            var ran = outcome.Handlers.Count > 0 && outcome.Handlers[0].Attempts > 0;
            Expect(ran == _started.ContainsKey(id), $"event {id}: {outcome.Status}, outcome says first handler ran {ran}, handler says {_started.ContainsKey(id)}");

            // A worker times back-to-back events from the previous handler's end: never from a reading older than the run.
            foreach (var result in outcome.Handlers)
                Expect(result.Duration >= TimeSpan.Zero && result.Duration <= runTime, $"event {id}: handler {result.SubscriptionName} took {result.Duration}, the run {runTime}");
        }
    }
}
