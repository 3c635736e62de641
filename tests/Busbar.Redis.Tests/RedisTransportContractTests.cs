using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Redis.Tests;

/// <summary>The transport contract against a real redis-server; each test has its own key prefix.</summary>
public sealed class RedisTransportContractTests(RedisServerFixture fixture) : TransportContractTests, IClassFixture<RedisServerFixture>
{
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..12] + ":";

    // Long enough that a starved consumer on a loaded 2-core machine still acks within it; the janitor runs often.
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
