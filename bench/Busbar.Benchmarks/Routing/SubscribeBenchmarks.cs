using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Events;
using Busbar.Benchmarks.Infrastructure;

namespace Busbar.Benchmarks.Routing;

/// <summary>
/// Subscribe cost (issue 16): subscribing and disposing one pattern on a bus that holds 10 and 10,000
/// other patterns, and the same with one inline publish in between (the publish rebuilds its route).
/// Goal: at most 2 µs with 10,000 patterns present, flat in the number of subscriptions. Baseline: the
/// 10-pattern bus. A subscription's latency reservoir (8 KB) is most of what each row allocates.
/// </summary>
[MemoryDiagnoser]
public class SubscribeBenchmarks
{
    private static readonly Func<object, EventContext, CancellationToken, ValueTask> s_handler = static (_, _, _) => ValueTask.CompletedTask;
    private static readonly SubscriptionOptions s_options = new() { Name = "added" };

    private readonly Ping _ping = new(1);
    private IEventBus _bus = null!;

    [GlobalSetup(Targets = [nameof(Few)])]
    public void SetupFew() => _bus = Create(10);

    [GlobalSetup(Targets = [nameof(Many), nameof(ManyWithPublish)])]
    public void SetupMany() => _bus = Create(SuiteMode.Dry ? 500 : RoutingBenchmarks.ManyPatterns);

    [GlobalCleanup]
    public ValueTask Cleanup() => _bus.DisposeAsync();

    [Benchmark(Baseline = true, Description = "Subscribe + Dispose a pattern, 10 present")]
    public void Few() => _bus.Subscribe("added.*", s_handler, s_options).Dispose();

    [Benchmark(Description = "Subscribe + Dispose a pattern, 10,000 present")]
    public void Many() => _bus.Subscribe("added.*", s_handler, s_options).Dispose();

    [Benchmark(Description = "Subscribe + SendAsync + Dispose, 10,000 present")]
    public void ManyWithPublish()
    {
        var subscription = _bus.Subscribe("added.*", s_handler, s_options);
        Sync.Complete(_bus.SendAsync(_ping));
        subscription.Dispose();
    }

    private static IEventBus Create(int patterns)
    {
        var bus = EventBus.Create(new EventBusOptions { Name = $"bench-subscribe-{patterns}" });
        bus.Subscribe<Ping>(static (_, _, _) =>
        {
            InlineSink.Count++;
            return ValueTask.CompletedTask;
        });
        for (var i = 0; i < patterns; i++)
        {
            bus.Subscribe($"other{i}.*", s_handler);
        }

        return bus;
    }
}
