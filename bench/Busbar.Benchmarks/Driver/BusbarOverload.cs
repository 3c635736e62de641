using System.Diagnostics;
using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Driver;

/// <summary>
/// Busbar under overload: one producer pushes every event through <c>PublishAsync</c> into a bus
/// whose handler is slower than the producer; in <see cref="BusFullMode.Reject"/> the producer
/// catches <see cref="BusFullException"/> and goes on.
/// </summary>
public static class BusbarOverload
{
    public static async Task<OverloadResult> RunAsync(DriverSettings settings, BusFullMode mode)
    {
        long handled = 0;
        long caught = 0;
        await using var sampler = WorkingSetSampler.Start();
        var bus = EventBus.Create(new EventBusOptions { Name = $"bench-overload-{mode}", Capacity = settings.Capacity, FullMode = mode });
        var work = settings.SlowHandlerWork;
        bus.Subscribe<Ping>((_, _, _) =>
        {
            SlowWork.Spin(work);
            Interlocked.Increment(ref handled);
            return ValueTask.CompletedTask;
        });

        using var limit = new CancellationTokenSource(settings.ScenarioLimit);
        var started = Stopwatch.GetTimestamp();
        long published = 0;
        var cutShort = false;
        for (var i = 0; i < settings.OverloadEvents; i++)
        {
            if (limit.IsCancellationRequested)
            {
                cutShort = true;
                break;
            }

            try
            {
                published++;
                await bus.PublishAsync(new Ping(i), cancellationToken: limit.Token);
            }
            catch (BusFullException)
            {
                caught++;
            }
            catch (OperationCanceledException)
            {
                // A Wait-mode publish cancelled before admission was never published.
                published--;
                cutShort = true;
                break;
            }
        }

        await bus.StopAsync(settings.ScenarioLimit);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var statistics = bus.GetStatistics();
        await bus.DisposeAsync();
        if (caught != statistics.Rejected)
        {
            Console.Error.WriteLine($"  {mode}: producer caught {caught} BusFullException, statistics say {statistics.Rejected} rejected");
        }

        return new OverloadResult("Busbar", mode.ToString(), published, Interlocked.Read(ref handled),
            statistics.Dropped, caught, sampler.Baseline, sampler.Growth, elapsed, cutShort);
    }
}
