using Busbar.Hosting;
using Busbar.Transport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Busbar.Transport.Contract;

/// <summary>
/// <c>services.AddBusbar().UseX(events)</c> for a transport: the connection string comes from configuration, the bus owns
/// the transport, the host starts it and its health check reports it. Subclassed by each transport's test project.
/// </summary>
public abstract class BusHostingTests
{
    /// <summary>The configuration key under <c>ConnectionStrings</c> the default registration reads (e.g. "redis").</summary>
    protected abstract string ConnectionName { get; }

    /// <summary>The connection string of the test server.</summary>
    protected abstract string ConnectionString { get; }

    /// <summary>The health check the registration adds (e.g. "busbar-redis").</summary>
    protected abstract string HealthCheckName { get; }

    /// <summary>Adds the transport with its defaults plus test isolation (a unique namespace).</summary>
    protected abstract BusbarBuilder UseTransport(BusbarBuilder builder, EventTypeRegistry events);

    /// <summary>Adds the transport reading the connection string named <paramref name="connectionName"/>.</summary>
    protected abstract BusbarBuilder UseTransport(BusbarBuilder builder, EventTypeRegistry events, string connectionName);

    protected static EventTypeRegistry Events() => new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);

    [Fact]
    public async Task AddBusbar_UseTransportWithTheConnectionStringFromConfiguration_HandlerClassReceivesTheEventThroughTheBroker()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [$"ConnectionStrings:{ConnectionName}"] = ConnectionString });
        builder.Services.AddSingleton<Received>();
        builder.Services.AddBusbar(b => UseTransport(b.Configure(o => o with { Name = "orders-service" }), Events())
            .AddHandler<OrderPlaced, PlacedHandler>());
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var bus = host.Services.GetRequiredService<IEventBus>();

        var handle = await bus.PublishAsync(new OrderPlaced(1, "c1"));
        var outcome = await handle.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        var received = await host.Services.GetRequiredService<Received>().Events.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        await host.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(EventStatus.Completed, outcome.Status);
        Assert.Equal(HealthStatus.Healthy, health.Entries[HealthCheckName].Status);
        Assert.Equal(new OrderPlaced(1, "c1"), received);
    }

    [Fact]
    public async Task AddBusbar_UseTransportWithoutAConnectionString_StartFailsNamingTheKey()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddBusbar(b => UseTransport(b, Events(), "events"));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync().WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("ConnectionStrings:events", error.Message, StringComparison.Ordinal);
    }

    public sealed class Received
    {
        public TaskCompletionSource<OrderPlaced> Events { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public sealed class PlacedHandler(Received received) : IEventHandler<OrderPlaced>
    {
        public ValueTask HandleAsync(OrderPlaced @event, EventContext context, CancellationToken cancellationToken)
        {
            received.Events.TrySetResult(@event);
            return ValueTask.CompletedTask;
        }
    }
}
