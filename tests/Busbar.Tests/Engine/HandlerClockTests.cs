using System.Collections.Concurrent;
using System.Diagnostics;
using Busbar.Dispatch;
using Busbar.Tests.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Busbar.Tests.Engine;

/// <summary>
/// A queue worker times its handlers with one clock read each while it takes events back to back (<see cref="Busbar.Engine.HandlerClock"/>):
/// durations stay exact for everything a handler does, and never include time the worker spent waiting for an event or for a
/// handler that went asynchronous. Alone in its collection: a process-wide metrics listener would add clock reads (queue dwell)
/// to the ones counted here.
/// </summary>
[Collection(nameof(GlobalListenerCollection))]
public class HandlerClockTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Idle = TimeSpan.FromHours(1);

    [Fact]
    public async Task PublishAsync_EventsBackToBack_OneClockReadPerHandlerAndExactDurations()
    {
        const int Queued = 20;
        var time = new CountingTimeProvider();
        await using var bus = Build(time, workers: 1);
        using var started = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        bus.Subscribe<Ping>(p =>
        {
            if (p.Value == 0)
            {
                started.Set();
                Assert.True(gate.Wait(TestTimeout.Default));
            }

            time.Advance(TimeSpan.FromMilliseconds(p.Value + 1));
        });

        var handles = new List<EventHandle> { await bus.PublishAsync(new Ping(0)) };
        Assert.True(started.Wait(TestTimeout.Default));
        for (var i = 1; i <= Queued; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        var before = time.Reads;
        gate.Set();
        var outcomes = await Task.WhenAll(handles.Select(h => h.AsValueTask().AsTask())).Within();

        // The first event's end, then one read per event: each starts where the one before it ended (two reads each before).
        Assert.Equal(Queued + 1, time.Reads - before);
        for (var i = 0; i <= Queued; i++)
            Assert.Equal(TimeSpan.FromMilliseconds(i + 1), Assert.Single(outcomes[i].Handlers).Duration);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task PublishAsync_WorkersIdleWhileTheClockAdvances_NextHandlerExcludesTheIdleTime(int workers)
    {
        var time = new FakeTimeProvider();
        await using var bus = Build(time, workers);
        bus.Subscribe<Ping>(p => time.Advance(TimeSpan.FromMilliseconds(p.Value)));

        var first = await (await bus.PublishAsync(new Ping(2))).AsValueTask().Within();
        await TestTimeout.Until(() => bus.WaitingWorkers == workers, what: "every worker waiting");
        time.Advance(Idle);
        var second = await (await bus.PublishAsync(new Ping(3))).AsValueTask().Within();

        Assert.Equal(TimeSpan.FromMilliseconds(2), Assert.Single(first.Handlers).Duration);
        Assert.Equal(TimeSpan.FromMilliseconds(3), Assert.Single(second.Handlers).Duration);
    }

    [Fact]
    public async Task PublishAsync_HandlerGoesAsynchronousBetweenBackToBackEvents_NextDurationsStayExact()
    {
        var time = new FakeTimeProvider();
        await using var bus = Build(time, workers: 1);
        using var started = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        var awaiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bus.Subscribe<Ping>(async (p, _, _) =>
        {
            if (p.Value == 0)
            {
                started.Set();
                Assert.True(gate.Wait(TestTimeout.Default));
            }
            else if (p.Value == 1)
            {
                awaiting.SetResult();
                await resume.Task;
            }

            time.Advance(TimeSpan.FromMilliseconds(p.Value + 1));
        });

        var handles = new List<EventHandle> { await bus.PublishAsync(new Ping(0)) };
        Assert.True(started.Wait(TestTimeout.Default));
        for (var i = 1; i <= 4; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        gate.Set();
        await awaiting.Task.Within();
        // Time passing while a handler is suspended is that handler's; none of it may reach the events after it.
        time.Advance(Idle);
        resume.SetResult();
        var outcomes = await Task.WhenAll(handles.Select(h => h.AsValueTask().AsTask())).Within();

        Assert.Equal(
            [TimeSpan.FromMilliseconds(1), Idle + TimeSpan.FromMilliseconds(2), TimeSpan.FromMilliseconds(3), TimeSpan.FromMilliseconds(4), TimeSpan.FromMilliseconds(5)],
            outcomes.Select(o => Assert.Single(o.Handlers).Duration));
    }

    [Fact]
    public async Task PublishAsync_BlockingHandlersBackToBack_EachReportsAtLeastItsBlockingTime()
    {
        // The real clock: a handler's duration covers at least what it did, whatever the worker carried over.
        const int BlockMs = 15;
        await using var bus = EventBus.Create(new EventBusOptions { Capacity = 16 });
        bus.Subscribe<Ping>(_ =>
        {
            var watch = Stopwatch.StartNew();
            while (watch.ElapsedMilliseconds < BlockMs)
                Thread.Sleep(1);
        });

        var handles = new List<EventHandle>();
        for (var i = 0; i < 6; i++)
            handles.Add(await bus.PublishAsync(new Ping(i)));
        var outcomes = await Task.WhenAll(handles.Select(h => h.AsValueTask().AsTask())).Within();

        Assert.All(outcomes, o => Assert.True(Assert.Single(o.Handlers).Duration >= TimeSpan.FromMilliseconds(BlockMs), $"{o.Handlers[0].Duration}"));
    }

    [Theory]
    [InlineData(7)]
    [InlineData(707)]
    [InlineData(7007)]
    [InlineData(70007)]
    public async Task RandomMix_HandlerDurationsAreTheirOwnAndNeverIncludeIdleTime(int seed)
    {
        // Bursts of events run back to back, with handlers that go asynchronous, fail, return values, share ordering keys
        // and fan out; between bursts every worker waits while the clock jumps an hour. Each handler advances the clock
        // by an amount derived from its event: with one worker that is exactly its duration, with several (handlers of
        // other events advance the same clock meanwhile) its duration lies between that and the burst's total, which is
        // far below the idle jump.
        var random = new Random(seed);
        var workers = random.Next(1, 4);
        var handlers = random.Next(1, 4);
        var concurrency = random.Next(3) == 0 ? HandlerConcurrency.Parallel : HandlerConcurrency.Serial;
        var bursts = random.Next(4, 9);
        output.WriteLine($"seed {seed}: {workers} worker(s), {handlers} handler(s), {concurrency}, {bursts} bursts");
        var time = new FakeTimeProvider();
        await using var bus = Build(time, workers, concurrency);
        var advanced = new ConcurrentDictionary<(int Value, int Handler), TimeSpan>();
        for (var h = 0; h < handlers; h++)
        {
            var handler = h;
            bus.Subscribe<Ping, int>(
                async (p, _, _) =>
                {
                    var own = Own(p.Value, handler);
                    var kind = (p.Value + handler) % 5;
                    if (kind == 1)
                        await Task.Yield();
                    time.Advance(own);
                    advanced[(p.Value, handler)] = own;
                    if (kind == 2)
                        throw new InvalidOperationException($"event {p.Value} handler {handler} fails");
                    return kind == 3 ? p.Value : 0;
                },
                new SubscriptionOptions { Name = $"h{handler}" });
        }

        var next = 0;
        for (var b = 0; b < bursts; b++)
        {
            var size = random.Next(1, 40);
            var handles = new List<(int Value, EventHandle Handle)>(size);
            for (var i = 0; i < size; i++)
            {
                var value = next++;
                var options = random.Next(3) == 0 ? new PublishOptions { OrderingKey = $"k{random.Next(3)}" } : null;
                handles.Add((value, await bus.PublishAsync(new Ping(value), options)));
            }

            var burstTotal = TimeSpan.Zero;
            foreach (var (value, handle) in handles)
            {
                var outcome = await handle.AsValueTask().Within();
                Assert.Equal(handlers, outcome.Handlers.Count);
                for (var h = 0; h < handlers; h++)
                {
                    var result = outcome.Handlers[h];
                    var own = Own(value, h);
                    burstTotal += own;
                    Assert.Equal(own, advanced[(value, h)]);
                    Assert.Equal((value + h) % 5 == 2 ? HandlerStatus.Failed : HandlerStatus.Succeeded, result.Status);
                    if (workers == 1 && concurrency == HandlerConcurrency.Serial)
                        Assert.True(result.Duration == own, $"seed {seed}, burst {b}, event {value}, handler {h}: {result.Duration} != {own}");
                    else
                        Assert.True(result.Duration >= own && result.Duration < Idle, $"seed {seed}, burst {b}, event {value}, handler {h}: {result.Duration} (own {own})");
                }
            }

            foreach (var (value, handle) in handles)
            {
                var outcome = await handle.AsValueTask().Within();
                Assert.All(outcome.Handlers, r => Assert.True(r.Duration <= burstTotal, $"seed {seed}, event {value}: {r.Duration} > burst total {burstTotal}"));
            }

            await TestTimeout.Until(() => bus.WaitingWorkers == workers, what: $"burst {b}: every worker waiting");
            time.Advance(Idle);
        }

        foreach (var (name, latency) in bus.GetStatistics().Handlers)
            Assert.True(latency.Max < Idle, $"seed {seed}: {name} max {latency.Max}");
    }

    private static TimeSpan Own(int value, int handler) => TimeSpan.FromMilliseconds((value % 7) + 1 + (10 * handler));

    private static InProcessEventBus Build(TimeProvider time, int workers, HandlerConcurrency concurrency = HandlerConcurrency.Serial) =>
        (InProcessEventBus)new EventBusBuilder()
            .WithOptions(new EventBusOptions { Capacity = 1_000, MaxConcurrentEvents = workers, HandlerConcurrency = concurrency })
            .WithTimeProvider(time)
            .Build();

    /// <summary>A fake clock that counts how often the bus read it.</summary>
    private sealed class CountingTimeProvider : FakeTimeProvider
    {
        private int _reads;

        public int Reads => Volatile.Read(ref _reads);

        public override long GetTimestamp()
        {
            Interlocked.Increment(ref _reads);
            return base.GetTimestamp();
        }
    }
}
