// Busbar under Native AOT: typed and pattern subscriptions, queued and inline dispatch, retries, a dead letter
// and a graceful stop, in a binary compiled ahead of time.
// Build and run: dotnet publish samples/Busbar.Samples.Aot -c Release -o out/aot && out/aot/Busbar.Samples.Aot
using Busbar;

await using var bus = EventBus.Create(new EventBusOptions { Capacity = 64 });

var shipped = 0;
bus.Subscribe<OrderPlaced>(order => Console.WriteLine($"placed {order.OrderId} {order.Total}"));
bus.Subscribe("orders.*", (e, ctx) => Interlocked.Increment(ref shipped));
bus.Subscribe<OrderPlaced, decimal>(order => order.Total * 0.2m);
bus.Subscribe<OrderShipped>(
    (_, _, _) => throw new InvalidOperationException("carrier unavailable"),
    new SubscriptionOptions { Name = "carrier", Retry = new RetryPolicy { MaxAttempts = 2, Delay = TimeSpan.Zero } });

EventOutcome placed = await bus.PublishAndWaitAsync(new OrderPlaced(7, 50m));
Console.WriteLine($"queued: {placed.Status}, tax {placed.FirstResult<decimal>()}");

EventOutcome inline = await bus.InvokeAsync(new OrderPlaced(8, 10m));
Console.WriteLine($"inline: {inline.Status}, tax {inline.FirstResult<decimal>()}");

EventOutcome failed = await bus.PublishAndWaitAsync(new OrderShipped(7));
Console.WriteLine($"shipped: {failed.Status}, dead letters {bus.DeadLetters.Count}");

StopReport report = await bus.StopAsync(TimeSpan.FromSeconds(5));
Console.WriteLine($"pattern handler saw {Volatile.Read(ref shipped)} events; stopped, drained {report.Drained}");

[EventName("orders.placed")]
internal sealed record OrderPlaced(int OrderId, decimal Total);

[EventName("orders.shipped")]
internal sealed record OrderShipped(int OrderId);
