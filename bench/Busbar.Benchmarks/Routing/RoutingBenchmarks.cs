using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Events;
using Busbar.Benchmarks.Infrastructure;

namespace Busbar.Benchmarks.Routing;

/// <summary>
/// Routing cost: the same inline publish (one matching typed handler) on a bus with 9 and with
/// 10,000 non-matching pattern subscriptions (<c>other{i}.*</c>). Goal of issue 6: the large bus
/// within 1.2× of the 10-subscription one. Each row builds only its own bus: subscribing 10,000
/// patterns is slow (see <c>driver.md</c>, table e), and BenchmarkDotNet runs every row in its own process.
/// </summary>
[MemoryDiagnoser]
public class RoutingBenchmarks
{
    private readonly Ping _ping = new(1);
    private IEventBus _few = null!;
    private IEventBus _many = null!;

    public const int ManyPatterns = 10_000;

    [GlobalSetup(Target = nameof(Few))]
    public void SetupFew() => _few = Create(nonMatching: 9);

    [GlobalSetup(Target = nameof(Many))]
    public void SetupMany() => _many = Create(nonMatching: SuiteMode.Dry ? 500 : ManyPatterns);

    [GlobalCleanup(Target = nameof(Few))]
    public ValueTask CleanupFew() => _few.DisposeAsync();

    [GlobalCleanup(Target = nameof(Many))]
    public ValueTask CleanupMany() => _many.DisposeAsync();

    [Benchmark(Baseline = true, Description = "10 subscriptions (1 matching + 9 patterns)")]
    public void Few() => Sync.Complete(_few.SendAsync(_ping));

    [Benchmark(Description = "10,001 subscriptions (1 matching + 10,000 patterns)")]
    public void Many() => Sync.Complete(_many.SendAsync(_ping));

    private static IEventBus Create(int nonMatching)
    {
        var bus = EventBus.Create(new EventBusOptions { Name = $"bench-routing-{nonMatching}" });
        bus.Subscribe<Ping>(static (_, _, _) =>
        {
            InlineSink.Count++;
            return ValueTask.CompletedTask;
        });
        for (var i = 0; i < nonMatching; i++)
        {
            bus.Subscribe($"other{i}.*", static (_, _, _) =>
            {
                InlineSink.Count++;
                return ValueTask.CompletedTask;
            });
        }

        return bus;
    }
}
