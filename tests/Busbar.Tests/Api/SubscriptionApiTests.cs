namespace Busbar.Tests.Api;

public class SubscriptionApiTests
{
    private static void OnPing(Ping ping)
    {
    }

    private sealed class PingHandler : IEventHandler<Ping>
    {
        public ValueTask HandleAsync(Ping @event, EventContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    private sealed class PingAndOrderHandler : IEventHandler<Ping>, IEventHandler<OrderPlaced>
    {
        public ValueTask HandleAsync(Ping @event, EventContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask HandleAsync(OrderPlaced @event, EventContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    // ------------------------------------------------------------ typed filters

    [Fact]
    public async Task Subscribe_TypedFilter_OnlyAcceptedEventsReachTheHandlerOthersAreSkipped()
    {
        await using var bus = EventBus.Create();
        var seen = new List<int>();
        bus.Subscribe<Ping>(p => seen.Add(p.Value), (p, _) => p.Value > 1, new SubscriptionOptions { Name = "big" });

        var small = await bus.InvokeAsync(new Ping(1));
        var big = await bus.InvokeAsync(new Ping(2));

        Assert.Equal(HandlerStatus.Skipped, Assert.Single(small.Handlers).Status);
        Assert.Equal(HandlerStatus.Succeeded, Assert.Single(big.Handlers).Status);
        Assert.Equal([2], seen);
    }

    [Fact]
    public async Task Subscribe_TypedFilterOnPolymorphicSubscription_ReceivesTheEventAsT()
    {
        await using var bus = EventBus.Create();
        var seen = new List<int>();
        bus.Subscribe<IOrderEvent>((o, _) => seen.Add(o.OrderId), (o, context) => o.OrderId % 2 == 0 && context.Name.StartsWith("orders.", StringComparison.Ordinal));

        await bus.SendAsync(new OrderPlaced(1));
        await bus.SendAsync(new OrderShipped(2));

        Assert.Equal([2], seen);
    }

    [Fact]
    public async Task Subscribe_TypedFilterAndOptionsFilter_ThrowsArgumentException()
    {
        await using var bus = EventBus.Create();

        var ex = Assert.Throws<ArgumentException>(() =>
            bus.Subscribe<Ping>(_ => { }, (_, _) => true, new SubscriptionOptions { Filter = (_, _) => true }));
        Assert.Contains("filter", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    // ------------------------------------------------------------ SendAsync options

    [Fact]
    public async Task SendAsync_WithOptions_HandlerSeesTheIdsHeadersAndDeadline()
    {
        await using var bus = EventBus.Create();
        EventContext? seen = null;
        bus.Subscribe<Ping>((_, context) => seen = context);
        var eventId = Guid.NewGuid();
        var correlationId = Guid.NewGuid();

        await bus.SendAsync(new Ping(1), new PublishOptions
        {
            EventId = eventId,
            CorrelationId = correlationId,
            Headers = new Dictionary<string, string> { ["tenant"] = "a" },
            DeadlineAfter = TimeSpan.FromMinutes(1),
        });

        Assert.NotNull(seen);
        Assert.Equal(eventId, seen.EventId);
        Assert.Equal(correlationId, seen.CorrelationId);
        Assert.Equal("a", seen.Headers["tenant"]);
        Assert.NotNull(seen.Deadline);
    }

    [Fact]
    public async Task SendAsync_WithOptionsAndFailingHandler_ThrowsTheHandlersException()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping>(_ => throw new InvalidOperationException("boom"));

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await bus.SendAsync(new Ping(1), new PublishOptions { CorrelationId = Guid.NewGuid() }));
        Assert.Equal("boom", ex.Message);
    }

    [Fact]
    public async Task SendAsync_WithInvalidOptions_ThrowsNamingTheOption()
    {
        await using var bus = EventBus.Create();
        bus.Subscribe<Ping>(_ => { });

        var ex = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await bus.SendAsync(new Ping(1), new PublishOptions { DeadlineAfter = TimeSpan.Zero }));
        Assert.Contains("PublishOptions.DeadlineAfter", ex.Message, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------ names

    [Fact]
    public async Task Subscribe_MethodGroupWithoutName_IsNamedAfterDeclaringTypeAndMethod()
    {
        await using var bus = EventBus.Create();

        var subscription = bus.Subscribe<Ping>(OnPing);

        Assert.Equal("Busbar.Tests.Api.SubscriptionApiTests.OnPing", subscription.Name);
        Assert.Equal(subscription.Name, Assert.Single((await bus.InvokeAsync(new Ping(1))).Handlers).SubscriptionName);
    }

    [Fact]
    public async Task Subscribe_LambdasWithoutName_AreNamedAfterTheirMethodWithADeterministicSuffixOnEveryBus()
    {
        await using var first = EventBus.Create();
        await using var second = EventBus.Create();
        string[] NamesOn(IEventBus bus) =>
        [
            bus.Subscribe<Ping>(_ => { }).Name,
            bus.Subscribe<Ping>(_ => { }).Name,
            bus.Subscribe("test.*", (_, _) => { }).Name,
        ];

        var names = NamesOn(first);

        const string Method = "Busbar.Tests.Api.SubscriptionApiTests.Subscribe_LambdasWithoutName_AreNamedAfterTheirMethodWithADeterministicSuffixOnEveryBus";
        Assert.Equal([Method, Method + "#2", Method + "#3"], names);
        Assert.Equal(names, NamesOn(second));
    }

    [Fact]
    public async Task Subscribe_HandlerInstanceWithoutName_IsNamedAfterTheHandlerClass()
    {
        await using var bus = EventBus.Create();

        var subscription = bus.Subscribe(new PingHandler());

        Assert.Equal("Busbar.Tests.Api.SubscriptionApiTests.PingHandler", subscription.Name);
    }

    [Fact]
    public async Task Subscribe_HandlerInstanceOfSeveralEventTypes_IsNamedPerEventTypeOnEveryBus()
    {
        await using var first = EventBus.Create();
        await using var second = EventBus.Create();
        string[] NamesOn(IEventBus bus)
        {
            var handler = new PingAndOrderHandler();
            return [bus.Subscribe<OrderPlaced>(handler).Name, bus.Subscribe<Ping>(handler).Name];
        }

        var names = NamesOn(first);

        const string Class = "Busbar.Tests.Api.SubscriptionApiTests.PingAndOrderHandler";
        Assert.Equal([Class + "<OrderPlaced>", Class + "<Ping>"], names);
        Assert.Equal(names, NamesOn(second));
    }

    [Fact]
    public async Task Subscribe_DefaultNameFreedByDispose_IsReused()
    {
        await using var bus = EventBus.Create();
        var first = bus.Subscribe<Ping>(OnPing);
        var second = bus.Subscribe<Ping>(OnPing);
        Assert.EndsWith("#2", second.Name, StringComparison.Ordinal);

        first.Dispose();
        var third = bus.Subscribe<Ping>(OnPing);

        Assert.Equal(first.Name, third.Name);
    }

    [Fact]
    public async Task Subscribe_SameExplicitNameTwice_ThrowsArgumentExceptionNamingIt()
    {
        await using var bus = EventBus.Create(new EventBusOptions { Name = "shop" });
        var first = bus.Subscribe<Ping>(_ => { }, new SubscriptionOptions { Name = "billing" });

        var ex = Assert.Throws<ArgumentException>(() => bus.Subscribe<OrderPlaced>(_ => { }, new SubscriptionOptions { Name = "billing" }));
        Assert.Contains("'billing'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'shop'", ex.Message, StringComparison.Ordinal);

        first.Dispose();
        Assert.Equal("billing", bus.Subscribe<OrderPlaced>(_ => { }, new SubscriptionOptions { Name = "billing" }).Name);
    }

    [Fact]
    public async Task Subscribe_ManySubscribeDisposeCycles_KeepsWorkingWithSmallNames()
    {
        await using var bus = EventBus.Create();
        for (var i = 0; i < 1_000; i++)
        {
            using var subscription = bus.Subscribe<Ping>(_ => { }, new SubscriptionOptions { Name = $"temp-{i}" });
            using var unnamed = bus.Subscribe<Ping>(OnPing);
            Assert.Equal("Busbar.Tests.Api.SubscriptionApiTests.OnPing", unnamed.Name);
        }
    }
}
