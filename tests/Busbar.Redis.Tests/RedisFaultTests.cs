using System.Collections.Concurrent;
using System.Text;
using Busbar.Transport;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;
using static Busbar.Redis.Tests.RedisTestSupport;

namespace Busbar.Redis.Tests;

/// <summary>Faults against a real redis-server of each test's own: garbage, poison, crashed consumers, restarts, FLUSHALL, caps.</summary>
public sealed class RedisFaultTests : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _cleanup = [];
    private RedisServer _server = null!;

    public async Task InitializeAsync() => _server = await RedisServer.StartAsync(fsyncAlways: true);

    public async Task DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
            await _cleanup[i].DisposeAsync();
        await _server.DisposeAsync();
    }

    private async Task<IRedisTransport> ConnectAsync(RedisTransportOptions options)
    {
        var transport = await RedisTransport.ConnectAsync(options);
        _cleanup.Add(transport);
        return transport;
    }

    private async Task<IDatabase> RawAsync()
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(_server.Configuration);
        _cleanup.Add(connection);
        return connection.GetDatabase();
    }

    [Fact]
    public async Task TailAsync_ServerRestarted_ResumesWhereItStoppedWithoutSkipping()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var tail = transport.TailAsync(["contract.orders.placed"], stop.Token).GetAsyncEnumerator(stop.Token);
        var next = tail.MoveNextAsync().AsTask();
        var published = 0;
        while (!next.IsCompleted)
        {
            await transport.PublishAsync([codec.Placed(++published)]);
            await Task.WhenAny(next, Task.Delay(100, stop.Token));
        }

        Assert.True(await next);
        var seen = new List<int> { Number(codec, tail.Current) };
        while (seen[^1] < published)
        {
            Assert.True(await tail.MoveNextAsync());
            seen.Add(Number(codec, tail.Current));
        }

        // The tail's read fails while the server is down; it keeps its positions and carries on after the reconnect.
        await _server.KillAsync();
        var reading = tail.MoveNextAsync().AsTask();
        await _server.RestartAsync();
        var afterRestart = published + 1;
        while (!reading.IsCompleted)
        {
            try
            {
                await transport.PublishAsync([codec.Placed(published + 1)]);
                published++;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Still reconnecting.
            }

            await Task.WhenAny(reading, Task.Delay(200, stop.Token));
        }

        Assert.True(await reading);
        Assert.Equal(afterRestart, Number(codec, tail.Current));

        static int Number(EnvelopeCodec codec, TransportMessage message) =>
            ((Busbar.Transport.Contract.OrderPlaced)codec.Decode(message.Name, message.Envelope).Event!.Payload).Number;
    }

    [Fact]
    public async Task GarbageEntries_WrittenWithRawXadd_DeadLetteredWithReasonsWhileGoodEventsFlow()
    {
        var codec = Codec(maxEnvelopeBytes: 64 * 1024);
        var transport = await ConnectAsync(Options(_server));
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["*"] });
        var raw = await RawAsync();
        var handled = new ConcurrentBag<int>();
        using var stop = new CancellationTokenSource();
        var consumer = Consume(subscription, async delivery =>
        {
            if (await delivery.DecodeOrTerminateAsync(codec) is { Payload: Busbar.Transport.Contract.OrderPlaced placed })
            {
                handled.Add(placed.Number);
                await delivery.AckAsync();
            }
        }, stop.Token);

        await transport.PublishAsync([codec.Placed(1)]);
        var key = "f:stream:contract.orders.placed";
        await raw.StreamAddAsync(key, "unexpected", "field");
        await raw.StreamAddAsync(key, "envelope", "{not json");
        await raw.StreamAddAsync(key, "envelope", Encoding.UTF8.GetBytes("{\"body\":\"" + new string('x', 200 * 1024) + "\"}"));
        await raw.SetAddAsync("f:names", "contract.unknown.thing");
        await raw.StreamAddAsync("f:stream:contract.unknown.thing", "envelope", $$$"""{"id":"{{{Guid.NewGuid()}}}","name":"contract.unknown.thing","createdAt":"2026-01-01T00:00:00Z","body":{}}""");
        await transport.PublishAsync([codec.Placed(2), codec.Placed(3)]);

        await Until(() => handled.Count == 3, "good events handled");
        await UntilAsync(async () => (await transport.ReadDeadLettersAsync(100)).Count == 4, "four dead letters");
        await stop.CancelAsync();
        await consumer;

        var reasons = (await transport.ReadDeadLettersAsync(100)).Select(l => l.Reason.Split(':')[0]).Order().ToArray();
        Assert.Equal(["MalformedEnvelope", "MissingEnvelope", "Oversized", "UnknownName"], reasons);
        Assert.Equal([1, 2, 3], handled.Order());
    }

    [Fact]
    public async Task Poison_AlwaysRetried_DeadLetteredAfterExactlyMaxDeliveries_OthersFlow()
    {
        var codec = Codec();
        // Every delivery is settled by the handler (retried after 100 ms, or acknowledged); the lease only has to outlast a
        // delivery's wait in the client's buffer, which on a loaded machine can pass the usual 2 s: an expired lease is a
        // claim and one more delivery, which is not what this test counts.
        var transport = await ConnectAsync(Options(_server) with { Lease = TimeSpan.FromSeconds(30) });
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.**"] });
        var poisonAttempts = new ConcurrentBag<int>();
        var handled = new ConcurrentBag<int>();
        using var stop = new CancellationTokenSource();
        var consumer = Consume(subscription, async delivery =>
        {
            var number = codec.Number(delivery);
            if (number == 13)
            {
                poisonAttempts.Add(delivery.DeliveryCount);
                await delivery.RetryLaterAsync(TimeSpan.FromMilliseconds(100));
                return;
            }

            handled.Add(number);
            await delivery.AckAsync();
        }, stop.Token);

        await transport.PublishAsync(Enumerable.Range(1, 20).Select(codec.Placed).ToArray());
        await UntilAsync(async () => (await transport.ReadDeadLettersAsync(10)).Count == 1, "the poison event dead-lettered");
        await Until(() => handled.Count == 19, "the others handled");
        await stop.CancelAsync();
        await consumer;

        var letter = Assert.Single(await transport.ReadDeadLettersAsync(10));
        Assert.Equal([1, 2, 3], poisonAttempts.Order());
        Assert.Equal(3, letter.DeliveryCount);
        Assert.StartsWith("MaxDeliveries", letter.Reason, StringComparison.Ordinal);
        Assert.Equal(13, codec.Number(new DeadLetterDelivery(letter)));
    }

    [Fact]
    public async Task AbandonedConsumer_MidLoad_ItsPendingEntriesClaimedByAnother_NoneLost()
    {
        var codec = Codec();
        var publisher = await ConnectAsync(Options(_server, "publisher"));
        var crashed = await RedisTransport.ConnectAsync(Options(_server, "crashed"));
        var crashedSubscription = await crashed.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.orders.placed"], MaxInFlight = 40 });
        await publisher.PublishAsync(Enumerable.Range(1, 200).Select(codec.Placed).ToArray());

        // The doomed consumer takes a batch and dies without settling anything.
        var taken = new List<ITransportDelivery>();
        await foreach (var delivery in crashedSubscription.ReadAllAsync())
        {
            taken.Add(delivery);
            if (taken.Count == 40)
                break;
        }

        await crashed.DisposeAsync();

        var survivor = await ConnectAsync(Options(_server, "survivor"));
        var subscription = await survivor.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.orders.placed"] });
        var handled = new ConcurrentDictionary<int, int>();
        var redelivered = 0;
        using var stop = new CancellationTokenSource();
        var consumer = Consume(subscription, async delivery =>
        {
            handled.AddOrUpdate(codec.Number(delivery), 1, static (_, n) => n + 1);
            if (delivery.DeliveryCount > 1)
                Interlocked.Increment(ref redelivered);
            await delivery.AckAsync();
        }, stop.Token);
        await Until(() => handled.Count == 200, "all 200 handled by the survivor");
        await stop.CancelAsync();
        await consumer;

        Assert.Equal(40, redelivered);
        Assert.All(handled.Values, n => Assert.Equal(1, n));
        Assert.All(taken, d => Assert.True(handled.ContainsKey(codec.Number(d))));
    }

    [Fact]
    public async Task ServerKilledAndRestarted_UnderLoad_NoAcknowledgedPublishLost()
    {
        var codec = Codec();
        var publisher = await ConnectAsync(Options(_server, "publisher"));
        var consumerTransport = await ConnectAsync(Options(_server, "consumer"));
        var subscription = await consumerTransport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.orders.placed"] });
        var handled = new ConcurrentDictionary<int, int>();
        using var stop = new CancellationTokenSource();
        var consumer = Consume(subscription, async delivery =>
        {
            handled.AddOrUpdate(codec.Number(delivery), 1, static (_, n) => n + 1);
            try
            {
                await delivery.AckAsync();
            }
            catch (RedisException)
            {
                // The server is down: the entry stays pending and comes back after the lease.
            }
        }, stop.Token);

        const int total = 600;
        var acknowledged = new ConcurrentBag<int>();
        var publishErrors = 0;
        var publishing = Task.Run(async () =>
        {
            for (var number = 1; number <= total; number++)
            {
                using var limit = new CancellationTokenSource(Patience);
                while (true)
                {
                    try
                    {
                        await publisher.PublishAsync([codec.Placed(number)]);
                        acknowledged.Add(number);
                        break;
                    }
                    catch (Exception ex) when (ex is RedisException && !limit.IsCancellationRequested)
                    {
                        // Documented behaviour: the publish fails visibly; the caller retries (consumers deduplicate).
                        Interlocked.Increment(ref publishErrors);
                        await Task.Delay(50);
                    }
                }
            }
        });

        await Until(() => acknowledged.Count >= 200, "publishing under way");
        await _server.KillAsync();
        await _server.RestartAsync();
        await publishing.WaitAsync(Patience * 2);
        await Until(() => handled.Count == total, $"every acknowledged event handled (have {handled.Count})", Patience * 2);
        await stop.CancelAsync();
        await consumer;

        Assert.Equal(total, acknowledged.Count);
        Assert.Equal(Enumerable.Range(1, total), handled.Keys.Order());
        Assert.Equal(0, ((IRedisTransport)consumerTransport).Status.GroupsRecreated);
    }

    [Fact]
    public async Task FlushAll_MidRun_RaisesTheAlarmAndRecovers()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server));
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.orders.placed"] });
        var handled = new ConcurrentBag<int>();
        using var stop = new CancellationTokenSource();
        var consumer = Consume(subscription, async delivery =>
        {
            handled.Add(codec.Number(delivery));
            try
            {
                await delivery.AckAsync();
            }
            catch (RedisException)
            {
            }
        }, stop.Token);
        await transport.PublishAsync(Enumerable.Range(1, 10).Select(codec.Placed).ToArray());
        await Until(() => handled.Count == 10, "first events handled");
        var health = new RedisTransportHealthCheck(transport);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);

        Assert.StartsWith("+OK", await _server.CommandAsync("FLUSHALL"), StringComparison.Ordinal);
        await transport.PublishAsync(Enumerable.Range(11, 10).Select(codec.Placed).ToArray());
        await Until(() => handled.Count == 20, "events after the flush handled");
        await stop.CancelAsync();
        await consumer;

        var status = transport.Status;
        Assert.Equal(1, status.GroupsRecreated);
        Assert.Contains("NOGROUP", status.LastAlarm, StringComparison.Ordinal);
        var report = await health.CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Degraded, report.Status);
        Assert.Equal(Enumerable.Range(1, 20), handled.Order());
    }

    [Fact]
    public async Task HardCap_UnconsumedStreamOverCap_TrimmedWithLossCountedAndAlarm()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server) with { MaxStreamLength = 1000 });
        await using var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "stalled", Patterns = ["contract.orders.placed"], MaxInFlight = 1 });
        for (var batch = 0; batch < 5; batch++)
            await transport.PublishAsync(Enumerable.Range((batch * 300) + 1, 300).Select(codec.Placed).ToArray());

        var raw = await RawAsync();
        // The janitor counts the loss after XTRIM replies: wait for both, the count must then be exactly the excess.
        await UntilAsync(async () => await raw.StreamLengthAsync("f:stream:contract.orders.placed") == 1000 && transport.Status.EntriesLostToCap >= 500, "the stream trimmed to its cap");

        var status = transport.Status;
        Assert.Equal(500, status.EntriesLostToCap);
        await Until(() => transport.Status.MaxGroupLag > 0, "the stalled group's lag reported");
        Assert.Contains("hard cap", status.LastAlarm, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Degraded, (await new RedisTransportHealthCheck(transport).CheckHealthAsync(new HealthCheckContext())).Status);
    }

    [Fact]
    public async Task Trimming_KeepsWhatAnyGroupHasNotAcknowledged_AndRemovesTheRest()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server));
        var fast = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "fast", Patterns = ["contract.orders.placed"] });
        var slow = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "slow", Patterns = ["contract.orders.placed"], MaxInFlight = 10 });
        await transport.PublishAsync(Enumerable.Range(1, 100).Select(codec.Placed).ToArray());
        var raw = await RawAsync();
        var key = "f:stream:contract.orders.placed";

        var fastCount = 0;
        using var stop = new CancellationTokenSource();
        var fastConsumer = Consume(fast, async d => { await d.AckAsync(); Interlocked.Increment(ref fastCount); }, stop.Token);
        await Until(() => fastCount == 100, "fast group done");

        // The slow group holds 10 unsettled and 90 never delivered: several janitor rounds must keep all 100.
        var slowHeld = new List<ITransportDelivery>();
        await foreach (var delivery in slow.ReadAllAsync())
        {
            slowHeld.Add(delivery);
            if (slowHeld.Count == 10)
                break;
        }

        await UntilAsync(async () => (await raw.StreamPendingAsync(key, "fast")).PendingMessageCount == 0, "fast acks recorded");
        // Wait for three full janitor rounds of both groups (counted, not timed) before looking at the stream.
        var fastJanitor = (RedisSubscription)fast;
        var slowJanitor = (RedisSubscription)slow;
        var (fastStart, slowStart) = (fastJanitor.JanitorRounds, slowJanitor.JanitorRounds);
        await Until(() => fastJanitor.JanitorRounds >= fastStart + 3 && slowJanitor.JanitorRounds >= slowStart + 3, "three janitor rounds of each group");
        Assert.Equal(100, await raw.StreamLengthAsync(key));

        foreach (var delivery in slowHeld)
            await delivery.AckAsync();
        var slowCount = 10;
        var slowConsumer = Consume(slow, async d => { await d.AckAsync(); Interlocked.Increment(ref slowCount); }, stop.Token);
        await Until(() => slowCount == 100, "slow group done");
        await UntilAsync(async () => await raw.StreamLengthAsync(key) <= 1, "acknowledged entries trimmed");
        await stop.CancelAsync();
        await Task.WhenAll(fastConsumer, slowConsumer);
    }

    [Fact]
    public async Task Doorbell_WakesAnIdleReaderLongBeforeTheFallbackPoll()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server) with { FallbackPollInterval = TimeSpan.FromMinutes(1) });
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.orders.placed"] });
        await transport.PublishAsync([codec.Placed(1)]);
        await using var enumerator = subscription.ReadAllAsync().GetAsyncEnumerator();
        Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience));
        await enumerator.Current.AckAsync();

        // The reader is idle now; only the doorbell can wake it within the test's patience (the poll is a minute).
        await transport.PublishAsync([codec.Placed(2)]);
        Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience));
        Assert.Equal(2, codec.Number(enumerator.Current));
    }

    [Fact]
    public async Task Doorbell_ManyConcurrentSinglePublishes_FewerNoticesAndAnIdleReaderGetsEveryEntry()
    {
        const int publishes = 300;
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server) with { FallbackPollInterval = TimeSpan.FromMinutes(1) });
        var raw = await RawAsync();
        var notices = 0;
        await raw.Multiplexer.GetSubscriber().SubscribeAsync(RedisChannel.Literal("f:doorbell"), (_, _) => Interlocked.Increment(ref notices));
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.orders.placed"], MaxInFlight = publishes });
        await transport.PublishAsync([codec.Placed(0)]);
        await using var enumerator = subscription.ReadAllAsync().GetAsyncEnumerator();
        Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience));
        await enumerator.Current.AckAsync();
        await Until(() => Volatile.Read(ref notices) >= 1, "the first notice");
        var before = Volatile.Read(ref notices);

        // The reader is idle; only notices can wake it within the patience (the poll is a minute), so every entry
        // stored by the concurrent publishes must be followed by a notice, while they share a few notices.
        await Task.WhenAll(Enumerable.Range(1, publishes).Select(i => transport.PublishAsync([codec.Placed(i)]).AsTask()));
        var read = new HashSet<int>();
        while (read.Count < publishes)
        {
            Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience), $"{read.Count} of {publishes} read");
            read.Add(codec.Number(enumerator.Current));
            await enumerator.Current.AckAsync();
        }

        await Until(() => Volatile.Read(ref notices) > before, "a notice after the concurrent publishes");
        Assert.InRange(Volatile.Read(ref notices) - before, 1, publishes - 1);
    }

    [Fact]
    public async Task Ack_ManyConcurrentAcks_ShareXackCommandsAndEveryEntryLeavesThePendingList()
    {
        const int total = 300;
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server));
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.orders.placed"], MaxInFlight = total });
        await transport.PublishAsync(Enumerable.Range(1, total).Select(codec.Placed).ToArray());
        var deliveries = new List<ITransportDelivery>();
        await using (var enumerator = subscription.ReadAllAsync().GetAsyncEnumerator())
        {
            while (deliveries.Count < total)
            {
                Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience), $"{deliveries.Count} of {total} read");
                deliveries.Add(enumerator.Current);
            }
        }

        var raw = await RawAsync();
        await using var admin = await ConnectionMultiplexer.ConnectAsync(_server.Configuration + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var before = await XackCallsAsync(server);
        await Task.WhenAll(deliveries.Select(d => d.AckAsync().AsTask()));
        var calls = await XackCallsAsync(server) - before;

        Assert.Equal(0, (await raw.StreamPendingAsync("f:stream:contract.orders.placed", "g")).PendingMessageCount);
        Assert.InRange(calls, 1, total - 1);
    }

    private static async Task<long> XackCallsAsync(IServer server)
    {
        var stats = await server.InfoAsync("commandstats");
        var line = stats.SelectMany(group => group).FirstOrDefault(pair => pair.Key == "cmdstat_xack").Value;
        if (line is null)
            return 0;
        var calls = line.Split(',')[0];
        return long.Parse(calls[(calls.IndexOf('=') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Publish_BatchLargerThanTheWindow_SendsAllInOrderAndGivesEveryPlaceBack()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server) with { PublishWindow = 4 });

        // 50 messages through 4 places in one call: the call frees its own answered places as it goes (no deadlock), then
        // two calls at once share the window, and a final call under the same window still finds every place free.
        await transport.PublishAsync(Enumerable.Range(1, 50).Select(codec.Placed).ToArray()).AsTask().WaitAsync(Patience);
        await Task.WhenAll(
            transport.PublishAsync(Enumerable.Range(51, 30).Select(codec.Placed).ToArray()).AsTask(),
            transport.PublishAsync(Enumerable.Range(81, 30).Select(codec.Placed).ToArray()).AsTask()).WaitAsync(Patience);
        var reject = await ConnectAsync(Options(_server) with { PublishWindow = 4, PublishFullMode = BusFullMode.Reject, KeyPrefix = "f2:" });
        for (var round = 0; round < 3; round++)
            await reject.PublishAsync(Enumerable.Range(1, 4).Select(codec.Placed).ToArray()).AsTask().WaitAsync(Patience);

        Assert.Equal(4, ((RedisEventTransport)transport).FreeWindowPlaces);
        Assert.Equal(4, ((RedisEventTransport)reject).FreeWindowPlaces);
        var raw = await RawAsync();
        var entries = await raw.StreamRangeAsync("f:stream:contract.orders.placed");
        Assert.Equal(110, entries.Length);
        Assert.Equal(12, await raw.StreamLengthAsync("f2:stream:contract.orders.placed"));
        var first = entries.Take(50).Select(e => ((Busbar.Transport.Contract.OrderPlaced)codec.Decode("contract.orders.placed", (byte[])e["envelope"]!).Event!.Payload).Number);
        Assert.Equal(Enumerable.Range(1, 50), first);
    }

    [Fact]
    public async Task Publish_WindowFullUnderReject_ThrowsBusFullException()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server) with { PublishWindow = 1, PublishFullMode = BusFullMode.Reject });

        var error = await Assert.ThrowsAsync<BusFullException>(async () => await transport.PublishAsync(Enumerable.Range(1, 50).Select(codec.Placed).ToArray()));

        Assert.Contains("PublishFullMode", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_OnRedis70_NoneNewerThanTheServer()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options(_server));
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["*"] });
        await transport.PublishAsync(Enumerable.Range(1, 5).Select(codec.Placed).ToArray());
        await using var enumerator = subscription.ReadAllAsync().GetAsyncEnumerator();
        for (var i = 0; i < 5; i++)
        {
            Assert.True(await enumerator.MoveNextAsync().AsTask().WaitAsync(Patience));
            var delivery = enumerator.Current;
            switch (i)
            {
                case 0: await delivery.AckAsync(); break;
                case 1: await delivery.TerminateAsync("test"); break;
                case 2: await delivery.ExtendLeaseAsync(); await delivery.AckAsync(); break;
                default: await delivery.RetryLaterAsync(TimeSpan.Zero); break;
            }
        }

        var stats = await _server.CommandAsync("INFO", "commandstats");
        foreach (var newer in new[] { "cmdstat_xackdel", "cmdstat_xdelex", "cmdstat_xnack" })
            Assert.DoesNotContain(newer, stats, StringComparison.Ordinal);
        Assert.Contains("cmdstat_xreadgroup", stats, StringComparison.Ordinal);
        Assert.Contains("cmdstat_xclaim", stats, StringComparison.Ordinal);
        Assert.True(transport.Status.ServerVersion >= RedisTransport.MinimumServerVersion);
    }

    /// <summary>Reads a dead letter's envelope back through the codec in the assertions above.</summary>
    private sealed class DeadLetterDelivery(TransportDeadLetter letter) : ITransportDelivery
    {
        public string DeliveryId => letter.DeliveryId;

        public string Name => letter.Name;

        public string Group => letter.Group;

        public int DeliveryCount => letter.DeliveryCount;

        public ReadOnlyMemory<byte> Envelope => letter.Envelope;

        public ValueTask AckAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask RetryLaterAsync(TimeSpan delay, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask TerminateAsync(string reason, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask ExtendLeaseAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
