using System.ComponentModel.DataAnnotations;
using Busbar.Tests.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Busbar.Tests.Dispatch;

/// <summary>
/// <see cref="EventSender{T}"/> behaves exactly as the bus's methods of the same name: a randomized mix on twin buses, one sent to
/// through a sender and one through the bus, must log the same handler runs, failures, outcomes, counters and history matches.
/// </summary>
[Collection(nameof(GlobalListenerCollection))]
public sealed class EventSenderTests
{
    [EventName("sender.tick")]
    public record Tick(int N);

    [EventName("sender.tick.derived")]
    public sealed record DerivedTick(int N) : Tick(N);

    [EventName("sender.leaf")]
    public sealed record Leaf(int N);

    [Fact]
    public async Task GetSender_SameBusAndType_ReturnsOneSenderPerType()
    {
        await using var bus = EventBus.Create();
        await using var other = EventBus.Create();

        var sender = bus.GetSender<Tick>();

        Assert.Same(sender, bus.GetSender<Tick>());
        Assert.Same(bus, sender.Bus);
        Assert.NotSame(sender, other.GetSender<Tick>());
        Assert.Same(bus, bus.GetSender<Leaf>().Bus);
    }

    [Fact]
    public void EventSender_NullBus_Throws()
    {
        Assert.Throws<ArgumentNullException>(() => new EventSender<Tick>(null!));
    }

    [Fact]
    public async Task SendAsync_NullEvent_ThrowsAsTheBusDoes()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Tick>(static _ => { });
        var sender = bus.GetSender<Tick>();
        await sender.SendAsync(new Tick(1));

