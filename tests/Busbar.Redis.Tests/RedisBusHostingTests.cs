using Busbar.Hosting;
using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Redis.Tests;

/// <summary><c>services.AddBusbar().UseRedis(events)</c>: the shared hosting cases against a real redis-server.</summary>
public sealed class RedisBusHostingTests(RedisServerFixture fixture) : BusHostingTests, IClassFixture<RedisServerFixture>
{
    private readonly string _prefix = "h" + Guid.NewGuid().ToString("N")[..12] + ":";

    protected override string ConnectionName => "redis";

    protected override string ConnectionString => fixture.Server.Configuration;

    protected override string HealthCheckName => "busbar-redis";

    protected override BusbarBuilder UseTransport(BusbarBuilder builder, EventTypeRegistry events) =>
        builder.UseRedis(events, configure: o => o with { KeyPrefix = _prefix, ConsumerName = "host-1" });

    protected override BusbarBuilder UseTransport(BusbarBuilder builder, EventTypeRegistry events, string connectionName) =>
        builder.UseRedis(events, connectionName: connectionName);
}
