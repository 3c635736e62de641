using System.Collections.Concurrent;
using Busbar.Transport;
using Busbar.Transport.Contract;
using Placed = Busbar.Transport.Contract.OrderPlaced;

namespace Busbar.Tests.Transport;

/// <summary>
/// The publish window under every <see cref="BusFullMode"/> while the broker answers slowly, in random bursts, and refuses
/// some publishes (fixed, printed seeds): <c>PublishAsync</c>, <c>TryPublish</c> and <c>PublishBatchAsync</c> interleave with
/// the answers. Every published event must end exactly one of accepted (stored by the broker), failed (refused by it), or
/// shed (dropped or rejected, reported once through <see cref="EventBusOptions.OnEventShed"/>); nothing is lost silently, and
/// never more than <see cref="EventBusOptions.Capacity"/> events are on their way at once.
/// </summary>
public sealed class TransportWindowMixTests
{
    public static TheoryData<BusFullMode, int> Cases()
    {
        var cases = new TheoryData<BusFullMode, int>();
        foreach (var mode in new[] { BusFullMode.Wait, BusFullMode.Reject, BusFullMode.DropNewest, BusFullMode.DropOldest })
        {
            foreach (var seed in new[] { 5, 808, 31337 })
                cases.Add(mode, seed);
        }

        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task RandomPublishesSlowBrokerAnswers_EveryEventAcceptedFailedOrShedExactlyOnce(BusFullMode mode, int seed)
    {
        Console.WriteLine($"transport window mix seed {seed}, {mode}");
        var random = new Random(seed);
        var registry = new EventTypeRegistry().Add(ContractJsonContext.Default.OrderPlaced);
        var codec = new EnvelopeCodec(registry);
        await using var broker = new InMemoryBroker(new InMemoryTransportOptions(), TimeProvider.System);
        var slow = new SlowAckTransport(broker.CreateTransport(ownsBroker: false));
        var capacity = random.Next(1, 9);
        var shed = new ConcurrentDictionary<int, (EventStatus Status, int Times)>();
        await using var bus = new EventBusBuilder()
            .WithOptions(new EventBusOptions
            {
                Name = "window",
                Capacity = capacity,
                FullMode = mode,
                OnEventShed = a => shed.AddOrUpdate(((Placed)a.Context.Event).Number, (a.Status, 1), static (_, s) => (s.Status, s.Times + 1)),
            })
            .UseTransport(slow, registry)
            .Build();

        const int operations = 300;
        var handles = new ConcurrentDictionary<int, EventHandle>();
        var thrown = 0;
        var next = 0;
        var publisherRandom = new Random(random.Next());
        var publisher = Task.Run(async () =>
        {
            for (var op = 0; op < operations; op++)
            {
                var kind = publisherRandom.Next(100);
                if (kind < 60)
                {
                    var number = next++;
                    try
                    {
                        handles[number] = await bus.PublishAsync(new Placed(number, "c"));
                    }
                    catch (BusFullException)
                    {
                        thrown++;
                    }
                }
                else if (kind < 80)
                {
                    var number = next++;
                    bus.TryPublish(new Placed(number, "c"), out var handle);
                    handles[number] = handle;
                }
                else
                {
                    var first = next;
                    var batch = Enumerable.Range(first, publisherRandom.Next(2, 5)).Select(n => new Placed(n, "c")).ToList();
                    next += batch.Count;
                    var batchHandles = await bus.PublishBatchAsync(batch);
                    for (var i = 0; i < batchHandles.Count; i++)
                        handles[first + i] = batchHandles[i];
                }
            }
        });

        // The broker answers in random bursts, slower than the publisher, and refuses about one publish in twenty.
        using (var limit = new CancellationTokenSource(TestTimeout.Default))
        {
            while (!publisher.IsCompleted)
            {
                Assert.False(limit.IsCancellationRequested, "the publisher did not finish");
                slow.Answer(random.Next(0, 3), () => random.Next(20) == 0);
                await Task.Yield();
            }
        }

        await publisher;
        slow.Open();
        var total = next;
        var outcomes = new Dictionary<int, EventStatus>();
        foreach (var (number, handle) in handles)
            outcomes[number] = (await handle.AsTask().Within()).Status;

        var accepted = outcomes.Where(o => o.Value == EventStatus.Completed).Select(o => o.Key).ToHashSet();
        var failed = outcomes.Where(o => o.Value == EventStatus.Failed).Select(o => o.Key).ToHashSet();
        var shedHandles = outcomes.Where(o => o.Value is EventStatus.Dropped or EventStatus.Rejected).ToDictionary();
        Console.WriteLine($"capacity {capacity}: {total} events, {accepted.Count} accepted, {failed.Count} refused by the broker, {shed.Count} shed ({thrown} thrown), at most {slow.MaxInFlight} on their way");

        Assert.All(outcomes, o => Assert.Contains(o.Value, new[] { EventStatus.Completed, EventStatus.Failed, EventStatus.Dropped, EventStatus.Rejected }));
        Assert.Equal(total, accepted.Count + failed.Count + shed.Count);
        Assert.All(shed, s => Assert.Equal(1, s.Value.Times));
        Assert.All(shedHandles, h => Assert.Equal(h.Value, shed[h.Key].Status));
        Assert.Equal(thrown, shed.Keys.Count(n => !handles.ContainsKey(n)));
        Assert.Equal(accepted.Order(), slow.Stored.Select(m => Number(codec, m)).Order());
        Assert.Equal(failed.Order(), slow.Refused.Select(m => Number(codec, m)).Order());
        Assert.InRange(slow.MaxInFlight, 0, capacity);
        var statistics = bus.GetStatistics();
        Assert.Equal(shed.Values.Count(s => s.Status == EventStatus.Dropped), statistics.Dropped);
        Assert.Equal(shed.Values.Count(s => s.Status == EventStatus.Rejected), statistics.Rejected);
        switch (mode)
        {
            case BusFullMode.Wait:
                // Only TryPublish refuses under Wait.
                Assert.Equal(0, thrown);
                Assert.All(shed.Values, s => Assert.Equal(EventStatus.Rejected, s.Status));
                break;
            case BusFullMode.Reject:
                Assert.All(shed.Values, s => Assert.Equal(EventStatus.Rejected, s.Status));
                break;
            default:
                Assert.Equal(0, thrown);
                Assert.All(shed.Values, s => Assert.Equal(EventStatus.Dropped, s.Status));
                break;
        }
    }

    private static int Number(EnvelopeCodec codec, TransportMessage message) =>
        ((Placed)codec.Decode(message.Name, message.Envelope).Event!.Payload).Number;
}
