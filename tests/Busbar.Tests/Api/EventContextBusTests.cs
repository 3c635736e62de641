namespace Busbar.Tests.Api;

public class EventContextBusTests
{
    [Fact]
    public async Task Bus_InsideQueuedAndInlineHandlers_IsTheBusHandlingTheEvent()
    {
        await using var bus = EventBus.Create();
        var seen = new List<IEventBus?>();
        bus.Subscribe<Ping>((_, context) => seen.Add(context.Bus));

        await bus.PublishAndWaitAsync(new Ping(1)).Within();
        await bus.SendAsync(new Ping(2));
        await bus.InvokeAsync(new Ping(3));

        Assert.Equal(3, seen.Count);
        Assert.All(seen, b => Assert.Same(bus, b));
    }

    [Fact]
    public async Task Bus_ForwardedEvent_IsTheReceivingBusSoItsHandlerCanPublishThere()
    {
        await using var orders = EventBus.Create(new EventBusOptions { Name = "orders" });
        await using var audit = EventBus.Create(new EventBusOptions { Name = "audit" });
        orders.ForwardTo(audit, "orders.*");
        audit.Subscribe<OrderPlaced>(async (order, context, _) => await context.Bus!.PublishAsync(new OrderShipped(order.OrderId)));
        var shipped = audit.WaitForAsync<OrderShipped>(TimeSpan.FromSeconds(20)).AsTask();

        await orders.PublishAsync(new OrderPlaced(7));

        var match = await shipped.Within();
        Assert.Equal(7, match!.Value.Event.OrderId);
        Assert.Same(audit, match.Value.Context.Bus);
        Assert.Empty(orders.History<OrderShipped>());
    }
}
