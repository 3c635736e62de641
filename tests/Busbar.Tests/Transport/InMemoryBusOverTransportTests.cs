using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Tests.Transport;

/// <summary>The bus-over-transport suite against the in-memory broker; every bus of one test shares one broker.</summary>
public sealed class InMemoryBusOverTransportTests : BusOverTransportTests
{
    private readonly InMemoryBroker _broker;

    public InMemoryBusOverTransportTests() =>
        _broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = Lease, MaxDeliveries = MaxDeliveries }, TimeProvider.System);

    // Extended every quarter of it: long enough that a thread pool starved for half a second (seen on a loaded 2-core
    // machine, all its threads busy while the extension timer's callback waited) does not let a slow handler's lease lapse.
    protected override TimeSpan Lease => TimeSpan.FromSeconds(1);

    protected override int MaxDeliveries => 3;

    protected override ValueTask<IEventTransport> CreateTransportAsync(string instance) => new(_broker.CreateTransport(ownsBroker: false));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _broker.DisposeAsync();
    }
}
