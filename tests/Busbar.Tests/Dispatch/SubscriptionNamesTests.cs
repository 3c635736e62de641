using Busbar.Dispatch;
using Xunit.Abstractions;

namespace Busbar.Tests.Dispatch;

/// <summary>Default subscription names (<see cref="SubscriptionNames"/>): always the lowest free <c>#n</c>, found without a linear search.</summary>
public sealed class SubscriptionNamesTests(ITestOutputHelper output)
{
    private static void OnPing(Ping ping)
    {
    }

    [Theory]
    [InlineData(7)]
    [InlineData(131)]
    [InlineData(2026)]
    public async Task Subscribe_InterleavedWithDisposeExplicitNamesAndOnce_DefaultNameIsTheLowestFreeSuffix(int seed)
    {
        output.WriteLine($"seed {seed}");
        var random = new Random(seed);
        await using var bus = EventBus.Create();
        var probe = bus.Subscribe<Ping>(OnPing);
        var baseName = probe.Name;
        probe.Dispose();
        List<(ISubscription Subscription, bool Once)> active = [];
        var model = new HashSet<string>(StringComparer.Ordinal);
        string NameOf(int suffix) => suffix == 1 ? baseName : $"{baseName}#{suffix}";
        string LowestFree()
        {
            var suffix = 1;
            while (model.Contains(NameOf(suffix)))
                suffix++;
            return NameOf(suffix);
        }

        for (var step = 0; step < 3_000; step++)
        {
            var roll = random.Next(100);
            if (roll < 45 || active.Count == 0)
            {
                var once = random.Next(10) == 0;
                var expected = LowestFree();
                var subscription = bus.Subscribe<Ping>(OnPing, new SubscriptionOptions { Once = once });
                Assert.True(expected == subscription.Name, $"seed {seed}, step {step}: got '{subscription.Name}', the lowest free is '{expected}'");
                model.Add(subscription.Name);
                active.Add((subscription, once));
            }
            else if (roll < 85)
            {
                var index = random.Next(active.Count);
                active[index].Subscription.Dispose();
                model.Remove(active[index].Subscription.Name);
                active.RemoveAt(index);
            }
            else if (roll < 95)
            {
                // An explicit name that is one of the default name's suffixes: the default search skips it while it is held.
                var name = NameOf(random.Next(1, active.Count + 8));
                if (model.Contains(name))
                    continue;
                var subscription = bus.Subscribe<Ping>(OnPing, new SubscriptionOptions { Name = name });
                model.Add(name);
                active.Add((subscription, false));
            }
            else
            {
                // Every Once subscription is consumed by one invocation and gives its name back.
                await bus.InvokeAsync(new Ping(step), cancellationToken: TestTimeout.Token());
                foreach (var (subscription, once) in active)
                {
                    if (once)
                        model.Remove(subscription.Name);
                }

                active.RemoveAll(static a => a.Once);
            }
        }

        foreach (var (subscription, _) in active)
            subscription.Dispose();
        var first = bus.Subscribe<Ping>(OnPing);
        Assert.Equal(baseName, first.Name);
    }

    [Fact]
    public async Task Subscribe_ManySharingOneDefaultName_LooksAtEachNameOnce()
    {
        await using var bus = EventBus.Create();
        var names = ((InProcessEventBus)bus).Names;
        const int Count = 5_000;
        List<ISubscription> subscriptions = [];
        for (var i = 0; i < Count; i++)
            subscriptions.Add(bus.Subscribe<Ping>(OnPing));

        // A linear search from #1 looks at Count²/2 names; the suffix search looks at each once.
        Assert.Equal(Count, names.Probes);

        for (var i = 0; i < Count; i += 2)
            subscriptions[i].Dispose();
        for (var i = 0; i < Count; i += 2)
            Assert.Equal(subscriptions[i].Name, bus.Subscribe<Ping>(OnPing).Name);
        Assert.Equal(Count + (Count / 2), names.Probes);
    }
}
