using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Infrastructure;
using Busbar.Benchmarks.Pipelines;

namespace Busbar.Benchmarks.Queued;

/// <summary>
/// One producer → one consumer, 1,000,000 events per invocation into a queue of capacity 10,000.
/// Time and bytes are per event (<c>OperationsPerInvoke</c>); the raw bounded channel is the floor.
/// Each row starts only its own pipeline. MassTransit's and Wolverine's queues are too slow for a
/// million events per invocation: the driver measures them (<c>driver.md</c>).
/// </summary>
[MemoryDiagnoser]
public class QueuedPublishBenchmarks
{
    public const int Events = 1_000_000;
    public const int Capacity = 10_000;

    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(2);

    private QueuedPipeline _pipeline = null!;

    [GlobalSetup(Target = nameof(Channel))]
    public Task SetupChannel() => Start(new ChannelPipeline(Capacity));

    [GlobalSetup(Target = nameof(Dataflow))]
    public Task SetupDataflow() => Start(new DataflowPipeline(Capacity));

    [GlobalSetup(Target = nameof(Busbar))]
    public Task SetupBusbar() => Start(new BusbarPipeline(Capacity));

    [GlobalSetup(Target = nameof(BusbarFlowingContext))]
    public Task SetupBusbarFlowingContext() => Start(new BusbarPipeline(Capacity, flowExecutionContext: true));

    [GlobalCleanup]
    public ValueTask Cleanup() => _pipeline.DisposeAsync();

    [Benchmark(Baseline = true, OperationsPerInvoke = Events, Description = "Channel.CreateBounded (raw)")]
    public Task Channel() => Run();

    [Benchmark(OperationsPerInvoke = Events, Description = "Dataflow ActionBlock")]
    public Task Dataflow() => Run();

    [Benchmark(OperationsPerInvoke = Events, Description = "Busbar PublishAsync")]
    public Task Busbar() => Run();

    /// <summary>The cost of <see cref="EventBusOptions.FlowExecutionContext"/>: compare with the row above.</summary>
    [Benchmark(OperationsPerInvoke = Events, Description = "Busbar PublishAsync, FlowExecutionContext")]
    public Task BusbarFlowingContext() => Run();

    private Task Start(QueuedPipeline pipeline)
    {
        _pipeline = pipeline;
        return pipeline.StartAsync();
    }

    private async Task Run()
    {
        using var limit = new CancellationTokenSource(RunLimit);
        await _pipeline.RunAsync(SuiteMode.Dry ? 10_000 : Events, limit.Token);
    }
}
