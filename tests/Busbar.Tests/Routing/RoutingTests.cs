using Busbar.Routing;

namespace Busbar.Tests.Routing;

public class RoutingTests
{
    [Theory]
    [InlineData("orders.*", "orders.placed", true)]
    [InlineData("orders.*", "orders", false)]
    [InlineData("orders.*", "orders.eu.placed", false)]
    [InlineData("orders.**", "orders.placed", true)]
    [InlineData("orders.**", "orders.eu.placed", true)]
    [InlineData("orders.**", "orders", false)]
    [InlineData("*", "anything", true)]
    [InlineData("*", "a.b.c", true)]
    [InlineData("**", "a.b.c", true)]
    [InlineData("*.placed", "orders.placed", true)]
    [InlineData("*.placed", "orders.eu.placed", false)]
    [InlineData("orders.*.placed", "orders.eu.placed", true)]
    [InlineData("orders.*.placed", "orders.placed", false)]
    [InlineData("orders.placed", "orders.placed", true)]
    [InlineData("orders.placed", "orders.placedx", false)]
    [InlineData("orders.placed", "orders.placed.x", false)]
    [InlineData("orders", "orders.placed", false)]
    public void Matches_PatternTable_MatchesExpected(string pattern, string name, bool expected)
    {
        Assert.Equal(expected, TopicPattern.Parse(pattern).Matches(name));
        var index = new PatternIndex([new FakeSubscription(pattern)]);
        var found = new List<Busbar.Routing.Subscription>();
        index.Collect(name, found);
        Assert.Equal(expected, found.Count == 1);
    }

