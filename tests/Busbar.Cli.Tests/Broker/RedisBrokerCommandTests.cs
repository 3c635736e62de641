using Busbar.Redis;
using Busbar.Redis.Tests;
using Busbar.Transport;

namespace Busbar.Cli.Tests.Broker;

public sealed class RedisBrokerCommandTests(RedisServerFixture fixture) : BrokerCommandTests, IClassFixture<RedisServerFixture>
{
    protected override string Url => $"redis://127.0.0.1:{fixture.Server.Port}";

    protected override async ValueTask<IEventTransport> ConnectAsync() =>
        await RedisTransport.ConnectAsync(new RedisTransportOptions { Configuration = fixture.Server.Configuration, FallbackPollInterval = TimeSpan.FromMilliseconds(100) });
}
