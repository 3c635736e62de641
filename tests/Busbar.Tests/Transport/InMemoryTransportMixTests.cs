using System.Collections.Concurrent;
using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Tests.Transport;

/// <summary>
/// Where the transport's features meet: two groups of three consumers each ack, retry, terminate, extend and abandon
/// at random (fixed, printed seed). Every message must end exactly once per group — acknowledged or dead-lettered —
/// and nothing may be acknowledged twice.
/// </summary>
public sealed class InMemoryTransportMixTests
{
    [Theory]
    [InlineData(1401)]
    [InlineData(2026)]
    [InlineData(77)]
    public async Task RandomSettlements_EveryMessageEndsExactlyOncePerGroup(int seed)
    {
        Console.WriteLine($"transport mix seed {seed}");
        const int total = 300;
        var random = new Random(seed);
        var codec = new EnvelopeCodec(new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced));
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = TimeSpan.FromSeconds(1), MaxDeliveries = 3 }, TimeProvider.System);
        var transport = broker.CreateTransport(ownsBroker: false);
        var acked = new ConcurrentDictionary<(string Group, string Id), int>();
        using var stop = new CancellationTokenSource();
        var consumers = new List<Task>();
        foreach (var group in new[] { "a", "b" })
        {
            for (var i = 0; i < 3; i++)
            {
                var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = group, Patterns = ["contract.**"], MaxInFlight = random.Next(1, 9) });
                var consumerRandom = new Random(random.Next());
                consumers.Add(Task.Run(async () =>
                {
                    try
                    {
                        await foreach (var delivery in subscription.ReadAllAsync(stop.Token))
                        {
                            var roll = consumerRandom.Next(100);
                            if (roll < 65)
                            {
                                acked.AddOrUpdate((delivery.Group, delivery.DeliveryId), 1, static (_, n) => n + 1);
                                await delivery.AckAsync();
                            }
                            else if (roll < 80)
                            {
                                await delivery.RetryLaterAsync(TimeSpan.FromMilliseconds(consumerRandom.Next(0, 20)));
                            }
                            else if (roll < 85)
                            {
                                await delivery.TerminateAsync("random terminate");
                            }
                            else if (roll < 95)
                            {
                                await delivery.ExtendLeaseAsync();
                                acked.AddOrUpdate((delivery.Group, delivery.DeliveryId), 1, static (_, n) => n + 1);
                                await delivery.AckAsync();
                            }

                            // else: abandoned, as by a crashed handler; its lease expires and it comes back.
                        }
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }));
            }
        }

        for (var published = 0; published < total;)
        {
            var size = Math.Min(total - published, random.Next(1, 20));
            var batch = Enumerable.Range(published, size).Select(n => codec.Encode(
                new EventEnvelope { EventId = Guid.NewGuid(), Name = "contract.orders.placed", CreatedAt = TimeProvider.System.GetUtcNow() },
                new Busbar.Transport.Contract.OrderPlaced(n, "c"))).ToArray();
            await transport.PublishAsync(batch);
            published += size;
        }

        IReadOnlyList<TransportDeadLetter> dead = [];
        await TestTimeout.Until(() =>
        {
            dead = transport.ReadDeadLettersAsync(10_000).AsTask().GetAwaiter().GetResult();
            // At least: a settlement counted twice (a lease that expired before its ack on a starved machine) must
            // fail the asserts below with the details, not time out here.
            return acked.Count + dead.Count >= 2 * total;
        }, TimeSpan.FromSeconds(30), $"every message settled in both groups (seed {seed})");
        await stop.CancelAsync();
        await Task.WhenAll(consumers);

        Assert.All(acked.Values, n => Assert.Equal(1, n));
        var deadKeys = dead.Select(l => (l.Group, l.DeliveryId)).ToList();
        Assert.Equal(deadKeys.Count, deadKeys.Distinct().Count());
        Assert.Empty(deadKeys.Intersect(acked.Keys));
        Assert.All(dead, l => Assert.True(l.Reason == "random terminate" || l.Reason.StartsWith("MaxDeliveries", StringComparison.Ordinal), l.Reason));
        foreach (var group in new[] { "a", "b" })
            Assert.Equal(total, acked.Keys.Count(k => k.Group == group) + deadKeys.Count(k => k.Group == group));
    }
}
