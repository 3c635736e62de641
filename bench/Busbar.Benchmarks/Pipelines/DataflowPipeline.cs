using System.Threading.Tasks.Dataflow;
using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Pipelines;

/// <summary>TPL Dataflow <c>ActionBlock</c> with <c>BoundedCapacity</c>, fed by <c>SendAsync</c>.</summary>
public sealed class DataflowPipeline : QueuedPipeline
{
    private readonly ActionBlock<Ping> _block;

    public DataflowPipeline(int capacity)
    {
        _block = new ActionBlock<Ping>(_ => OnHandledSerial(), new ExecutionDataflowBlockOptions
        {
            BoundedCapacity = capacity,
            MaxDegreeOfParallelism = 1,
            SingleProducerConstrained = true,
        });
    }

    public override string Name => "Dataflow ActionBlock";

    public override Task StartAsync() => Task.CompletedTask;

    public override async ValueTask DisposeAsync()
    {
        _block.Complete();
        await _block.Completion;
    }

    protected override async Task PublishAsync(int count, CancellationToken cancellationToken)
    {
        for (var i = 0; i < count; i++)
        {
            await _block.SendAsync(new Ping(i), cancellationToken);
        }
    }
}
