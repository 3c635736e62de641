using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Events;
using Busbar.Benchmarks.Infrastructure;

namespace Busbar.Benchmarks.Queued;

/// <summary>
/// Queued fan-out: one producer publishes 100,000 events per invocation into capacity 10,000 (Wait); each event goes
/// to 8 synchronous handlers of equal priority. Time and bytes are per event (<c>OperationsPerInvoke</c>), bytes on all
/// threads (the producer's publish and the worker's dispatch). The Serial tier is the baseline the Parallel tier is held to.
/// The driver's section (d) measures the same shape in events/s (<c>driver --fanout-only</c>).
/// </summary>
[MemoryDiagnoser]
public class FanOutBenchmarks
{
    public const int Events = 100_000;
    public const int Capacity = 10_000;
    public const int Handlers = 8;

    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(2);

    private IEventBus _bus = null!;
    private TaskCompletionSource _done = new();
    private long _invocations;
    private long _target = long.MaxValue;

    [GlobalSetup(Target = nameof(Serial))]
    public void SetupSerial() => Start(HandlerConcurrency.Serial);

    [GlobalSetup(Target = nameof(Parallel))]
    public void SetupParallel() => Start(HandlerConcurrency.Parallel);

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _bus.StopAsync(TimeSpan.FromSeconds(5));
        await _bus.DisposeAsync();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Events, Description = "8 sync handlers, Serial tier")]
    public Task Serial() => Run();

    [Benchmark(OperationsPerInvoke = Events, Description = "8 sync handlers, Parallel tier")]
    public Task Parallel() => Run();

    private void Start(HandlerConcurrency tier)
    {
        _bus = EventBus.Create(new EventBusOptions
        {
            Name = $"bench-fanout-{tier}",
            Capacity = Capacity,
            FullMode = BusFullMode.Wait,
            HandlerConcurrency = tier,
        });
        for (var h = 0; h < Handlers; h++)
        {
            _bus.Subscribe<Ping>((_, _, _) =>
            {
                // One worker runs the handlers of an event; a Parallel tier may still finish them on other threads.
                if (Interlocked.Increment(ref _invocations) == Volatile.Read(ref _target))
                    _done.TrySetResult();
                return ValueTask.CompletedTask;
            });
        }
    }

    private async Task Run()
    {
        var events = SuiteMode.Dry ? 2_000 : Events;
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _target, Volatile.Read(ref _invocations) + ((long)events * Handlers));
        using var limit = new CancellationTokenSource(RunLimit);
        for (var i = 0; i < events; i++)
        {
            await _bus.PublishAsync(new Ping(i), cancellationToken: limit.Token);
        }

        await _done.Task.WaitAsync(limit.Token);
    }
}
