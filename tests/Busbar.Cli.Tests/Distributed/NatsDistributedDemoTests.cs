using Busbar.Nats.Tests;

namespace Busbar.Cli.Tests.Distributed;

[Collection(DistributedDemoCollection.Name)]
public sealed class NatsDistributedDemoTests(NatsServerFixture fixture) : DistributedDemoTests, IClassFixture<NatsServerFixture>
{
    protected override string Url => fixture.Server.Url;
}
