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

    private sealed class FakeSubscription(string pattern) : Busbar.Routing.Subscription(
        new Router(), null, pattern, null, TopicPattern.Parse(pattern), new SubscriptionOptions())
    {
        public override ValueTask<object?> InvokeAsync(object @event, EventContext context, CancellationToken cancellationToken) => default;
    }
}
