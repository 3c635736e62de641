namespace Busbar.Cli.Demo;

/// <summary>The demo's main event: a customer placed an order.</summary>
/// <param name="Number">A running order number; the demo derives the poison, flaky and slow cases from it.</param>
/// <param name="Customer">The customer, also the ordering key, so one customer's orders are handled in order.</param>
/// <param name="Sku">The product; <see cref="OrderPipeline.PoisonSku"/> marks an order no projection can handle.</param>
/// <param name="Amount">The order total.</param>
[EventName("orders.placed")]
public sealed record OrderPlaced(long Number, string Customer, string Sku, decimal Amount);