    [Theory]
    [InlineData("")]
    [InlineData("orders..placed")]
    [InlineData(".orders")]
    [InlineData("orders.")]
    [InlineData("orders.**.placed")]
    [InlineData("ord*rs")]
    [InlineData("orders.pl@ced")]
    public void Subscribe_InvalidPattern_ThrowsNamingPattern(string pattern)
    {
        var bus = EventBus.Create();
        var ex = Assert.Throws<ArgumentException>(() => bus.Subscribe(pattern, (_, _) => { }));
        Assert.Contains($"'{pattern}'", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("orders.placed", true)]
    [InlineData("a", true)]
    [InlineData("a-b_c.D9", true)]
    [InlineData("", false)]
    [InlineData("a..b", false)]
    [InlineData("a.b.", false)]
    [InlineData("a b", false)]
    [InlineData("a*", false)]
    public void Validate_EventNames_FollowCharsetRules(string name, bool valid)
    {
        Assert.Equal(valid, EventNaming.Validate(name) is null);
    }

    [Fact]
    public void Validate_TooLongName_IsInvalid()
    {
        Assert.NotNull(EventNaming.Validate(new string('a', 257)));
        Assert.Null(EventNaming.Validate(new string('a', 256)));
    }

    [Fact]
    public void GetName_AttributeOrConvention()
    {
        Assert.Equal("orders.placed", EventNaming.GetName(typeof(OrderPlaced)));
        Assert.Equal("Unnamed", EventNaming.GetName(typeof(Unnamed)));
    }

    [EventName("bad..name")]
    private sealed record BadName;

    [Fact]
    public async Task PublishAsync_InvalidAttributeName_ThrowsClearError()
    {
        await using var bus = EventBus.Create();
        var ex = await Assert.ThrowsAsync<ArgumentException>(async () => await bus.PublishAsync(new BadName()));
        Assert.Contains("bad..name", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Subscribe_Polymorphic_ReceivesAssignableTypesOnly()
    {
        await using var bus = EventBus.Create();
        var orders = new List<int>();
        var animals = new List<string>();
        var objects = 0;
        bus.Subscribe<IOrderEvent>(e => orders.Add(e.OrderId));
        bus.Subscribe<Animal>(a => animals.Add(a.Name));
        bus.Subscribe<object>(_ => objects++);
        await bus.SendAsync(new OrderPlaced(1));
        await bus.SendAsync(new OrderShipped(2));
        await bus.SendAsync(new Cat("tom"));
        await bus.SendAsync(new Dog("rex"));
        await bus.SendAsync(new PaymentCaptured(3, 1m));
        Assert.Equal([1, 2], orders);
        Assert.Equal(["tom", "rex"], animals);
        Assert.Equal(5, objects);
    }

    [Fact]
    public async Task Subscribe_Patterns_MatchByName()
    {
        await using var bus = EventBus.Create();
        var single = new List<string>();
        var multi = new List<string>();
        var all = new List<string>();
        bus.Subscribe("orders.*", (_, c) => single.Add(c.Name));
        bus.Subscribe("orders.**", (_, c) => multi.Add(c.Name));
        bus.Subscribe("*", (_, c) => all.Add(c.Name));
        await bus.SendAsync(new OrderPlaced(1));
        await bus.SendAsync(new EuOrderPlaced(2));
        await bus.SendAsync(new PaymentCaptured(3, 1m));
        Assert.Equal(["orders.placed"], single);
        Assert.Equal(["orders.placed", "orders.eu.placed"], multi);
        Assert.Equal(["orders.placed", "orders.eu.placed", "payments.captured"], all);
    }

    [Fact]
    public async Task Resolve_CacheInvalidatedOnSubscribeAndUnsubscribe()
    {
        await using var bus = EventBus.Create();
        var count = 0;
        await bus.SendAsync(new Ping(1));
        var sub = bus.Subscribe<Ping>(_ => count++);
        await bus.SendAsync(new Ping(1));
        sub.Dispose();
        Assert.False(sub.IsActive);
        await bus.SendAsync(new Ping(1));
        Assert.Equal(1, count);
    }

    [Fact]
    public void Resolve_ManyNonMatchingPatterns_RouteHoldsOnlyMatches()
    {
        var bus = (Busbar.Dispatch.InProcessEventBus)EventBus.Create();
        for (var i = 0; i < 10_000; i++)
            bus.Subscribe($"other{i}.*", (_, _) => { });
        bus.Subscribe<Ping>(_ => { });
        var route = bus.Router.Resolve(typeof(Ping), "test.ping");
        Assert.Single(route.Subscriptions);
        Assert.Same(route, bus.Router.Resolve(typeof(Ping), "test.ping"));
    }

    [Fact]
    public void PatternIndex_RandomAddAndRemove_CollectsWhatTheRemainingPatternsMatch()
    {
        const int seed = 16_002;
        var random = new Random(seed);
        string[] segments = ["a", "b", "c", "*"];
        string[] names = ["a", "b", "a.b", "a.c", "b.a", "a.b.c", "c.c.c", "a.a.a.a", "b.c.a.b"];
        var index = new PatternIndex();
        var live = new List<FakeSubscription>();
        for (var step = 0; step < 2_000; step++)
        {
            if (live.Count > 0 && random.Next(3) == 0)
            {
                var removed = live[random.Next(live.Count)];
                live.Remove(removed);
                index.Remove(removed);
            }
            else
            {
                var parts = Enumerable.Range(0, random.Next(1, 4)).Select(_ => segments[random.Next(segments.Length)]).ToList();
                if (random.Next(4) == 0)
                    parts.Add("**");
                var entry = new FakeSubscription(string.Join('.', parts));
                live.Add(entry);
                index.Add(entry);
            }

            foreach (var name in names)
            {
                var found = new List<Busbar.Routing.Subscription>();
                index.Collect(name, found);
                var expected = live.Where(e => e.TopicPattern!.Matches(name)).ToHashSet();
                Assert.True(expected.SetEquals(found.OfType<FakeSubscription>()) && found.Count == expected.Count, $"step {step}, name {name}: found [{string.Join(", ", found)}], expected [{string.Join(", ", expected)}] (seed {seed})");
            }
        }
    }

    [Fact]
    public void PatternIndex_RemoveEveryPattern_LeavesNothingToMatch()
    {
        string[] patterns = ["a.*", "a.b", "a.**", "*", "*.b.*", "**"];
        var entries = patterns.Select(p => new FakeSubscription(p)).ToList();
        var index = new PatternIndex(entries);
        foreach (var entry in entries)
            index.Remove(entry);
        index.Remove(entries[0]);
        var found = new List<Busbar.Routing.Subscription>();
        index.Collect("a.b.c", found);
        index.Collect("a.b", found);
        Assert.Empty(found);
    }

    [Fact]
    public void Subscribe_With10000PatternsPresent_AllocatesAsMuchAsWithTen()
    {
        // Subscribing must not copy or rebuild anything the size of the subscription list: with 10,000
        // patterns each subscribe and unsubscribe pair allocates what it does with 10.
        var few = BytesPerSubscribeAndDispose(patterns: 10);
        var many = BytesPerSubscribeAndDispose(patterns: 10_000);
        Assert.True(many <= few + 256, $"{many} B per subscribe and dispose with 10,000 patterns present, {few} B with 10");
    }

    [Fact]
    public void Subscribe_NeverInvoked_AllocatesNoLatencyBuffer()
    {
        // The 1,024-sample latency buffer (8 KB) is allocated when the subscription first records a duration.
        var bytes = BytesPerSubscribeAndDispose(patterns: 10);
        Assert.True(bytes < 2_048, $"{bytes} B per subscribe and dispose");
    }

    private static long BytesPerSubscribeAndDispose(int patterns)
    {
        var bus = (Busbar.Dispatch.InProcessEventBus)EventBus.Create();
        for (var i = 0; i < patterns; i++)
            bus.Subscribe($"other{i}.*", (_, _) => { });
        bus.Subscribe<Ping>(_ => { });
        var options = new SubscriptionOptions { Name = "added" };
        Func<object, EventContext, CancellationToken, ValueTask> handler = static (_, _, _) => ValueTask.CompletedTask;

        // Warm up once: the first add may grow a table, after which the count only moves between N and N + 1.
        bus.Subscribe("added.*", handler, options).Dispose();
        bus.Router.Resolve(typeof(Ping), "test.ping");
        const int rounds = 100;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < rounds; i++)
            bus.Subscribe("added.*", handler, options).Dispose();
        return (GC.GetAllocatedBytesForCurrentThread() - before) / rounds;
    }

    private sealed class FakeSubscription(string pattern) : Busbar.Routing.Subscription(
        new Router(), null, pattern, null, TopicPattern.Parse(pattern), new SubscriptionOptions())
    {
        public override string ToString() => Pattern!;

        public override ValueTask<object?> InvokeAsync(object @event, EventContext context, CancellationToken cancellationToken) => default;
    }
}
