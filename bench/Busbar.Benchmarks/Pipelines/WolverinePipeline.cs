using Busbar.Benchmarks.Events;
using Busbar.Benchmarks.Peers;
using Microsoft.Extensions.Hosting;
using Wolverine;

namespace Busbar.Benchmarks.Pipelines;

/// <summary>Wolverine 6 local queue, sequential listener: <c>IMessageBus.PublishAsync</c> (unbounded).</summary>
public sealed class WolverinePipeline : QueuedPipeline
{
    private IHost? _host;
    private IMessageBus? _bus;

    public override string Name => "Wolverine 6 local queue";

    public override async Task StartAsync() =>
        (_host, _bus) = await WolverinePeer.StartAsync(OnHandledConcurrent);

    public override async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
            _host.Dispose();
        }
    }

    protected override async Task PublishAsync(int count, CancellationToken cancellationToken)
    {
        var bus = _bus!;
        for (var i = 0; i < count; i++)
        {
            await bus.PublishAsync(new Ping(i));
        }
    }
}
