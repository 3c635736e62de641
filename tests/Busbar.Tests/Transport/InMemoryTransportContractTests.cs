using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Tests.Transport;

/// <summary>The transport contract against the in-memory broker; every instance of one test shares one broker.</summary>
public sealed class InMemoryTransportContractTests : TransportContractTests
{
    private readonly InMemoryBroker _broker;

    public InMemoryTransportContractTests() =>
        _broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = Lease, MaxDeliveries = MaxDeliveries }, TimeProvider.System);

    protected override TimeSpan Lease => TimeSpan.FromMilliseconds(300);

    protected override int MaxDeliveries => 3;

    protected override ValueTask<IEventTransport> CreateTransportAsync(string instance) => new(_broker.CreateTransport(ownsBroker: false));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _broker.DisposeAsync();
    }

    [Fact]
    public void Create_InvalidOptions_ThrowsNamingTheOption()
    {
        var lease = Assert.Throws<ArgumentException>(() => InMemoryTransport.Create(new InMemoryTransportOptions { Lease = TimeSpan.Zero }));
        var max = Assert.Throws<ArgumentException>(() => InMemoryTransport.Create(new InMemoryTransportOptions { MaxDeliveries = 0 }));

        Assert.Contains("InMemoryTransportOptions.Lease", lease.Message, StringComparison.Ordinal);
        Assert.Contains("InMemoryTransportOptions.MaxDeliveries", max.Message, StringComparison.Ordinal);
    }
}
