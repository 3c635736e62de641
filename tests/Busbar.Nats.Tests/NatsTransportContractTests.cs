using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Nats.Tests;

/// <summary>The transport contract against a real nats-server; each test has its own stream and subject prefix.</summary>
public sealed class NatsTransportContractTests(NatsServerFixture fixture) : TransportContractTests, IClassFixture<NatsServerFixture>
{
    private readonly string _namespace = "t" + Guid.NewGuid().ToString("N")[..12];

    // Long enough that a starved consumer on a loaded 2-core machine still acks within it (AckWait has a 1 s floor here).
    protected override TimeSpan Lease => TimeSpan.FromSeconds(2);

    protected override int MaxDeliveries => 3;

    protected override async ValueTask<IEventTransport> CreateTransportAsync(string instance) =>
        await NatsTransport.ConnectAsync(NatsTestSupport.Options(fixture.Server, _namespace) with { Lease = Lease, MaxDeliveries = MaxDeliveries });
}
