using Busbar.Benchmarks.Events;
using Busbar.Benchmarks.Peers;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace Busbar.Benchmarks.Pipelines;

/// <summary>MassTransit 8.5 in-memory bus: <c>IBus.Publish</c> to one consumer endpoint (unbounded).</summary>
public sealed class MassTransitPipeline : QueuedPipeline
{
    private ServiceProvider? _provider;
    private IBusControl? _bus;

    public override string Name => "MassTransit 8.5 in-memory bus";

    public override async Task StartAsync() =>
        (_provider, _bus) = await MassTransitPeer.StartInMemoryBusAsync(OnHandledConcurrent);

    public override async ValueTask DisposeAsync()
    {
        if (_bus is not null)
        {
            await _bus.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        }

        if (_provider is not null)
        {
            await _provider.DisposeAsync();
        }
    }

    protected override async Task PublishAsync(int count, CancellationToken cancellationToken)
    {
        var bus = _bus!;
        for (var i = 0; i < count; i++)
        {
            await bus.Publish(new Ping(i), cancellationToken);
        }
    }
}
