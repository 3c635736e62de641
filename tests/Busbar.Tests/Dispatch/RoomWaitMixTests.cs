using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit.Abstractions;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// A randomized mix over the queued path where publishers wait for room: several publishers into a small queue, ordering keys,
/// priorities, every <see cref="BusFullMode"/>, publishes cancelled while they wait, handlers that go asynchronous, handlers that
/// publish a child and await it (a queue jump), fire-and-forget work reading <see cref="EventContext.Current"/>, and a stop at a
/// random moment. Invariants: nothing is lost silently (every publish ends in a handle or an exception, every refusal is
/// recorded once), FIFO per key, outcomes and counters agree, and <see cref="EventContext.Current"/> and causation name the
/// right event or none. Each run is bounded in events and time and prints its seed.
/// </summary>
[Collection(nameof(StressCollection))]
public sealed class RoomWaitMixTests(ITestOutputHelper output)
{
    public static TheoryData<int, BusFullMode> Seeds => new()
    {
        { 3, BusFullMode.Wait },
        { 5, BusFullMode.Wait },
        { 7, BusFullMode.Wait },
        { 13, BusFullMode.Wait },
        { 17, BusFullMode.Wait },
        { 19, BusFullMode.Reject },
        { 29, BusFullMode.DropOldest },
        { 31, BusFullMode.DropNewest },
        { 101, BusFullMode.Wait },
        { 103, BusFullMode.Wait },
    };

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task RandomMix_PublishersWaitingForRoom_InvariantsHold(int seed, BusFullMode mode)
    {
        var run = new RoomWaitRun(seed, mode);
        output.WriteLine($"seed {seed}: {run.Describe()}");
        var violations = await run.ExecuteAsync();
        output.WriteLine(run.Summary);
        Assert.True(violations.Count == 0, $"seed {seed} ({run.Describe()}): {violations.Count} violations: {string.Join(" | ", violations.Take(15))}");
    }
}

internal enum RoomWaitBehaviour
{
    Quick,
    Async,
    FireAndForget,
    AwaitLeftover,
    Parent,
}

[EventName("roomwait.work")]
internal sealed record RoomWaitWork(int Id, int Publisher, int Sequence, string? Key, RoomWaitBehaviour Behaviour);

[EventName("roomwait.child")]
internal sealed record RoomWaitChild(int Id, int Parent);

internal sealed class RoomWaitRun : MixRun
{
    private const int Publishers = 4;
    private const int PerPublisher = 400;
    private static readonly TimeSpan s_publishBudget = TimeSpan.FromSeconds(4);

    private readonly int _seed;
    private readonly BusFullMode _mode;
    private readonly int _workers;
    private readonly int _capacity;
    private readonly int _stopAfter;

    private readonly ConcurrentDictionary<int, int> _runs = new();
    private readonly ConcurrentBag<Task> _leftRunning = [];
    private int _nextId;
    private int _calls;
    private int _cancelled;
    private int _busFull;
    private int _stoppedAtDoor;
    private int _leftoverSawOwn;
    private IEventBus _bus = null!;

    public RoomWaitRun(int seed, BusFullMode mode)
    {
        _seed = seed;
        _mode = mode;
        var random = new Random(seed);
        _workers = new[] { 1, 2, 4 }[random.Next(3)];
        _capacity = new[] { 1, 2, 8 }[random.Next(3)];
        _stopAfter = random.Next(Publishers * PerPublisher / 4, Publishers * PerPublisher);
    }

    public string Summary { get; private set; } = "";

    public string Describe() => $"{_mode}, {_workers} workers, capacity {_capacity}, stop after {_stopAfter} publishes";

