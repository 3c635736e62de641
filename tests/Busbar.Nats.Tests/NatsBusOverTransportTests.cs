using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Nats.Tests;

/// <summary>The bus-over-transport suite against a real nats-server; each test has its own stream and subject prefix.</summary>
public sealed class NatsBusOverTransportTests(NatsServerFixture fixture) : BusOverTransportTests, IClassFixture<NatsServerFixture>
{
    private readonly string _namespace = "b" + Guid.NewGuid().ToString("N")[..12];

    protected override TimeSpan Lease => TimeSpan.FromSeconds(2);

    protected override int MaxDeliveries => 3;

    protected override async ValueTask<IEventTransport> CreateTransportAsync(string instance) =>
        await NatsTransport.ConnectAsync(NatsTestSupport.Options(fixture.Server, _namespace) with { Lease = Lease, MaxDeliveries = MaxDeliveries });
}
