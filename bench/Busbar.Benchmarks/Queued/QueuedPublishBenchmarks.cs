using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Pipelines;

namespace Busbar.Benchmarks.Queued;

/// <summary>
/// One producer → one consumer, 1,000,000 events per invocation into a queue of capacity 10,000.
/// Time and bytes are per event (<c>OperationsPerInvoke</c>); the raw bounded channel is the floor.
/// MassTransit's and Wolverine's queues are too slow for a million events per invocation: the
/// driver measures them (<c>driver.md</c>).
/// </summary>
[MemoryDiagnoser]
public class QueuedPublishBenchmarks
{
    public const int Events = 1_000_000;
    public const int Capacity = 10_000;

    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(2);

    private ChannelPipeline _channel = null!;
    private DataflowPipeline _dataflow = null!;
    private BusbarPipeline _busbar = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        _channel = new ChannelPipeline(Capacity);
        _dataflow = new DataflowPipeline(Capacity);
        await _channel.StartAsync();
        _busbar = new BusbarPipeline(Capacity);
        await _dataflow.StartAsync();
        await _busbar.StartAsync();
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _channel.DisposeAsync();
        await _dataflow.DisposeAsync();
        await _busbar.DisposeAsync();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Events, Description = "Channel.CreateBounded (raw)")]
    public Task Channel() => Run(_channel);

    [Benchmark(OperationsPerInvoke = Events, Description = "Dataflow ActionBlock")]
    public Task Dataflow() => Run(_dataflow);

    [Benchmark(OperationsPerInvoke = Events, Description = "Busbar PublishAsync")]
    public Task Busbar() => Run(_busbar);

    private static async Task Run(QueuedPipeline pipeline)
    {
        using var limit = new CancellationTokenSource(RunLimit);
        await pipeline.RunAsync(Events, limit.Token);
    }
}