    public async Task<IReadOnlyCollection<string>> ExecuteAsync()
    {
        _bus = EventBus.Create(new EventBusOptions
        {
            Capacity = _capacity,
            FullMode = _mode,
            MaxConcurrentEvents = _workers,
            DrainTimeout = TimeSpan.FromSeconds(30),
            SlowHandlerThreshold = null,
            OnEventShed = args => Refused(args.Context.Event, args.Status),
        });
        Subscribe();

        var clock = Stopwatch.StartNew();
        var publishers = Enumerable.Range(0, Publishers).Select(p => Task.Run(() => PublishAsync(p, clock))).ToArray();
        await TestTimeout.Until(() => Volatile.Read(ref _calls) >= _stopAfter || publishers.All(t => t.IsCompleted), TimeSpan.FromSeconds(30), "stop point");
        var report = await _bus.StopAsync(TimeSpan.FromSeconds(30)).AsTask().WaitAsync(TimeSpan.FromSeconds(40));
        await Task.WhenAll(publishers).WaitAsync(TimeSpan.FromSeconds(30));
        await Task.WhenAll(_leftRunning).WaitAsync(TimeSpan.FromSeconds(30));

        Check(report);
        await _bus.DisposeAsync();
        var statuses = _handles.Values.GroupBy(h => h.Status).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}");
        Summary = $"{_calls} publish calls, {_handles.Count} handles ({string.Join(", ", statuses)}), {_refused.Count} refused, "
            + $"{_cancelled} cancelled while waiting, {_busFull} BusFullException, {_stoppedAtDoor} refused at the door after stop, "
            + $"{_leftRunning.Count} fire-and-forget flows ({_leftoverSawOwn} saw their own event); report: drained {report.Drained}, "
            + $"completed {report.Completed}; {clock.ElapsedMilliseconds} ms";
        return [.. _violations];
    }

    private void Subscribe()
    {
        _bus.Subscribe<RoomWaitWork>(async (w, ctx, ct) =>
        {
            _runs.AddOrUpdate(w.Id, 1, static (_, n) => n + 1);
            ExpectCurrent(w.Id, ctx, "at the handler's start");
            var keyed = w.Key is not null;
            if (keyed)
                EnterKey(w.Id, w.Key!, $"{w.Publisher}/{w.Key}", w.Sequence);
            try
            {
                switch (w.Behaviour)
                {
                    case RoomWaitBehaviour.Async:
                        await Task.Yield();
                        ExpectCurrent(w.Id, ctx, "after an await");
                        break;
                    case RoomWaitBehaviour.FireAndForget:
                        // Started and not awaited: it may run while this event runs (then it sees it) or after (then it sees none),
                        // never another event.
                        var own = ctx.EventId;
                        _leftRunning.Add(Task.Run(() =>
                        {
                            var seen = EventContext.Current;
                            if (seen is not null)
                            {
                                Expect(seen.EventId == own, $"event {w.Id}: fire-and-forget work saw event {seen.Event} instead of its own");
                                Interlocked.Increment(ref _leftoverSawOwn);
                            }
                        }, CancellationToken.None));
                        break;
                    case RoomWaitBehaviour.AwaitLeftover:
                        // Work started and left running looks while this event still runs (the handler went asynchronous
                        // waiting for it): it sees exactly this event.
                        var looked = new TaskCompletionSource<EventContext?>(TaskCreationOptions.RunContinuationsAsynchronously);
                        _leftRunning.Add(Task.Run(() => looked.SetResult(EventContext.Current), CancellationToken.None));
                        var saw = await looked.Task.WaitAsync(TestTimeout.Default, CancellationToken.None);
                        Expect(ReferenceEquals(saw, ctx), $"event {w.Id}: work it left running saw {saw?.Event} while it ran");
                        Interlocked.Increment(ref _leftoverSawOwn);
                        ExpectCurrent(w.Id, ctx, "after the work it left running looked");
                        break;
                    case RoomWaitBehaviour.Parent:
                        await ParentAsync(w, ctx, ct);
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
        });

        _bus.Subscribe<RoomWaitChild>((c, ctx, _) =>
        {
            _runs.AddOrUpdate(c.Id, 1, static (_, n) => n + 1);
            ExpectCurrent(c.Id, ctx, "in a child");
            return ValueTask.CompletedTask;
        });
    }

    private async Task ParentAsync(RoomWaitWork parent, EventContext context, CancellationToken ct)
    {
        var id = Interlocked.Increment(ref _nextId);
        try
        {
            // A handler publishing into its own bus never waits for room (it may overflow up to twice the capacity).
            var handle = await _bus.PublishAsync(new RoomWaitChild(id, parent.Id), cancellationToken: ct);
            _handles[id] = handle;
            Expect(handle.Context.CausationId == context.EventId, $"child {id}: causation {handle.Context.CausationId}, parent {context.EventId}");
            Expect(handle.Context.CorrelationId == context.CorrelationId, $"child {id}: correlation differs from its parent's");

            // Awaiting a queued child of this bus runs it at once (a queue jump).
            if ((parent.Id & 1) == 0)
                await handle;
            ExpectCurrent(parent.Id, context, "after publishing a child");
        }
        catch (BusFullException)
        {
            Interlocked.Increment(ref _busFull);
            Expect(_refused.TryGetValue(id, out var status) && status == EventStatus.Rejected, $"child {id}: BusFullException without a rejected record");
        }
        catch (BusStoppedException)
        {
        }
    }

    private async Task PublishAsync(int publisher, Stopwatch clock)
    {
        var random = new Random(_seed * 31 + publisher);
        var sequences = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < PerPublisher && clock.Elapsed < s_publishBudget; i++)
        {
            var roll = random.Next(100);
            var key = roll < 40 ? null : roll < 70 ? "hot" : $"k{random.Next(4)}";
            var behaviour = (RoomWaitBehaviour)random.Next(Enum.GetValues<RoomWaitBehaviour>().Length);
            var sequence = 0;
            if (key is not null)
                sequences[key] = sequence = sequences.GetValueOrDefault(key) + 1;
            var id = Interlocked.Increment(ref _nextId);
            var options = new PublishOptions { OrderingKey = key, Priority = random.Next(8) switch { 0 => 5, 1 => -5, _ => 0 } };

            // A keyed event stays FIFO whatever its priority only with several workers (see StressRun.EnterKey); with one worker
            // a key's order holds per priority, so keyed events keep priority 0 here to check the plain per-key order.
            if (key is not null)
                options = options with { Priority = 0 };
            using var cancel = random.Next(8) == 0 ? new CancellationTokenSource(TimeSpan.FromMilliseconds(random.Next(0, 3))) : null;
            Interlocked.Increment(ref _calls);
            try
            {
                _handles[id] = await _bus.PublishAsync(new RoomWaitWork(id, publisher, sequence, key, behaviour), options, cancel?.Token ?? default);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref _cancelled);
                Expect(_refused.TryGetValue(id, out var status) && status == EventStatus.Rejected, $"event {id}: cancelled while waiting without a rejected record");
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

    private void ExpectCurrent(int id, EventContext context, string where)
    {
        var current = EventContext.Current;
        Expect(ReferenceEquals(current, context), $"event {id}: EventContext.Current {current?.Event} {where}");
    }

    protected override int IdOf(object payload) => payload switch
    {
        RoomWaitWork w => w.Id,
        RoomWaitChild c => c.Id,
        _ => -1,
    };

    private void Check(StopReport report)
    {
        var stats = _bus.GetStatistics();
        var handles = CheckSettled(stats);
        Expect(report.Completed, "the stop did not drain within its timeout");

        // Nothing fails here, so every publish is a completed handle or a refusal record.
        var completed = handles.Count(h => h.Value.Status == EventStatus.Completed);
        Expect(stats.Failed == 0 && stats.Cancelled == 0 && stats.TimedOut == 0, $"failed {stats.Failed}, cancelled {stats.Cancelled}, timed out {stats.TimedOut}: no handler fails and the stop drains");
        Expect(completed + _refused.Count == stats.Published, $"completed handles {completed} + refused {_refused.Count} != published {stats.Published}");

        // A handler ran once for each completed event and never for a refused one.
        foreach (var (id, handle) in handles)
        {
            var runs = _runs.GetValueOrDefault(id);
            if (handle.Status == EventStatus.Completed)
                Expect(runs == 1, $"event {id}: completed, its handler ran {runs} times");
            else
                Expect(runs == 0 && _refused.ContainsKey(id), $"event {id}: {handle.Status}, handler ran {runs} times, refusal recorded {_refused.ContainsKey(id)}");
        }

        foreach (var (id, _) in _refused)
            Expect(_runs.GetValueOrDefault(id) == 0, $"event {id}: refused but its handler ran");
    }
}
