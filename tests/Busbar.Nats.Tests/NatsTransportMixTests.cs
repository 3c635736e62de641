using System.Collections.Concurrent;
using Busbar.Transport;
using static Busbar.Nats.Tests.NatsTestSupport;

namespace Busbar.Nats.Tests;

/// <summary>
/// Where the NATS transport's features meet: two groups of three consumers (three transports pulling from each group's
/// durable consumer) ack, retry, terminate, extend and abandon at random (fixed, printed seed) while the server
/// redelivers after the lease. Every message must end exactly once per group — acknowledged or dead-lettered.
/// </summary>
public sealed class NatsTransportMixTests(NatsServerFixture fixture) : IClassFixture<NatsServerFixture>
{
    [Theory]
    [InlineData(1401)]
    [InlineData(2026)]
    public async Task RandomSettlements_EveryMessageEndsExactlyOncePerGroup(int seed)
    {
        Console.WriteLine($"nats transport mix seed {seed}");
        const int total = 200;
        var random = new Random(seed);
        var codec = Codec();
        var options = Options(fixture.Server, NewNamespace()) with { Lease = TimeSpan.FromSeconds(3), MaxDeliveries = 3 };
        var cleanup = new List<IAsyncDisposable>();
        var acked = new ConcurrentDictionary<(string Group, string Id), int>();
        using var stop = new CancellationTokenSource();
        var consumers = new List<Task>();
        try
        {
            var publisher = await NatsTransport.ConnectAsync(options);
            cleanup.Add(publisher);
            for (var i = 0; i < 3; i++)
            {
                var transport = await NatsTransport.ConnectAsync(options);
                cleanup.Add(transport);
                foreach (var group in new[] { "a", "b" })
                {
                    var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = group, Patterns = ["contract.**"], MaxInFlight = random.Next(1, 9) });
                    var consumerRandom = new Random(random.Next());
                    consumers.Add(Consume(subscription, async delivery =>
                    {
                        var roll = consumerRandom.Next(100);
                        if (roll < 70)
                        {
                            acked.AddOrUpdate((delivery.Group, delivery.DeliveryId), 1, static (_, n) => n + 1);
                            await delivery.AckAsync();
                        }
                        else if (roll < 85)
                        {
                            await delivery.RetryLaterAsync(TimeSpan.FromMilliseconds(consumerRandom.Next(0, 200)));
                        }
                        else if (roll < 90)
                        {
                            await delivery.TerminateAsync("random terminate");
                        }
                        else if (roll < 98)
                        {
                            await delivery.ExtendLeaseAsync();
                            acked.AddOrUpdate((delivery.Group, delivery.DeliveryId), 1, static (_, n) => n + 1);
                            await delivery.AckAsync();
                        }

                        // else: abandoned, as by a crashed handler; the server redelivers it after the lease.
                    }, stop.Token));
                }
            }

            for (var published = 0; published < total;)
            {
                var size = Math.Min(total - published, random.Next(1, 30));
                await publisher.PublishAsync(Enumerable.Range(published + 1, size).Select(codec.Placed).ToArray());
                published += size;
            }

            IReadOnlyList<TransportDeadLetter> dead = [];
            await UntilAsync(async () =>
            {
                dead = await publisher.ReadDeadLettersAsync(10_000);
                return acked.Count + dead.Count >= 2 * total;
            }, $"every message settled in both groups (seed {seed})", TimeSpan.FromSeconds(90));

            Assert.All(acked.Values, n => Assert.Equal(1, n));
            var deadKeys = dead.Select(l => (l.Group, l.DeliveryId)).ToList();
            Assert.Equal(deadKeys.Count, deadKeys.Distinct().Count());
            Assert.Empty(deadKeys.Intersect(acked.Keys));
            foreach (var group in new[] { "a", "b" })
                Assert.Equal(total, acked.Keys.Count(k => k.Group == group) + deadKeys.Count(k => k.Group == group));
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(consumers);
            for (var i = cleanup.Count - 1; i >= 0; i--)
                await cleanup[i].DisposeAsync();
        }
    }
}
