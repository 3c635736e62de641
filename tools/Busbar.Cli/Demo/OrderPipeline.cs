namespace Busbar.Cli.Demo;

/// <summary>
/// The demo's handlers: an order pipeline in three priority tiers, with one slow handler, one flaky
/// handler that succeeds on its third attempt, a projection that cannot handle poison orders, and a
/// billing handler that publishes a child event per order.
/// </summary>
internal sealed class OrderPipeline
{
    public const string PoisonSku = "POISON-1";

    /// <summary>Tier 1 runs first: an order that fails validation should never reach a projection.</summary>
    public const int ValidationTier = 100;

    /// <summary>Tier 2: read models, independent of each other, so they run in parallel.</summary>
    public const int ProjectionTier = 50;

    /// <summary>Tier 3: notifications go out only after the projections have run.</summary>
    public const int NotificationTier = 0;

    /// <summary>The slow handler takes this long on every <see cref="SlowEvery"/>th order; over the bus's slow-handler threshold.</summary>
    public static readonly TimeSpan SlowWork = TimeSpan.FromMilliseconds(250);

    public static readonly TimeSpan SlowThreshold = TimeSpan.FromMilliseconds(200);

    private const int SlowEvery = 40;
    private const int FlakyEvery = 20;
    private const int PoisonEvery = 250;

    private static readonly RetryPolicy s_retry = RetryPolicy.Constant(3, TimeSpan.FromMilliseconds(20));

    private readonly OutcomeLedger? _ledger;
    private readonly Func<InvoiceIssued, EventContext, CancellationToken, ValueTask>? _publishInvoice;
    private IEventBus? _bus;
    private long _correlatedChildren;
    private long _uncorrelatedChildren;
    private long _childrenNotPublished;

    /// <summary>The embedded demo's pipeline: billing publishes each invoice on the same bus and tracks it in <paramref name="ledger"/>.</summary>
    public OrderPipeline(OutcomeLedger ledger) => _ledger = ledger;

    /// <summary>
    /// A distributed demo worker's pipeline: billing hands each invoice to <paramref name="publishInvoice"/>, which
    /// publishes it through the broker (so any worker may handle it), instead of onto the worker's own bus.
    /// </summary>
    public OrderPipeline(Func<InvoiceIssued, EventContext, CancellationToken, ValueTask> publishInvoice) => _publishInvoice = publishInvoice;

    /// <summary>Invoices whose causation and correlation ids pointed back at their order, as the bus promises.</summary>
    public long CorrelatedChildren => Interlocked.Read(ref _correlatedChildren);

    public long UncorrelatedChildren => Interlocked.Read(ref _uncorrelatedChildren);

    /// <summary>Invoices billing could not publish because the bus was already stopping.</summary>
    public long ChildrenNotPublished => Interlocked.Read(ref _childrenNotPublished);

    /// <summary>The handlers in tier order, for the live view (names match <see cref="BusStatistics.Handlers"/>).</summary>
    public static IReadOnlyList<(string Name, string Role)> Handlers { get; } =
    [
        ("validate", "validation"),
        ("fraud-check", "validation"),
        ("orders-view", "projection"),
        ("inventory", "projection, poison"),
        ("analytics", "projection, slow"),
        ("billing", "projection, child event"),
        ("email", "notification, flaky"),
        ("audit-log", "invoices.* pattern"),
    ];

    public static OrderPlaced CreateOrder(long number)
    {
        var sku = number % PoisonEvery == 37 ? PoisonSku : "SKU-" + (number % 17).ToString("D2", System.Globalization.CultureInfo.InvariantCulture);
        var customer = "customer-" + (number % 50).ToString("D2", System.Globalization.CultureInfo.InvariantCulture);
        return new OrderPlaced(number, customer, sku, 10m + (number % 97));
    }

    public void SubscribeTo(IEventBus bus)
    {
        _bus = bus;
        bus.Subscribe<OrderPlaced>(
            static (order, _, _) => order.Amount > 0 ? ValueTask.CompletedTask : throw new ArgumentException($"Order {order.Number} has no amount."),
            new SubscriptionOptions { Name = "validate", Priority = ValidationTier });
        bus.Subscribe<OrderPlaced>(
            static (_, _, _) => ValueTask.CompletedTask,
            new SubscriptionOptions { Name = "fraud-check", Priority = ValidationTier });

        bus.Subscribe<OrderPlaced>(
            static async (_, _, ct) => await Task.Delay(1, ct),
            new SubscriptionOptions { Name = "orders-view", Priority = ProjectionTier });
        bus.Subscribe<OrderPlaced>(
            static async (order, _, ct) =>
            {
                await Task.Delay(1, ct);
                if (order.Sku == PoisonSku)
                    throw new InvalidOperationException($"SKU {order.Sku} of order {order.Number} is not in the catalogue.");
            },
            new SubscriptionOptions { Name = "inventory", Priority = ProjectionTier, Retry = s_retry });
        bus.Subscribe<OrderPlaced>(
            static async (order, _, ct) => await Task.Delay(order.Number % SlowEvery == 5 ? SlowWork : TimeSpan.FromMilliseconds(1), ct),
            new SubscriptionOptions { Name = "analytics", Priority = ProjectionTier });
        bus.Subscribe<OrderPlaced>(BillAsync, new SubscriptionOptions { Name = "billing", Priority = ProjectionTier });

        bus.Subscribe<OrderPlaced>(
            static async (order, context, ct) =>
            {
                await Task.Delay(1, ct);
                if (order.Number % FlakyEvery == 7 && context.Attempt < 3)
                    throw new TimeoutException($"Mail server did not answer for order {order.Number} (attempt {context.Attempt}).");
            },
            new SubscriptionOptions { Name = "email", Priority = NotificationTier, Retry = s_retry });

        bus.Subscribe("invoices.*", Audit, new SubscriptionOptions { Name = "audit-log" });
    }

    private async ValueTask BillAsync(OrderPlaced order, EventContext context, CancellationToken cancellationToken)
    {
        var invoice = new InvoiceIssued(order.Number, context.EventId, order.Amount);
        if (_publishInvoice is not null)
        {
            await _publishInvoice(invoice, context, cancellationToken);
            return;
        }

        try
        {
            // Published from inside the handler: the bus sets the invoice's correlation and causation ids.
            var handle = await _bus!.PublishAsync(invoice, cancellationToken: cancellationToken);
            _ledger!.Track(handle, isOrder: false);
        }
        catch (BusStoppedException)
        {
            // The graceful shutdown stops intake before it drains; the order itself is still handled.
            Interlocked.Increment(ref _childrenNotPublished);
        }
        catch (BusFullException)
        {
            // Handlers never wait for room (that could deadlock the bus); past twice the capacity the child is rejected.
            _ledger!.Refused(isOrder: false);
        }
    }

    private void Audit(object @event, EventContext context)
    {
        if (@event is InvoiceIssued invoice && context.CausationId == invoice.OrderEventId && context.CorrelationId == invoice.OrderEventId)
            Interlocked.Increment(ref _correlatedChildren);
        else
            Interlocked.Increment(ref _uncorrelatedChildren);
    }
}
