using Busbar.Routing;

namespace Busbar.Tests.Routing;

/// <summary>
/// Route caches stay exact while subscriptions change under a publish burst: every event reaches every handler
/// subscribed for its whole dispatch, and none subscribed only before or after it.
/// </summary>
public class RouterChurnTests
{
    private const int Seed = 16_001;
    private const int Events = 20_000;

    // The publisher never runs more than EventsPerChange events ahead of the churn: on a loaded machine the churn's thread may
    // get little time, and a publisher racing ahead alone would end the burst before the churn made its changes (the test
    // would check almost nothing, and its checks would cover hundreds of thousands of events).
    private const int EventsPerChange = 500;

    // The first and last handlers of every event: they mark where its dispatch is, so the churn thread knows
    // which events a subscription must and must not see.
    private const int MarkerPriority = 1_000;

    [Fact]
    public async Task Subscribe_DuringInlineBurst_EveryEventReachesExactlyItsWholeDispatchSubscribers()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Name = "churn-inline" });
        await RunChurnAsync(bus, static (b, e) => Send(b, e));
    }

    [Fact]
    public async Task Subscribe_DuringQueuedBurst_EveryEventReachesExactlyItsWholeDispatchSubscribers()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Name = "churn-queued", MaxConcurrentEvents = 1, Capacity = 256 });
        await RunChurnAsync(bus, static async (b, e) => await b.PublishAsync(e));
    }

    private static async Task RunChurnAsync(IEventBus bus, Func<IEventBus, object, Task> publish)
    {
        var token = TestTimeout.Token(TimeSpan.FromSeconds(60));
        long started = 0, finished = 0;
        bus.Subscribe<object>((e, _) => Volatile.Write(ref started, SeqOf(e)), new SubscriptionOptions { Priority = MarkerPriority });
        bus.Subscribe<object>((e, _) => Volatile.Write(ref finished, SeqOf(e)), new SubscriptionOptions { Priority = -MarkerPriority });

        var done = 0;
        var changes = 0;
        var churnEnded = 0;
        long published = 0;
        var publisher = Task.Factory.StartNew(
            async () =>
            {
                try
                {
                    for (var i = 1; i <= Events && !token.IsCancellationRequested; i++)
                    {
                        // Paced by the churn (bounded by the test's time limit), so the two overlap however the machine schedules them.
                        var spinner = default(SpinWait);
                        while (Volatile.Read(ref changes) < i / EventsPerChange && Volatile.Read(ref churnEnded) == 0 && !token.IsCancellationRequested)
                            spinner.SpinOnce();
                        await publish(bus, EventOf(i));
                        Volatile.Write(ref published, i);
                    }
                }
                finally
                {
                    Volatile.Write(ref done, 1);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default).Unwrap();

        var random = new Random(Seed);
        var live = new List<Tracked>();
        var all = new List<Tracked>();
        for (var step = 0; step < 100_000 && Volatile.Read(ref done) == 0 && !token.IsCancellationRequested; step++)
        {
            if (live.Count < 6 && (live.Count == 0 || random.Next(2) == 0))
            {
                var tracked = new Tracked(Kinds[random.Next(Kinds.Length)], random.Next(-1, 2));
                tracked.FinishedBefore = Volatile.Read(ref finished);
                tracked.Subscription = tracked.Kind.Subscribe(bus, tracked);
                // An event whose first handler has not run may have resolved its route already: the one after must see it.
                tracked.MustFrom = Volatile.Read(ref started) + 2;
                live.Add(tracked);
                all.Add(tracked);
            }
            else
            {
                var tracked = live[random.Next(live.Count)];
                live.Remove(tracked);
                tracked.MustTo = Volatile.Read(ref finished);
                tracked.Subscription!.Dispose();
                tracked.StartedAfter = Volatile.Read(ref started);
            }

            Interlocked.Increment(ref changes);
            if (step % 8 == 0)
                await Task.Yield();
        }

        Volatile.Write(ref churnEnded, 1);
        await publisher.WaitAsync(token);
        Assert.False(token.IsCancellationRequested, "the burst did not end within the test's time limit");
        var total = Volatile.Read(ref published);
        await TestTimeout.Until(() => Volatile.Read(ref finished) == total, what: "every event handled");
        foreach (var tracked in live)
            tracked.MustTo = total;

        var checkedEvents = 0;
        foreach (var tracked in all)
        {
            var received = tracked.Received();
            Assert.True(received.Count == received.Distinct().Count(), $"{tracked} received an event twice (seed {Seed})");
            foreach (var seq in received)
            {
                Assert.True(tracked.Kind.Matches(seq), $"{tracked} received event {seq}, which it does not match (seed {Seed})");
                Assert.True(seq > tracked.FinishedBefore && seq <= tracked.StartedAfter, $"{tracked} received event {seq} outside its subscription (seed {Seed})");
            }

            var set = received.ToHashSet();
            for (var seq = tracked.MustFrom; seq <= tracked.MustTo; seq++)
            {
                if (!tracked.Kind.Matches(seq))
                    continue;
                Assert.True(set.Contains(seq), $"{tracked} missed event {seq}, dispatched wholly while it was subscribed (seed {Seed})");
                checkedEvents++;
            }
        }

        Assert.True(all.Count > 10, $"only {all.Count} subscriptions changed during the burst ({Volatile.Read(ref changes)} changes, {total} events)");
        Assert.True(checkedEvents > 0, "no event fell wholly inside a subscription");
    }

    private static readonly Kind[] Kinds =
    [
        Kind.Typed<OrderPlaced>(),
        Kind.Typed<IOrderEvent>(),
        Kind.Typed<object>(),
        Kind.Typed<PaymentCaptured>(),
        Kind.Pattern("orders.*"),
        Kind.Pattern("orders.**"),
        Kind.Pattern("*"),
        Kind.Pattern("*.placed"),
        Kind.Pattern("payments.captured"),
        Kind.Pattern("orders.eu.placed"),
    ];

    /// <summary>Event <c>i</c>'s type follows from <c>i</c>, so which subscriptions match it does too.</summary>
    private static object EventOf(long seq) => (seq % 4) switch
    {
        0 => new OrderPlaced((int)seq),
        1 => new OrderShipped((int)seq),
        2 => new EuOrderPlaced((int)seq),
        _ => new PaymentCaptured((int)seq, 1m),
    };

    private static long SeqOf(object e) => e switch
    {
        IOrderEvent order => order.OrderId,
        PaymentCaptured payment => payment.OrderId,
        _ => throw new InvalidOperationException($"unexpected event {e}"),
    };

    /// <summary>Half the sends name the exact type (the per-type route slot), half go through <c>object</c> (the route dictionary).</summary>
    private static Task Send(IEventBus bus, object e) => (SeqOf(e) % 8) switch
    {
        0 => bus.SendAsync((OrderPlaced)e).AsTask(),
        1 => bus.SendAsync((OrderShipped)e).AsTask(),
        2 => bus.SendAsync((EuOrderPlaced)e).AsTask(),
        3 => bus.SendAsync((PaymentCaptured)e).AsTask(),
        _ => bus.SendAsync(e).AsTask(),
    };

    private sealed class Kind
    {
        private Kind(string text, Func<object, bool> matches, Func<IEventBus, Action<object>, SubscriptionOptions, ISubscription> subscribe)
        {
            Text = text;
            MatchesEvent = matches;
            SubscribeCore = subscribe;
        }

        public string Text { get; }

        private Func<object, bool> MatchesEvent { get; }

        private Func<IEventBus, Action<object>, SubscriptionOptions, ISubscription> SubscribeCore { get; }

        public static Kind Typed<T>() =>
            new($"typed {typeof(T).Name}", static e => e is T, static (bus, record, options) => bus.Subscribe<T>(e => record(e!), options));

        public static Kind Pattern(string pattern)
        {
            var compiled = TopicPattern.Parse(pattern);
            return new($"pattern {pattern}", e => compiled.Matches(EventNaming.GetName(e.GetType())), (bus, record, options) => bus.Subscribe(pattern, (e, _) => record(e), options));
        }

        public bool Matches(long seq) => MatchesEvent(EventOf(seq));

        public ISubscription Subscribe(IEventBus bus, Tracked tracked) =>
            SubscribeCore(bus, e => tracked.Record(SeqOf(e)), new SubscriptionOptions { Priority = tracked.Priority });
    }

    private sealed class Tracked(Kind kind, int priority)
    {
        private readonly List<long> _received = [];

        public Kind Kind { get; } = kind;

        public int Priority { get; } = priority;

        public ISubscription? Subscription { get; set; }

        /// <summary>Events up to this one ended before the subscribe began: never received.</summary>
        public long FinishedBefore { get; set; }

        /// <summary>Events from this one on started after the subscribe returned.</summary>
        public long MustFrom { get; set; }

        /// <summary>Events up to this one ended before the dispose began.</summary>
        public long MustTo { get; set; }

        /// <summary>Events after this one started after the dispose returned: never received.</summary>
        public long StartedAfter { get; set; } = long.MaxValue;

        public void Record(long seq)
        {
            lock (_received)
                _received.Add(seq);
        }

        public List<long> Received()
        {
            lock (_received)
                return [.. _received];
        }

        public override string ToString() => $"{Kind.Text} (priority {Priority}, from {MustFrom} to {MustTo})";
    }
}
