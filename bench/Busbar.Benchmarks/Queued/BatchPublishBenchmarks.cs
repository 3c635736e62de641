using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Events;
using Busbar.Benchmarks.Infrastructure;

namespace Busbar.Benchmarks.Queued;

/// <summary>
/// Issue 3: <c>PublishBatchAsync</c> admits many events with less overhead per event than single
/// publishes. 10,000 events per invocation into a bus with one no-op handler and room for all of
/// them; time and bytes are per event.
/// </summary>
[MemoryDiagnoser]
public class BatchPublishBenchmarks
{
    private const int Events = 10_000;

    private IEventBus _bus = null!;
    private Ping[] _events = null!;

    [GlobalSetup]
    public void Setup()
    {
        _bus = EventBus.Create(new EventBusOptions { Capacity = 1_000_000, HistoryCapacity = 0 });
        _bus.Subscribe<Ping>((_, _, _) => ValueTask.CompletedTask);
        _events = Enumerable.Range(0, SuiteMode.Dry ? 100 : Events).Select(i => new Ping(i)).ToArray();
    }

    [GlobalCleanup]
    public ValueTask Cleanup() => _bus.DisposeAsync();

    [Benchmark(Baseline = true, OperationsPerInvoke = Events, Description = "PublishAsync one by one")]
    public async Task Single()
    {
        EventHandle last = default;
        foreach (var e in _events)
            last = await _bus.PublishAsync(e);
        await last;
    }

    [Benchmark(OperationsPerInvoke = Events, Description = "PublishBatchAsync")]
    public async Task Batch()
    {
        var handles = await _bus.PublishBatchAsync(_events);
        await handles[^1];
    }
}
