using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Redis.Tests;

/// <summary>The bus-over-transport suite against a real redis-server; each test has its own key prefix.</summary>
public sealed class RedisBusOverTransportTests(RedisServerFixture fixture) : BusOverTransportTests, IClassFixture<RedisServerFixture>
{
    private readonly string _prefix = "b" + Guid.NewGuid().ToString("N")[..12] + ":";

    protected override TimeSpan Lease => TimeSpan.FromSeconds(2);

    protected override int MaxDeliveries => 3;

    protected override async ValueTask<IEventTransport> CreateTransportAsync(string instance) =>
        await RedisTransport.ConnectAsync(new RedisTransportOptions
        {
            Configuration = fixture.Server.Configuration,
            KeyPrefix = _prefix,
            ConsumerName = instance,
            Lease = Lease,
            MaxDeliveries = MaxDeliveries,
            JanitorInterval = TimeSpan.FromMilliseconds(50),
            FallbackPollInterval = TimeSpan.FromMilliseconds(250),
            Retention = TimeSpan.Zero,
        });
}
