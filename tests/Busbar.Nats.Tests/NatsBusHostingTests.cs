using Busbar.Hosting;
using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Nats.Tests;

/// <summary><c>services.AddBusbar().UseNats(events)</c>: the shared hosting cases against a real nats-server.</summary>
public sealed class NatsBusHostingTests(NatsServerFixture fixture) : BusHostingTests, IClassFixture<NatsServerFixture>
{
    private readonly string _name = "h" + Guid.NewGuid().ToString("N")[..12];

    protected override string ConnectionName => "nats";

    protected override string ConnectionString => fixture.Server.Url;

    protected override string HealthCheckName => "busbar-nats";

    protected override BusbarBuilder UseTransport(BusbarBuilder builder, EventTypeRegistry events) =>
        builder.UseNats(events, configure: o => NatsTestSupport.Options(fixture.Server, _name) with { Url = o.Url });

    protected override BusbarBuilder UseTransport(BusbarBuilder builder, EventTypeRegistry events, string connectionName) =>
        builder.UseNats(events, connectionName: connectionName);
}
