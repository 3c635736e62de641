using System.Collections.Concurrent;
using Busbar.Transport;
using static Busbar.Redis.Tests.RedisTestSupport;

namespace Busbar.Redis.Tests;

/// <summary>
/// Where the Redis transport's features meet: two groups of three consumers (three transports, so three consumer
/// names) ack, retry, terminate, extend and abandon at random (fixed, printed seed) while the janitor claims and
/// dead-letters. Every entry must end exactly once per group — acknowledged or dead-lettered.
/// </summary>
public sealed class RedisTransportMixTests(RedisServerFixture fixture) : IClassFixture<RedisServerFixture>
{
    /// <summary>
    /// Concurrent publish calls of random sizes through a small window (fixed, printed seed), some larger than the window,
    /// some cancelled while they wait for it: every call that completed stored all its messages, in its own order; a cancelled
    /// call stored a prefix of its messages; and afterwards every window place is free again.
    /// </summary>
    [Theory]
    [InlineData(77)]
    [InlineData(3030)]
    [InlineData(20261130)]
    public async Task ConcurrentPublishes_SmallWindow_EveryCompletedCallStoredInOrder(int seed)
    {
        Console.WriteLine($"redis publish window mix seed {seed}");
        var random = new Random(seed);
        var codec = Codec();
        var prefix = "w" + Guid.NewGuid().ToString("N")[..8] + ":";
        var window = random.Next(1, 9);
        await using var transport = await RedisTransport.ConnectAsync(Options(fixture.Server) with { KeyPrefix = prefix, PublishWindow = window });
        var callers = new Task<(int First, int Count, bool Completed)>[6];
        for (var c = 0; c < callers.Length; c++)
        {
            var first = (c + 1) * 1000;
            var count = random.Next(1, 3 * window + 20);
            var cancelAfter = random.Next(4) == 0 ? TimeSpan.FromMilliseconds(random.Next(0, 3)) : (TimeSpan?)null;
            callers[c] = Task.Run(async () =>
            {
                using var cancel = cancelAfter is { } after ? new CancellationTokenSource(after) : new CancellationTokenSource();
                try
                {
                    await transport.PublishAsync(Enumerable.Range(first, count).Select(codec.Placed).ToArray(), cancel.Token);
                    return (first, count, true);
                }
                catch (OperationCanceledException)
                {
                    return (first, count, false);
                }
            });
        }

        var results = await Task.WhenAll(callers).WaitAsync(Patience);
        await using var raw = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(fixture.Server.Configuration);
        var entries = await raw.GetDatabase().StreamRangeAsync(prefix + "stream:contract.orders.placed");
        var numbers = entries.Select(e => ((Busbar.Transport.Contract.OrderPlaced)codec.Decode("contract.orders.placed", (byte[])e["envelope"]!).Event!.Payload).Number).ToList();
        foreach (var (first, count, completed) in results)
        {
            var own = numbers.Where(n => n >= first && n < first + count).ToList();
            if (completed)
                Assert.Equal(Enumerable.Range(first, count), own);
            else
                Assert.Equal(Enumerable.Range(first, own.Count), own);
        }

        Assert.Equal(numbers.Count, numbers.Distinct().Count());
        Assert.Equal(window, ((RedisEventTransport)transport).FreeWindowPlaces);
    }

    [Theory]
    [InlineData(1401)]
    [InlineData(2026)]
    public async Task RandomSettlements_EveryEntryEndsExactlyOncePerGroup(int seed)
    {
        Console.WriteLine($"redis transport mix seed {seed}");
        const int total = 200;
        var random = new Random(seed);
        var codec = Codec();
        var prefix = "x" + Guid.NewGuid().ToString("N")[..8] + ":";
        var options = Options(fixture.Server) with { KeyPrefix = prefix, Lease = TimeSpan.FromSeconds(3), MaxDeliveries = 3 };
        var cleanup = new List<IAsyncDisposable>();
        var acked = new ConcurrentDictionary<(string Group, string Id), int>();
        using var stop = new CancellationTokenSource();
        var consumers = new List<Task>();
        try
        {
            var publisher = await RedisTransport.ConnectAsync(options with { ConsumerName = "publisher" });
            cleanup.Add(publisher);
            for (var i = 0; i < 3; i++)
            {
                var transport = await RedisTransport.ConnectAsync(options with { ConsumerName = "c" + i });
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

                        // else: abandoned, as by a crashed handler; the janitor claims it after the lease.
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
            }, $"every entry settled in both groups (seed {seed})", TimeSpan.FromSeconds(90));

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
