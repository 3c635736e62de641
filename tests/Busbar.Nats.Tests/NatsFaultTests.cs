using System.Collections.Concurrent;
using System.Text;
using Busbar.Transport;
using Busbar.Transport.Contract;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using NATS.Client.Core;
using NATS.Client.JetStream;
using Xunit.Abstractions;
using static Busbar.Nats.Tests.NatsTestSupport;

namespace Busbar.Nats.Tests;

/// <summary>Faults against a real nats-server of each test's own: duplicates, garbage, poison, abandoned consumers, restarts, overlapping patterns.</summary>
public sealed class NatsFaultTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _cleanup = [];
    private readonly string _ns = NewNamespace();
    private readonly TestOutputLoggerFactory _log = new(output);
    private NatsServer _server = null!;

    public async Task InitializeAsync() => _server = await NatsServer.StartAsync();

    public async Task DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
            await _cleanup[i].DisposeAsync();
        await _server.DisposeAsync();
    }

    private NatsTransportOptions Options() => NatsTestSupport.Options(_server, _ns);

    private async Task<INatsTransport> ConnectAsync(NatsTransportOptions options)
    {
        var transport = await NatsTransport.ConnectAsync(options, _log);
        _cleanup.Add(transport);
        return transport;
    }

    private async Task<ITransportSubscription> SubscribeAsync(INatsTransport transport, string group, params string[] patterns)
    {
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = group, Patterns = patterns, MaxInFlight = 64 });
        _cleanup.Add(subscription);
        return subscription;
    }

    private async Task<NatsJSContext> RawAsync()
    {
        var connection = new NatsConnection(new NatsOpts { Url = _server.Url });
        await connection.ConnectAsync();
        _cleanup.Add(connection);
        return new NatsJSContext(connection);
    }

    [Fact]
    public async Task PublishAsync_SameEventTwiceInsideDedupeWindow_StoredAndHandledOnce()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options());
        var message = codec.Placed(1);
        await transport.PublishAsync([message]);
        await transport.PublishAsync([message, codec.Placed(2)]);

        var subscription = await SubscribeAsync(transport, "g", "contract.orders.placed");
        await using var reader = new DeliveryReader(subscription);
        var first = await reader.NextAsync(Patience);
        var second = await reader.NextAsync(Patience);
        await first.AckAsync();
        await second.AckAsync();

        Assert.Equal([1, 2], new[] { codec.Number(first), codec.Number(second) });
        Assert.Null(await reader.TryNextAsync(TimeSpan.FromMilliseconds(500)));
        var stream = await (await RawAsync()).GetStreamAsync(_ns.ToUpperInvariant());
        Assert.Equal(2L, stream.Info.State.Messages);
    }

    [Fact]
    public async Task GarbageOnBusSubject_DeadLetteredWithReasonsWhileGoodEventsFlow()
    {
        var codec = Codec(maxEnvelopeBytes: 64 * 1024);
        var transport = await ConnectAsync(Options());
        var subscription = await SubscribeAsync(transport, "g", "*");
        var handled = new ConcurrentBag<int>();
        using var stop = new CancellationTokenSource();
        var consumer = Consume(subscription, async delivery =>
        {
            if (await delivery.DecodeOrTerminateAsync(codec) is { Payload: OrderPlaced placed })
            {
                handled.Add(placed.Number);
                await delivery.AckAsync();
            }
        }, stop.Token);

        var raw = await RawAsync();
        var subject = _ns + ".contract.orders.placed";
        await transport.PublishAsync([codec.Placed(1)]);
        await raw.PublishAsync(subject, Encoding.UTF8.GetBytes("{not json"), opts: new NatsJSPubOpts { MsgId = Guid.NewGuid().ToString() });
        await raw.PublishAsync(subject, Array.Empty<byte>(), opts: new NatsJSPubOpts { MsgId = Guid.NewGuid().ToString() });
        await raw.PublishAsync(subject, Encoding.UTF8.GetBytes("{\"body\":\"" + new string('x', 200 * 1024) + "\"}"), opts: new NatsJSPubOpts { MsgId = Guid.NewGuid().ToString() });
        await raw.PublishAsync(_ns + ".contract.unknown.thing", Encoding.UTF8.GetBytes($$$"""{"v":1,"id":"{{{Guid.NewGuid()}}}","name":"contract.unknown.thing","createdAt":"2026-01-01T00:00:00Z","body":{}}"""), opts: new NatsJSPubOpts { MsgId = Guid.NewGuid().ToString() });
        var withoutHeaders = codec.Placed(99);
        await raw.PublishAsync(subject, withoutHeaders.Envelope.ToArray());
        await transport.PublishAsync([codec.Placed(2), codec.Placed(3)]);

        await Until(() => handled.Count == 3, "good events handled");
        await UntilAsync(async () => (await transport.ReadDeadLettersAsync(100)).Count == 5, "five dead letters");
        await stop.CancelAsync();
        await consumer;

        var letters = await transport.ReadDeadLettersAsync(100);
        Assert.Equal(["MalformedEnvelope", "MissingEnvelope", "MissingHeader", "Oversized", "UnknownName"], letters.Select(l => l.Reason.Split(':')[0]).Order());
        Assert.Equal([1, 2, 3], handled.Order());
        Assert.All(letters, l => Assert.Equal("g", l.Group));
        Assert.Equal(withoutHeaders.Envelope.ToArray(), letters.Single(l => l.Reason.StartsWith("MissingHeader", StringComparison.Ordinal)).Envelope.ToArray());

        // The dead letters were logged with names, sequences and reasons, never with a payload.
        Assert.Equal(5, _log.Lines.Count(line => line.Contains("Dead-lettered", StringComparison.Ordinal)));
        Assert.DoesNotContain(_log.Lines, line => line.Contains("xxxxxxxx", StringComparison.Ordinal) || line.Contains("not json", StringComparison.Ordinal) || line.Contains("c99", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Poison_AlwaysRetried_DeadLetteredAfterExactlyMaxDeliveries_OthersFlow()
    {
        var codec = Codec();

        // Every delivery is settled by the handler (retried after 20 ms, or acknowledged); the lease only has to outlast a
        // delivery's wait in the client's buffer, which on a loaded machine can pass the usual 2 s: an expired lease is a
        // redelivery the handler never saw, so the poison would be dead-lettered after fewer attempts, and another event handled twice.
        var transport = await ConnectAsync(Options() with { Lease = TimeSpan.FromSeconds(30) });
        var subscription = await SubscribeAsync(transport, "g", "contract.orders.placed");
        var attempts = 0;
        var handled = new ConcurrentBag<int>();
        using var stop = new CancellationTokenSource();
        var consumer = Consume(subscription, async delivery =>
        {
            var number = codec.Number(delivery);
            if (number == 13)
            {
                Interlocked.Increment(ref attempts);
                await delivery.RetryLaterAsync(TimeSpan.FromMilliseconds(20));
                return;
            }

            handled.Add(number);
            await delivery.AckAsync();
        }, stop.Token);

        await transport.PublishAsync([.. Enumerable.Range(10, 6).Select(codec.Placed)]);
        var letter = Assert.Single(await WaitForDeadLettersAsync(transport, 1));
        await Until(() => handled.Count == 5, "the others handled");
        await stop.CancelAsync();
        await consumer;

        Assert.Equal(3, attempts);
        Assert.Equal(3, letter.DeliveryCount);
        Assert.StartsWith("MaxDeliveries", letter.Reason, StringComparison.Ordinal);
        Assert.Equal([10, 11, 12, 14, 15], handled.Order());
    }

    [Fact]
    public async Task AbandonedConsumer_MidLoad_ItsMessagesRedeliveredAfterTheLeaseAndHandledElsewhere()
    {
        const int count = 200;
        var codec = Codec();
        var publisher = await ConnectAsync(Options());
        var crashing = await NatsTransport.ConnectAsync(Options());
        var survivor = await ConnectAsync(Options());
        var doomed = await crashing.SubscribeAsync(new TransportSubscriptionOptions { Group = "workers", Patterns = ["contract.**"], MaxInFlight = 20 });
        var handled = new ConcurrentDictionary<int, int>();
        var held = new ConcurrentBag<ITransportDelivery>();
        using var stop = new CancellationTokenSource();

        // The doomed consumer acks every other delivery and sits on the rest, then its process "dies" without settling them.
        var doomedLoop = Consume(doomed, async delivery =>
        {
            var number = codec.Number(delivery);
            if (number % 2 == 0)
            {
                held.Add(delivery);
                return;
            }

            handled.AddOrUpdate(number, 1, static (_, n) => n + 1);
            await delivery.AckAsync();
        }, stop.Token);
        await publisher.PublishAsync([.. Enumerable.Range(1, count).Select(codec.Placed)]);
        await Until(() => !held.IsEmpty && handled.Count + held.Count >= 20, "the doomed consumer took a share");
        await crashing.DisposeAsync();
        await doomedLoop;

        var redelivered = new ConcurrentBag<int>();
        var survivorSubscription = await SubscribeAsync(survivor, "workers", "contract.**");
        var survivorLoop = Consume(survivorSubscription, async delivery =>
        {
            var number = codec.Number(delivery);
            if (delivery.DeliveryCount > 1)
                redelivered.Add(number);
            handled.AddOrUpdate(number, 1, static (_, n) => n + 1);
            await delivery.AckAsync();
        }, stop.Token);

        await Until(() => handled.Count == count, "every event handled by someone", TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        await survivorLoop;

        // Every held message came again with a higher count. Messages the doomed instance had pulled but not yet handed
        // to its handler come again too, and an ack still in its connection's buffer may be lost: those are the duplicates.
        Assert.Equal(Enumerable.Range(1, count), handled.Keys.Order());
        Assert.Subset(redelivered.ToHashSet(), held.Select(codec.Number).ToHashSet());
        output.WriteLine($"{held.Count} held by the doomed consumer, {redelivered.Count} redelivered, {handled.Count(pair => pair.Value > 1)} handled twice");
    }

    [Fact]
    public async Task ServerKilledAndRestartedUnderLoad_NoAcknowledgedPublishLost_BothSidesReconnect()
    {
        var codec = Codec();
        var options = Options() with { PublishTimeout = TimeSpan.FromSeconds(30), PublishWindow = 64 };
        var publisher = await ConnectAsync(options);
        var consumerTransport = await ConnectAsync(options);
        var subscription = await SubscribeAsync(consumerTransport, "g", "contract.orders.placed");
        var handled = new ConcurrentDictionary<int, int>();
        var acknowledged = new ConcurrentBag<int>();
        var failed = new ConcurrentBag<int>();
        using var stop = new CancellationTokenSource();
        var consumer = Consume(subscription, async delivery =>
        {
            handled.AddOrUpdate(codec.Number(delivery), 1, static (_, n) => n + 1);
            try
            {
                await delivery.AckAsync();
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException)
            {
                // The ack was lost with the connection: the message comes again after the lease (a counted duplicate).
            }
        }, stop.Token);

        var next = 0;
        var publishing = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && next < 3000)
            {
                var batch = Enumerable.Range(next + 1, 20).ToArray();
                next += 20;
                try
                {
                    await publisher.PublishAsync([.. batch.Select(codec.Placed)]);
                    foreach (var number in batch)
                        acknowledged.Add(number);
                }
                catch (Exception ex) when (ex is NatsException or TimeoutException)
                {
                    foreach (var number in batch)
                        failed.Add(number);
                }
            }
        });

        await Until(() => acknowledged.Count >= 300, "publishing under way");
        await _server.KillAsync();
        await Until(() => !publisher.Status.IsConnected, "the publisher sees the server gone");
        var health = await new NatsTransportHealthCheck(publisher).CheckHealthAsync(new HealthCheckContext());
        Assert.Equal(HealthStatus.Unhealthy, health.Status);
        await _server.RestartAsync();
        await Until(() => publisher.Status.IsConnected && consumerTransport.Status.IsConnected, "both sides reconnected");
        await publishing.WaitAsync(TimeSpan.FromSeconds(90));

        await Until(() => acknowledged.All(handled.ContainsKey), "every acknowledged publish handled", TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        await consumer;

        // Publishes in flight across the restart were re-sent with their Nats-Msg-Id and completed: none failed.
        Assert.Empty(failed);
        Assert.Equal(next, acknowledged.Count);
        Assert.DoesNotContain(acknowledged, n => !handled.ContainsKey(n));
        output.WriteLine($"{acknowledged.Count} acknowledged, {handled.Count} handled, {handled.Count(pair => pair.Value > 1)} handled more than once (acks lost with the connection)");
    }

    [Fact]
    public async Task PublishAsync_WindowFullUnderReject_ThrowsBusFull_AndTheFirstPublishStillCompletes()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options() with { PublishWindow = 1, PublishFullMode = BusFullMode.Reject });

        // Frozen, the server cannot acknowledge the first publish, so it holds the window's only slot for sure.
        _server.Pause();
        Task first;
        BusFullException error;
        try
        {
            first = transport.PublishAsync([codec.Placed(1)]).AsTask();
            error = await Assert.ThrowsAsync<BusFullException>(async () => await transport.PublishAsync([codec.Placed(2)]));
        }
        finally
        {
            _server.Resume();
        }

        await first.WaitAsync(Patience);

        Assert.Contains("PublishFullMode is Reject", error.Message, StringComparison.Ordinal);
        await transport.PublishAsync([codec.Placed(3)]);
    }

    [Fact]
    public async Task RetryLaterAsync_WithDelay_TheServerHoldsTheMessageBackThatLong()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options());
        var subscription = await SubscribeAsync(transport, "g", "contract.orders.placed");
        await using var reader = new DeliveryReader(subscription);
        await transport.PublishAsync([codec.Placed(1)]);

        var first = await reader.NextAsync(Patience);
        var retried = TimeProvider.System.GetTimestamp();
        await first.RetryLaterAsync(TimeSpan.FromSeconds(2));
        var second = await reader.NextAsync(Patience);

        Assert.True(TimeProvider.System.GetElapsedTime(retried) >= TimeSpan.FromSeconds(1.9), "redelivered before the NAK delay");
        Assert.Equal(first.DeliveryId, second.DeliveryId);
        // nats-server 2.9 was seen once (of many runs) to report num_delivered 1 on the redelivery after a NAK with
        // delay; the count itself is pinned by the contract suite's RetryLater test.
        Assert.InRange(second.DeliveryCount, 1, 2);
        await second.AckAsync();
    }

    [Fact]
    public async Task PublishAsync_ServerGoneForGood_FailsAfterPublishTimeout_NeverHangs()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options() with { PublishTimeout = TimeSpan.FromSeconds(2), RequestTimeout = TimeSpan.FromMilliseconds(500) });
        await transport.PublishAsync([codec.Placed(1)]);
        await _server.KillAsync();

        var publishing = transport.PublishAsync([codec.Placed(2), codec.Placed(3)]).AsTask();

        await Assert.ThrowsAnyAsync<NatsException>(() => publishing.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task SubscribeAsync_OverlappingPatternsOnOneGroup_EachEventHandledOnceByTheGroup()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options());
        var subscription = await SubscribeAsync(transport, "g", "contract.orders.*", "contract.**", "contract.orders.placed");
        var seen = new ConcurrentDictionary<int, int>();
        using var stop = new CancellationTokenSource();
        var consumer = Consume(subscription, async delivery =>
        {
            output.WriteLine($"{delivery.Name} {delivery.DeliveryId} x{delivery.DeliveryCount}");
            seen.AddOrUpdate(codec.Number(delivery), 1, static (_, n) => n + 1);
            await delivery.AckAsync();
        }, stop.Token);

        await transport.PublishAsync([.. Enumerable.Range(1, 30).Select(codec.Placed)]);
        await transport.PublishAsync([codec.Encode(new EventEnvelope { EventId = Guid.NewGuid(), Name = "contract.orders.shipped", CreatedAt = TimeProvider.System.GetUtcNow() }, new OrderShipped(31))]);
        await Until(() => seen.Count == 31, $"every event handled (seen {string.Join(",", seen.Keys.Order())})");
        var consumers = ((NatsSubscription)subscription).Consumers;

        // Wait for the two non-owning consumers to have acknowledged (skipped) their copies, then for stragglers.
        await UntilAsync(async () =>
        {
            long pending = 0;
            foreach (var c in consumers)
            {
                await c.Handle.RefreshAsync();
                pending += (long)c.Handle.Info.NumPending + c.Handle.Info.NumAckPending;
            }

            return pending == 0;
        }, "every consumer of the group drained");
        await stop.CancelAsync();
        await consumer;

        Assert.All(seen, pair => Assert.Equal(1, pair.Value));
        if (!transport.Status.MultipleFilterSubjects)
        {
            // 2.9: one consumer per pattern, each with a single filter subject; filter_subjects is never sent.
            Assert.Equal(3, consumers.Count);
            Assert.All(consumers, c => Assert.Null(c.Handle.Info.Config.FilterSubjects));
            Assert.Equal([_ns + ".contract.orders.*", _ns + ".contract.>", _ns + ".contract.orders.placed"], consumers.Select(c => c.Handle.Info.Config.FilterSubject));
        }
    }

    [Fact]
    public async Task SubscribeAsync_ExistingConsumerWithOtherConfiguration_RefusedNamingTheDifference_NotOverwritten()
    {
        var first = await ConnectAsync(Options());
        await SubscribeAsync(first, "g", "contract.orders.placed");
        var second = await ConnectAsync(Options() with { Lease = TimeSpan.FromSeconds(7) });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await second.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.orders.placed"] }));

        Assert.Contains("ack_wait", error.Message, StringComparison.Ordinal);
        Assert.Contains("does not overwrite", error.Message, StringComparison.Ordinal);
        var raw = await RawAsync();
        await foreach (var consumer in raw.ListConsumersAsync(_ns.ToUpperInvariant()))
            Assert.Equal(TimeSpan.FromSeconds(2), consumer.Info.Config.AckWait);
    }

    [Fact]
    public async Task SubscribeAsync_SameGroupWithAnotherPatternList_Refused()
    {
        var first = await ConnectAsync(Options());
        await SubscribeAsync(first, "g", "contract.orders.placed", "contract.**");
        var second = await ConnectAsync(Options());

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await second.SubscribeAsync(new TransportSubscriptionOptions { Group = "g", Patterns = ["contract.orders.placed"] }));

        Assert.Contains("description", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectAsync_ExistingStreamWithOtherConfiguration_RefusedNamingTheDifference()
    {
        await ConnectAsync(Options());

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await ConnectAsync(Options() with { Retention = TimeSpan.FromDays(1) }));

        Assert.Contains("max_age", error.Message, StringComparison.Ordinal);
        var stream = await (await RawAsync()).GetStreamAsync(_ns.ToUpperInvariant());
        Assert.Equal(TimeSpan.FromDays(7), stream.Info.Config.MaxAge);
    }

    [Fact]
    public async Task Status_ReportsServerVersionPendingInFlightAndHealth()
    {
        var codec = Codec();
        var transport = await ConnectAsync(Options());
        await transport.PublishAsync([codec.Placed(1), codec.Placed(2), codec.Placed(3)]);

        // One delivery handed out and never settled (the bound is 1): the server keeps the other two back.
        var subscription = await transport.SubscribeAsync(new TransportSubscriptionOptions { Group = "slow", Patterns = ["contract.orders.placed"], MaxInFlight = 1 });
        _cleanup.Add(subscription);
        await Until(() => transport.Status is { Pending: 2, InFlight: 1 }, "two pending and one in flight");
        var health = await new NatsTransportHealthCheck(transport).CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Healthy, health.Status);
        Assert.True(transport.Status.ServerVersion >= NatsTransport.MinimumServerVersion);
        Assert.Equal(2L, health.Data["pending"]);
        Assert.Equal(1L, health.Data["in_flight"]);
    }

    private static async Task<IReadOnlyList<TransportDeadLetter>> WaitForDeadLettersAsync(IEventTransport transport, int atLeast)
    {
        IReadOnlyList<TransportDeadLetter> letters = [];
        await UntilAsync(async () => (letters = await transport.ReadDeadLettersAsync(100)).Count >= atLeast, $"{atLeast} dead letters");
        return letters;
    }
}
