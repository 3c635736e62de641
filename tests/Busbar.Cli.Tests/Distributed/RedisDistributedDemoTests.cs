using Busbar.Redis.Tests;

namespace Busbar.Cli.Tests.Distributed;

[Collection(DistributedDemoCollection.Name)]
public sealed class RedisDistributedDemoTests(RedisServerFixture fixture) : DistributedDemoTests, IClassFixture<RedisServerFixture>
{
    protected override string Url => $"redis://127.0.0.1:{fixture.Server.Port}";
}
