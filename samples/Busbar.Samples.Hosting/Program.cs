// Busbar in a generic host with OpenTelemetry console exporters: traces (publish and process
// spans, one trace across the queue), metrics (Meter "Busbar") and logs with event scopes.
// Run: dotnet run --project samples/Busbar.Samples.Hosting
using Busbar;
using Busbar.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

var builder = Host.CreateApplicationBuilder(args);

// Options come from configuration section "Busbar" (appsettings.json, environment variables
// such as Busbar__Capacity=500, ...) and are validated when the host starts.
builder.Services.AddBusbar(bus => bus
    .Configure(o => o with { Name = "orders", MaxConcurrentEvents = 4 })
    .AddHandler<OrderPlaced, ReserveStock>(new SubscriptionOptions { Retry = RetryPolicy.Constant(3, TimeSpan.FromMilliseconds(50)) })
    .AddHandler<OrderPlaced, SendConfirmation>()
    .AddHealthCheck());
builder.Services.AddScoped<StockReservations>();
builder.Services.AddHostedService<Checkout>();

builder.Logging.AddOpenTelemetry(o =>
{
    o.IncludeScopes = true;
    o.AddConsoleExporter();
});
builder.Services.AddOpenTelemetry()
    .WithTracing(t => t.AddSource("Busbar").AddSource(Checkout.SourceName).AddConsoleExporter())
    .WithMetrics(m => m.AddMeter("Busbar").AddConsoleExporter());

await builder.Build().RunAsync();

[EventName("orders.placed")]
internal sealed record OrderPlaced(int OrderId, decimal Total);

/// <summary>A scoped dependency: one per handler invocation.</summary>
internal sealed class StockReservations
{
    public Guid Scope { get; } = Guid.NewGuid();
}

internal sealed class ReserveStock(StockReservations reservations, ILogger<ReserveStock> logger) : IEventHandler<OrderPlaced>
{
    public async ValueTask HandleAsync(OrderPlaced @event, EventContext context, CancellationToken cancellationToken)
    {
        await Task.Yield();
        // Runs inside the bus's logging scope (EventId, EventName, CorrelationId), and
        // Activity.Current is the "orders.placed process" span, child of the publisher's span.
        logger.LogInformation("Reserved stock for order {OrderId} in scope {Scope}", @event.OrderId, reservations.Scope);
    }
}

internal sealed class SendConfirmation(ILogger<SendConfirmation> logger) : IEventHandler<OrderPlaced>
{
    public ValueTask HandleAsync(OrderPlaced @event, EventContext context, CancellationToken cancellationToken)
    {
        logger.LogInformation("Confirmation sent for order {OrderId}", @event.OrderId);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Publishes a few orders inside a request-like span, waits for them, then stops the host.</summary>
internal sealed class Checkout(IEventBus bus, IHostApplicationLifetime lifetime) : BackgroundService
{
    public const string SourceName = "Sample.Checkout";
    private static readonly System.Diagnostics.ActivitySource s_source = new(SourceName);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        for (var i = 1; i <= 3; i++)
        {
            using var request = s_source.StartActivity("checkout");
            var handle = await bus.PublishAsync(new OrderPlaced(i, 10m * i), cancellationToken: stoppingToken);
            var outcome = await handle;
            Console.WriteLine($"order {i}: {outcome.Status}");
        }

        var stats = bus.GetStatistics();
        Console.WriteLine($"published {stats.Published}, processed {stats.Processed}, queue depth {stats.QueueDepth}");
        lifetime.StopApplication();
    }
}
