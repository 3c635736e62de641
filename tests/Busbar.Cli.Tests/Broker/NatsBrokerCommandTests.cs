using Busbar.Nats;
using Busbar.Nats.Tests;
using Busbar.Transport;

namespace Busbar.Cli.Tests.Broker;

public sealed class NatsBrokerCommandTests(NatsServerFixture fixture) : BrokerCommandTests, IClassFixture<NatsServerFixture>
{
    protected override string Url => fixture.Server.Url;

    protected override async ValueTask<IEventTransport> ConnectAsync() =>
        await NatsTransport.ConnectAsync(new NatsTransportOptions { Url = fixture.Server.Url });
}
