using System.Collections.Concurrent;
using Xunit.Abstractions;

namespace Busbar.Tests.Routing;

/// <summary>
/// Routes stay exact while the worker and inline sends alternate between event types: a run of events of mixed types, sent
/// inline and queued, with subscriptions added and removed between runs, reaches exactly the handlers whose type each event is
/// assignable to.
/// </summary>
public class RouterResolveTests(ITestOutputHelper output)
{
    private const int Runs = 400;

    [Theory]
    [InlineData(16_101)]
    [InlineData(16_102)]
    [InlineData(20_261_201)]
    public async Task Resolve_MixedTypesAndSubscriptionChanges_EveryEventReachesExactlyItsSubscribers(int seed)
    {
        output.WriteLine($"seed {seed}");
        var token = TestTimeout.Token(TimeSpan.FromSeconds(60));
        var random = new Random(seed);
        await using var bus = EventBus.Create(new EventBusOptions { Name = "resolve-mix", Capacity = 64 });
        var received = new ConcurrentQueue<(int Seq, int Handler)>();
        var live = new List<(int Id, Type Kind, IDisposable Subscription)>();
        var nextId = 0;
        var seq = 0;
        var checkedEvents = 0;

        for (var run = 0; run < Runs && !token.IsCancellationRequested; run++)
        {
            // Subscriptions change only between runs, with nothing running, so each event's expected handlers are known.
            var changes = random.Next(3);
            for (var c = 0; c < changes; c++)
            {
                if (live.Count > 0 && (live.Count >= 6 || random.Next(2) == 0))
                {
                    var index = random.Next(live.Count);
                    live[index].Subscription.Dispose();
                    live.RemoveAt(index);
                }
                else
                {
                    var id = nextId++;
                    var kind = Kinds[random.Next(Kinds.Length)];
                    live.Add((id, kind, Subscribe(bus, kind, id, received)));
                }
            }

            var expected = new Dictionary<int, int[]>();
            var handles = new List<EventHandle>();
            var length = 1 + random.Next(8);
            for (var i = 0; i < length; i++)
            {
                var e = Create(random.Next(3), ++seq);
                expected[seq] = [.. live.Where(s => s.Kind.IsAssignableFrom(e.GetType())).Select(s => s.Id).Order()];
                if (random.Next(3) == 0)
                    await bus.SendAsync(e, cancellationToken: token);
                else
                    handles.Add(await bus.PublishAsync(e, cancellationToken: token));
            }

            foreach (var handle in handles)
                Assert.Equal(EventStatus.Completed, (await handle.WaitAsync(token)).Status);

            var got = new Dictionary<int, List<int>>();
            while (received.TryDequeue(out var r))
                (got.TryGetValue(r.Seq, out var list) ? list : got[r.Seq] = []).Add(r.Handler);
            foreach (var (s, ids) in expected)
            {
                var actual = got.TryGetValue(s, out var list) ? [.. list.Order()] : Array.Empty<int>();
                Assert.True(ids.SequenceEqual(actual), $"seed {seed}, run {run}, event {s}: expected handlers [{string.Join(",", ids)}], got [{string.Join(",", actual)}]");
                checkedEvents++;
            }

            Assert.True(got.Keys.All(expected.ContainsKey), $"seed {seed}, run {run}: a handler received an event of another run");
        }

        output.WriteLine($"{checkedEvents} events checked");
        Assert.True(checkedEvents >= Runs, $"seed {seed}: only {checkedEvents} events checked");
    }

    private static readonly Type[] Kinds = [typeof(MixBase), typeof(MixDerived), typeof(MixOther), typeof(object)];

    private static object Create(int kind, int seq) => kind switch
    {
        0 => new MixBase(seq),
        1 => new MixDerived(seq),
        _ => new MixOther(seq),
    };

    private static int SeqOf(object e) => e switch
    {
        MixBase b => b.Seq,
        MixOther o => o.Seq,
        _ => throw new InvalidOperationException($"unexpected event {e}"),
    };

    private static IDisposable Subscribe(IEventBus bus, Type kind, int id, ConcurrentQueue<(int, int)> received)
    {
        if (kind == typeof(MixBase))
            return bus.Subscribe<MixBase>(e => received.Enqueue((e.Seq, id)));
        if (kind == typeof(MixDerived))
            return bus.Subscribe<MixDerived>(e => received.Enqueue((e.Seq, id)));
        if (kind == typeof(MixOther))
            return bus.Subscribe<MixOther>(e => received.Enqueue((e.Seq, id)));
        return bus.Subscribe<object>(e => received.Enqueue((SeqOf(e), id)));
    }

    public record MixBase(int Seq);

    public record MixDerived(int Seq) : MixBase(Seq);

    public record MixOther(int Seq);
}
