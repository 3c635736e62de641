using Busbar.Transport;
using Busbar.Transport.Contract;
using Microsoft.Extensions.Time.Testing;

namespace Busbar.Tests.Transport;

/// <summary>The in-memory transport's clock-driven rules, on a fake clock: nothing here waits for real time to pass.</summary>
public sealed class InMemoryTransportTests
{
    private static readonly EnvelopeCodec Codec = new(new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced));

    private static TransportMessage Placed(int number) => Codec.Encode(
        new EventEnvelope { EventId = Guid.NewGuid(), Name = "contract.orders.placed", CreatedAt = DateTimeOffset.UnixEpoch },
        new Busbar.Transport.Contract.OrderPlaced(number, "c"));

    [Fact]
    public async Task RetryLaterAsync_Delay_HeldBackUntilTheClockPassesIt()
    {
        var clock = new FakeTimeProvider();
        await using var transport = InMemoryTransport.Create(new InMemoryTransportOptions { Lease = TimeSpan.FromMinutes(5) }, clock);
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["*"] });
        await using var reader = new DeliveryReader(subscription);
        await transport.PublishAsync([Placed(1)]);
        var first = await reader.NextAsync(TestTimeout.Default);

        await first.RetryLaterAsync(TimeSpan.FromSeconds(30));
        clock.Advance(TimeSpan.FromSeconds(29));
        Assert.Null(await reader.TryNextAsync(TimeSpan.FromMilliseconds(100)));
        clock.Advance(TimeSpan.FromSeconds(2));
        var second = await reader.NextAsync(TestTimeout.Default);

        Assert.Equal(2, second.DeliveryCount);
        Assert.Equal(first.DeliveryId, second.DeliveryId);
    }

    [Fact]
    public async Task Lease_NotSettled_RedeliveredOnlyAfterTheLeaseAndExtendingPushesItBack()
    {
        var clock = new FakeTimeProvider();
        await using var transport = InMemoryTransport.Create(new InMemoryTransportOptions { Lease = TimeSpan.FromSeconds(10) }, clock);
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["*"] });
        await using var reader = new DeliveryReader(subscription);
        await transport.PublishAsync([Placed(1)]);
        var held = await reader.NextAsync(TestTimeout.Default);

        clock.Advance(TimeSpan.FromSeconds(8));
        await held.ExtendLeaseAsync();
        clock.Advance(TimeSpan.FromSeconds(8));
        Assert.Null(await reader.TryNextAsync(TimeSpan.FromMilliseconds(100)));
        clock.Advance(TimeSpan.FromSeconds(3));
        var again = await reader.NextAsync(TestTimeout.Default);

        Assert.Equal(2, again.DeliveryCount);
        await held.AckAsync();
        await again.AckAsync();
        Assert.Empty(await transport.ReadDeadLettersAsync(10));
    }
}
