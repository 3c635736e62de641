using System.Collections.Concurrent;
using Busbar.Transport;
using Busbar.Transport.Contract;

namespace Busbar.Tests.Transport;

/// <summary>
/// Where the bus and its transport meet: two buses of one group consume what a third publishes, with poison events,
/// events that fail once, slow handlers, and one consumer stopped at a random moment (fixed, printed seed). Every published
/// event must end acknowledged or dead-lettered; a poison event is never acknowledged; duplicates are counted and printed.
/// </summary>
public sealed class TransportBusMixTests
{
    [Theory]
    [InlineData(11)]
    [InlineData(2026)]
    [InlineData(4242)]
    public async Task RandomFailuresSlowHandlersAndAStop_EveryEventAckedOrDeadLetteredNoneLost(int seed)
    {
        Console.WriteLine($"transport bus mix seed {seed}");
        const int total = 200;
        var random = new Random(seed);
        var registry = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);
        var codec = new EnvelopeCodec(registry);
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions { Lease = TimeSpan.FromMilliseconds(500), MaxDeliveries = 3 }, TimeProvider.System);
        var kinds = new string[total];
        for (var i = 0; i < total; i++)
            kinds[i] = random.Next(100) switch { < 8 => "poison", < 25 => "flaky", < 55 => "slow", _ => "plain" };
        var handled = new ConcurrentDictionary<int, int>();
        var options = new TransportBusOptions
        {
            Group = "mix",
            MaxDeliveries = 3,
            RetryDelay = TimeSpan.FromMilliseconds(5),
            MaxRetryDelay = TimeSpan.FromMilliseconds(20),
            LeaseExtensionInterval = TimeSpan.FromMilliseconds(100),
        };

        var recorders = new List<RecordingTransport>();
        var consumers = new List<IEventBus>();
        foreach (var name in new[] { "a", "b" })
        {
            var recorder = new RecordingTransport(broker.CreateTransport(ownsBroker: false), codec);
            recorders.Add(recorder);
            var bus = new EventBusBuilder()
                .WithOptions(new EventBusOptions { Name = name, MaxConcurrentEvents = random.Next(1, 5) })
                .UseTransport(recorder, registry, options)
                .Build();
            var delayRandom = new Random(random.Next());
            bus.Subscribe<global::Busbar.Transport.Contract.OrderPlaced>(async (e, context, ct) =>
            {
                switch (kinds[e.Number])
                {
                    case "poison":
                        throw new InvalidOperationException("poison");
                    case "flaky" when context.Attempt == 1:
                        throw new InvalidOperationException("flaky");
                    case "slow":
                        int delay;
                        lock (delayRandom)
                            delay = delayRandom.Next(1, 30);
                        await Task.Delay(delay, ct);
                        break;
                }

                handled.AddOrUpdate(e.Number, 1, static (_, n) => n + 1);
            });
            consumers.Add(bus);
        }

        foreach (var bus in consumers)
            await ((Busbar.Dispatch.InProcessEventBus)bus).Link!.WaitUntilSubscribedAsync(TestTimeout.Token());
        await using var publisher = new EventBusBuilder().WithOptions(new EventBusOptions { Name = "publisher" }).UseTransport(broker.CreateTransport(ownsBroker: false), registry).Build();
        var stopAt = random.Next(0, total);
        var drain = TimeSpan.FromMilliseconds(random.Next(0, 50));
        Console.WriteLine($"stop bus a after {stopAt} publishes, draining {drain.TotalMilliseconds} ms");
        var ids = new Dictionary<Guid, int>();
        Task<StopReport>? stopping = null;
        for (var i = 0; i < total; i++)
        {
            if (i == stopAt)
                stopping = consumers[0].StopAsync(drain).AsTask();
            var handle = await publisher.PublishAsync(new global::Busbar.Transport.Contract.OrderPlaced(i, "c"));
            ids[handle.EventId] = i;
            Assert.Equal(EventStatus.Completed, (await handle.AsTask().Within()).Status);
        }

        var report = await stopping!.Within();
        HashSet<Guid> deadLettered = [];
        await TestTimeout.Until(() =>
        {
            deadLettered = [.. broker.ReadDeadLetters(10_000).Select(l => codec.Decode(l.Name, l.Envelope).Event!.Envelope.EventId)];
            return ids.Keys.All(id => deadLettered.Contains(id) || recorders.Any(r => r.Acked.ContainsKey(id)));
        }, TimeSpan.FromSeconds(60), "every event acknowledged or dead-lettered");

        var acked = recorders.SelectMany(r => r.Acked.Keys).ToHashSet();
        var duplicates = handled.Values.Sum() - handled.Count;
        Console.WriteLine($"acked {acked.Count}, dead-lettered {deadLettered.Count}, handled twice or more {duplicates}, bus a left in broker {report.PendingInBroker}");
        Assert.All(ids, pair => Assert.True(kinds[pair.Value] != "poison" || (deadLettered.Contains(pair.Key) && !acked.Contains(pair.Key)), $"poison event {pair.Value} must be dead-lettered, never acknowledged"));
        Assert.Empty(acked.Intersect(deadLettered));
        Assert.All(ids, pair => Assert.True(kinds[pair.Value] == "poison" || handled.ContainsKey(pair.Value) || deadLettered.Contains(pair.Key), $"event {pair.Value} neither handled nor dead-lettered"));
        foreach (var bus in consumers)
            await bus.DisposeAsync();
    }
}
