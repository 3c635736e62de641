using Busbar.Transport;
using Busbar.Transport.Contract;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Busbar.Redis.Tests;

/// <summary><c>services.AddBusbar().UseRedis(events)</c>: the connection string comes from configuration, the bus owns the transport.</summary>
public sealed class RedisBusHostingTests(RedisServerFixture fixture) : IClassFixture<RedisServerFixture>
{
    private static EventTypeRegistry Events() => new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);

    [Fact]
    public async Task AddBusbar_UseRedisWithTheConnectionStringFromConfiguration_HandlerClassReceivesTheEventThroughRedis()
    {
        var prefix = "h" + Guid.NewGuid().ToString("N")[..12] + ":";
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:redis"] = fixture.Server.Configuration });
        builder.Services.AddSingleton<Received>();
        builder.Services.AddBusbar(b => b
            .Configure(o => o with { Name = "orders-service" })
            .UseRedis(Events(), configure: o => o with { KeyPrefix = prefix, ConsumerName = "host-1" })
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
        Assert.Equal(HealthStatus.Healthy, health.Entries["busbar-redis"].Status);
        Assert.Equal(new OrderPlaced(1, "c1"), received);
    }

    [Fact]
    public async Task AddBusbar_UseRedisWithoutAConnectionString_StartFailsNamingTheKey()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddBusbar(b => b.UseRedis(Events(), connectionName: "events"));
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
