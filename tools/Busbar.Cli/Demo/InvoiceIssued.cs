namespace Busbar.Cli.Demo;

/// <summary>A child event: billing issued an invoice for an order, from inside the order's handler.</summary>
/// <param name="OrderNumber">The order.</param>
/// <param name="OrderEventId">The order event's id, which the bus should have set as this event's causation id.</param>
/// <param name="Amount">The invoiced amount.</param>
[EventName("invoices.issued")]
public sealed record InvoiceIssued(long OrderNumber, Guid OrderEventId, decimal Amount);