        Assert.Throws<ArgumentNullException>(() => { _ = sender.SendAsync(null!); });
        Assert.Throws<ArgumentNullException>(() => { _ = bus.SendAsync<Tick>(null!); });
    }

    [Fact]
    public async Task SendAsync_BusWithValidator_RefusesInvalidEventBeforeAnyHandler()
    {
        await using var bus = new EventBusBuilder().AddValidator(new PositiveTick()).Build();
        var ran = 0;
        bus.Subscribe<Tick>(_ => ran++);
        var sender = bus.GetSender<Tick>();

        await sender.SendAsync(new Tick(1));
        await Assert.ThrowsAsync<EventValidationException>(() => sender.SendAsync(new Tick(-1)).AsTask());
        await Assert.ThrowsAsync<EventValidationException>(() => sender.SendAsync(new Tick(-2)).AsTask());

        Assert.Equal(1, ran);
    }

    [Fact]
    public async Task SendAsync_StoppedBus_ThrowsBusStoppedAsTheBusDoes()
    {
        var bus = EventBus.Create();
        bus.Subscribe<Tick>(static _ => { });
        var sender = bus.GetSender<Tick>();
        await sender.SendAsync(new Tick(1));

        await bus.StopAsync();

        Assert.Throws<BusStoppedException>(() => { _ = sender.SendAsync(new Tick(2)); });
        Assert.Throws<BusStoppedException>(() => { _ = bus.SendAsync(new Tick(2)); });
        await Assert.ThrowsAsync<BusStoppedException>(() => sender.PublishAsync(new Tick(3)).AsTask());
        await bus.DisposeAsync();
    }

    [Fact]
    public async Task SendAsync_WarmSenderOfEightContextHandlers_AllocatesNothing()
    {
        await using var bus = EventBus.Create();
        var count = 0;
        for (var i = 0; i < 8; i++)
            bus.Subscribe<Tick>((_, _, _) =>
            {
                count++;
                return ValueTask.CompletedTask;
            });

        Assert.Equal(0, await AllocatedBySendsAsync(bus.GetSender<Tick>()));
        Assert.Equal(8 * 1_100, count);
    }

    [Fact]
    public async Task SendAsync_WarmSenderOfEightActionHandlers_AllocatesNothing()
    {
        await using var bus = EventBus.Create();
        var count = 0;
        for (var i = 0; i < 8; i++)
            bus.Subscribe<Tick>(_ => count++);

        Assert.Equal(0, await AllocatedBySendsAsync(bus.GetSender<Tick>()));
        Assert.Equal(8 * 1_100, count);
    }

    [Fact]
    public async Task SendAsync_WarmSenderActionHandlerReadingCurrent_AllocatesNothing()
    {
        await using var bus = EventBus.Create();
        var named = 0;
        bus.Subscribe<Tick>(t =>
        {
            if (EventContext.Current is { } context && ReferenceEquals(context.Event, t))
                named++;
        });

        Assert.Equal(0, await AllocatedBySendsAsync(bus.GetSender<Tick>()));
        Assert.Equal(1_100, named);
    }

    [Fact]
    public async Task SendAsync_SubscriptionsChangeAfterTheSenderWasTaken_NextSendRunsTheNewHandlers()
    {
        await using var bus = EventBus.Create();
        var ran = new List<string>();
        var sender = bus.GetSender<Tick>();
        await sender.SendAsync(new Tick(0));
        var first = bus.Subscribe<Tick>(t => ran.Add($"a{t.N}"));
        await sender.SendAsync(new Tick(1));
        bus.Subscribe<Tick>(t => ran.Add($"b{t.N}"));
        await sender.SendAsync(new Tick(2));
        first.Dispose();
        await sender.SendAsync(new Tick(3));
        bus.Subscribe<Tick>(t => ran.Add($"t{t.N}"), new SubscriptionOptions { HandlerTimeout = TimeSpan.FromHours(1) });
        await sender.SendAsync(new Tick(4));

        Assert.Equal(["a1", "a2", "b2", "b3", "b4", "t4"], ran);
    }

    [Fact]
    public async Task AddBusbar_ClassTakesEventSender_SendsToTheDefaultBus()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddBusbar();
        using var host = builder.Build();
        var bus = host.Services.GetRequiredService<IEventBus>();
        var ran = new List<int>();
        bus.Subscribe<Tick>(t => ran.Add(t.N));

        var sender = host.Services.GetRequiredService<EventSender<Tick>>();
        await sender.SendAsync(new Tick(7));

        Assert.Same(bus, sender.Bus);
        Assert.Same(sender, host.Services.GetRequiredService<EventSender<Tick>>());
        Assert.Equal([7], ran);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(2026)]
    [InlineData(1130)]
    public async Task SenderAndBus_RandomMixOnTwinBuses_SameRunsFailuresOutcomesCountersAndHistory(int seed)
    {
        Console.WriteLine($"EventSenderTests twin-bus mix seed: {seed}");
        var random = new Random(seed);
        await using var viaSender = new Side($"sender-twin-s-{seed}-{Guid.NewGuid():N}");
        await using var viaBus = new Side($"sender-twin-b-{seed}-{Guid.NewGuid():N}");
        Side[] sides = [viaSender, viaBus];
        var subscribed = new List<int>();
        SpanRecorder? listener = null;
        try
        {
            for (var step = 0; step < 600; step++)
            {
                var roll = random.Next(20);
                if (roll < 3 || subscribed.Count == 0)
                {
                    var kind = (Kind)random.Next(Enum.GetValues<Kind>().Length);
                    foreach (var side in sides)
                        side.Subscribe(kind);
                    subscribed.Add(viaBus.Subscriptions.Count - 1);
                }
                else if (roll < 4)
                {
                    var slot = subscribed[random.Next(subscribed.Count)];
                    subscribed.Remove(slot);
                    foreach (var side in sides)
                        side.Subscriptions[slot].Dispose();
                }
                else if (roll < 5)
                {
                    // A tracing listener attaches or leaves: sends in between go through the dispatcher, on both sides.
                    if (listener is null)
                    {
                        listener = new SpanRecorder();
                    }
                    else
                    {
                        listener.Dispose();
                        listener = null;
                    }
                }
                else if (roll < 6)
                {
                    foreach (var side in sides)
                        side.StartWait(step);
                }
                else
                {
                    await EventAsync(step, roll);
                }
            }

            Assert.Equal(viaBus.Log, viaSender.Log);
            Assert.Equal(viaBus.Failures, viaSender.Failures);
            Assert.True(viaBus.Log.Count > 500, $"seed {seed}: only {viaBus.Log.Count} handler runs");
            Assert.Empty(viaSender.Wrong);
            Assert.Empty(viaBus.Wrong);
            Assert.Equal(viaBus.Bus.History<Tick>().Select(h => ((Tick)h.Context.Event).N), viaSender.Bus.History<Tick>().Select(h => ((Tick)h.Context.Event).N));
            Assert.Equal(await viaBus.WaitResultsAsync(), await viaSender.WaitResultsAsync());
            Assert.Equal(Counters(viaBus.Bus.GetStatistics()), Counters(viaSender.Bus.GetStatistics()));
            Assert.Equal(viaBus.Bus.DeadLetters.Count, viaSender.Bus.DeadLetters.Count);
            if (listener is not null)
                Assert.Equal(listener.For(viaBus.Bus.Name).Count, listener.For(viaSender.Bus.Name).Count);

            foreach (var side in sides)
                await side.Bus.StopAsync();
            Assert.Equal(await viaBus.SendAsync(new Tick(-1), null, bySender: false), await viaSender.SendAsync(new Tick(-1), null, bySender: true));
            Assert.Equal(await viaBus.PublishAsync(new Tick(-2), bySender: false), await viaSender.PublishAsync(new Tick(-2), bySender: true));
            Assert.Contains(nameof(BusStoppedException), viaSender.Failures[^1]);
        }
        finally
        {
            listener?.Dispose();
        }

        async Task EventAsync(int step, int roll)
        {
            Tick tick = roll == 6 ? new DerivedTick(step) : new Tick(step);
            var options = roll == 7 ? new PublishOptions { CorrelationId = Guid.NewGuid() } : null;
            if (roll == 8)
            {
                var sent = await viaSender.InvokeAsync(tick, bySender: true);
                Assert.Equal(await viaBus.InvokeAsync(tick, bySender: false), sent);
            }
            else if (roll == 9)
            {
                var sent = await viaSender.PublishAsync(tick, bySender: true);
                Assert.Equal(await viaBus.PublishAsync(tick, bySender: false), sent);
            }
            else
            {
                var sent = await viaSender.SendAsync(tick, options, bySender: true);
                var expected = await viaBus.SendAsync(tick, options, bySender: false);
                Assert.True(expected == sent, $"seed {seed}, step {step}: through the bus '{expected}', through the sender '{sent}'");
            }
        }
    }

    private static (long, long, long, long, long, long, long) Counters(BusStatistics s) =>
        (s.Published, s.Processed, s.Completed, s.Failed, s.Cancelled, s.TimedOut, s.DeadLettered);

    private static async Task<long> AllocatedBySendsAsync(EventSender<Tick> sender)
    {
        var tick = new Tick(1);
        for (var i = 0; i < 100; i++)
            await sender.SendAsync(tick);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            var pending = sender.SendAsync(tick);
            Assert.True(pending.IsCompletedSuccessfully);
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private enum Kind
    {
        Action,
        ActionReadingCurrent,
        ContextFreeAsync,
        ContextFreeSync,
        Context,
        ContextAsync,
        Throws,
        Timeout,
        Retry,
        Filtered,
        Nester,
        Result,
    }

    /// <summary>One of the twin buses: the same subscriptions in the same order, a log of what its handlers did.</summary>
    private sealed class Side(string name) : IAsyncDisposable
    {
        private readonly List<Task<EventMatch<Tick>?>> _waits = [];
        private readonly CancellationTokenSource _stopWaits = new();

        public IEventBus Bus { get; } = EventBus.Create(new EventBusOptions { Name = name });

        public List<ISubscription> Subscriptions { get; } = [];

        /// <summary>What each handler ran for, in order: slot, event, attempt.</summary>
        public List<string> Log { get; } = [];

        /// <summary>How each send, invoke and publish ended, in order.</summary>
        public List<string> Failures { get; } = [];

        /// <summary>Handlers that saw another event than their own as current, or a nested send not caused by its handler's event.</summary>
        public List<string> Wrong { get; } = [];

        public void Subscribe(Kind kind)
        {
            var slot = Subscriptions.Count;
            var attempts = new Dictionary<int, int>();
            Subscriptions.Add(kind switch
            {
                Kind.Action => Bus.Subscribe<Tick>(t => Log.Add($"{slot}:{t.N}")),
                Kind.ActionReadingCurrent => Bus.Subscribe<Tick>(t =>
                {
                    Log.Add($"{slot}:{t.N}");
                    if (EventContext.Current is not { } current || !ReferenceEquals(current.Event, t))
                        Wrong.Add($"{slot}:{t.N} saw {EventContext.Current?.Event}");
                }),
                Kind.ContextFreeAsync => Bus.Subscribe<Tick>(async t =>
                {
                    await Task.Yield();
                    Log.Add($"{slot}:{t.N}");
                    if (EventContext.Current is not { } current || !ReferenceEquals(current.Event, t))
                        Wrong.Add($"{slot}:{t.N} saw {EventContext.Current?.Event} after an await");
                }),
                Kind.ContextFreeSync => Bus.Subscribe<Tick>(t =>
                {
                    Log.Add($"{slot}:{t.N}");
                    return ValueTask.CompletedTask;
                }),
                Kind.Context => Bus.Subscribe<Tick>((t, context, _) =>
                {
                    Log.Add($"{slot}:{t.N}:{context.Name}");
                    if (!ReferenceEquals(EventContext.Current, context))
                        Wrong.Add($"{slot}:{t.N} not current");
                    return ValueTask.CompletedTask;
                }),
                Kind.ContextAsync => Bus.Subscribe<Tick>(async (t, context, _) =>
                {
                    await Task.Yield();
                    Log.Add($"{slot}:{t.N}:{context.Name}");
                    if (!ReferenceEquals(EventContext.Current, context))
                        Wrong.Add($"{slot}:{t.N} not current after an await");
                }),
                Kind.Throws => Bus.Subscribe<Tick>(t =>
                {
                    Log.Add($"{slot}:{t.N}");
                    if (t.N % 2 == 0)
                        throw new InvalidOperationException($"slot {slot} refuses {t.N}");
                }),
                Kind.Timeout => Bus.Subscribe<Tick>(t => Log.Add($"{slot}:{t.N}"), new SubscriptionOptions { HandlerTimeout = TimeSpan.FromHours(1) }),
                Kind.Retry => Bus.Subscribe<Tick>(
                    t =>
                    {
                        attempts[t.N] = attempts.GetValueOrDefault(t.N) + 1;
                        Log.Add($"{slot}:{t.N}:attempt {attempts[t.N]}");
                        if (attempts[t.N] == 1)
                            throw new TimeoutException("transient");
                    },
                    new SubscriptionOptions { Retry = RetryPolicy.Constant(2, TimeSpan.Zero) }),
                Kind.Filtered => Bus.Subscribe<Tick>(t => Log.Add($"{slot}:{t.N}"), new SubscriptionOptions { Filter = static (e, _) => ((Tick)e).N % 3 == 0 }),
                Kind.Nester => Bus.Subscribe<Tick>(async (t, context, _) =>
                {
                    Guid? cause = null;
                    using var leaf = Bus.Subscribe<Leaf>((_, leafContext) => cause = leafContext.CausationId);
                    await Bus.GetSender<Leaf>().SendAsync(new Leaf(t.N));
                    Log.Add($"{slot}:{t.N}:nested");
                    if (cause != context.EventId)
                        Wrong.Add($"{slot}:{t.N} nested send caused by {cause}, not {context.EventId}");
                }),
                _ => Bus.Subscribe<Tick, int>((t, _, _) =>
                {
                    Log.Add($"{slot}:{t.N}:result");
                    return ValueTask.FromResult(t.N);
                }),
            });
        }

        public void StartWait(int step) =>
            _waits.Add(Bus.WaitForAsync<Tick>((t, _) => t.N >= step, Timeout.InfiniteTimeSpan, cancellationToken: _stopWaits.Token).AsTask());

        /// <summary>Which event each wait matched, or that it was still waiting at the end.</summary>
        public async Task<List<string>> WaitResultsAsync()
        {
            var results = new List<string>();
            foreach (var wait in _waits)
                results.Add(wait.IsCompleted ? $"matched {(await wait)?.Event.N}" : "waiting");
            return results;
        }

        public Task<string> SendAsync(Tick tick, PublishOptions? options, bool bySender) =>
            EndedAsync(async () =>
            {
                // Called, not awaited, first: a send that throws synchronously (a stopped bus) throws here as it would to a caller.
                var pending = bySender ? Bus.GetSender<Tick>().SendAsync(tick, options) : Bus.SendAsync(tick, options);
                await pending.AsTask().Within();
                return "ok";
            });

        public async Task<string> InvokeAsync(Tick tick, bool bySender)
        {
            var outcome = await (bySender ? Bus.GetSender<Tick>().InvokeAsync(tick) : Bus.InvokeAsync(tick)).AsTask().Within();
            return Describe(outcome);
        }

        public Task<string> PublishAsync(Tick tick, bool bySender) =>
            EndedAsync(async () =>
            {
                var handle = await (bySender ? Bus.GetSender<Tick>().PublishAsync(tick) : Bus.PublishAsync(tick)).AsTask().Within();
                return Describe(await handle.AsValueTask().Within());
            });

        public async ValueTask DisposeAsync()
        {
            await _stopWaits.CancelAsync();
            foreach (var wait in _waits)
                await Task.WhenAny(wait);
            _stopWaits.Dispose();
            await Bus.DisposeAsync();
        }

        private static string Describe(EventOutcome outcome) =>
            $"{outcome.Status}: {string.Join(", ", outcome.Handlers.Select(h => $"{h.Status}/{h.Attempts}/{h.Exception?.Message}"))}";

        /// <summary>Runs an operation to its end and says how it ended, the bus's name left out of messages (the twins' differ).</summary>
        private async Task<string> EndedAsync(Func<Task<string>> operation)
        {
            string result;
            try
            {
                result = await operation();
            }
            catch (AggregateException ex)
            {
                result = $"{nameof(AggregateException)}[{string.Join(" | ", ex.InnerExceptions.Select(e => $"{e.GetType().Name}: {e.Message}"))}]";
            }
            catch (Exception ex)
            {
                result = $"{ex.GetType().Name}: {ex.Message}";
            }

            result = result.Replace(name, "<bus>", StringComparison.Ordinal);
            Failures.Add(result);
            return result;
        }
    }

    private sealed class PositiveTick : IEventValidator<Tick>
    {
        public void Validate(Tick @event, ICollection<ValidationResult> errors)
        {
            if (@event.N < 0)
                errors.Add(new ValidationResult("N must not be negative.", ["N"]));
        }
    }
}
