using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Driver;

/// <summary>Busbar's round trip: <c>await (await bus.PublishAsync(e))</c>, one handler.</summary>
public sealed class BusbarRoundTrip : IRoundTrip
{
    private readonly IEventBus _bus;

    public BusbarRoundTrip(int capacity)
    {
        _bus = EventBus.Create(new EventBusOptions { Name = "bench-latency", Capacity = capacity, FullMode = BusFullMode.Wait });
        _bus.Subscribe<Ping>(static (_, _, _) => ValueTask.CompletedTask);
    }

    public string Name => "Busbar PublishAsync → await handle";

    public async ValueTask RoundTripAsync(int value, CancellationToken cancellationToken)
    {
        var handle = await _bus.PublishAsync(new Ping(value), cancellationToken: cancellationToken);
        await handle;
    }

    public async ValueTask DisposeAsync()
    {
        await _bus.StopAsync(TimeSpan.FromSeconds(30));
        await _bus.DisposeAsync();
    }
}
