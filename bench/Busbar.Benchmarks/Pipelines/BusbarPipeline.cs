using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Pipelines;

/// <summary>
/// Busbar's queued path: <c>PublishAsync</c> (awaited until admitted) into a bus of the given
/// capacity, FullMode Wait, one async-shaped handler, default options otherwise. With
/// <paramref name="flowExecutionContext"/> the bus runs handlers in the publisher's execution context
/// (<see cref="EventBusOptions.FlowExecutionContext"/>) and the publisher has an async local set, as a
/// request would. With <paramref name="workers"/> above 1 the bus runs that many workers (<see cref="EventBusOptions.MaxConcurrentEvents"/>),
/// which share the queue's lock.
/// </summary>
public sealed class BusbarPipeline(int capacity, bool flowExecutionContext = false, int workers = 1) : QueuedPipeline
{
    private static readonly AsyncLocal<string?> s_tenant = new();

    private IEventBus? _bus;

    public override string Name => flowExecutionContext ? "Busbar PublishAsync, FlowExecutionContext"
        : workers > 1 ? $"Busbar PublishAsync, {workers} workers" : "Busbar PublishAsync";

    public override Task StartAsync()
    {
        _bus = EventBus.Create(new EventBusOptions { Name = "bench-queued", Capacity = capacity, FullMode = BusFullMode.Wait, FlowExecutionContext = flowExecutionContext, MaxConcurrentEvents = workers });
        _bus.Subscribe<Ping>((_, _, _) =>
        {
            if (workers > 1)
                OnHandledConcurrent();
            else
                OnHandledSerial();
            return ValueTask.CompletedTask;
        });
        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            var before = _bus.GetStatistics();
            var report = await _bus.StopAsync(TimeSpan.FromSeconds(5));
            if (!report.Completed)
            {
                Console.Error.WriteLine($"Busbar did not drain within 5 s: {report}; before stop: in flight {before.InFlight}, " +
                    $"queue depth {before.QueueDepth}, published {before.Published}, processed {before.Processed}; handled here {Handled}");
            }

            await _bus.DisposeAsync();
        }
    }

    protected override async Task PublishAsync(int count, CancellationToken cancellationToken)
    {
        var bus = _bus!;
        if (flowExecutionContext)
            s_tenant.Value = "tenant";
        for (var i = 0; i < count; i++)
        {
            await bus.PublishAsync(new Ping(i), cancellationToken: cancellationToken);
        }
    }
}
