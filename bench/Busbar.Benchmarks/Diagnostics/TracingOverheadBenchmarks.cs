using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Diagnostics;

/// <summary>
/// Issue 5: tracing costs nothing when no listener is attached. Inline publish to one handler with
/// no <c>ActivityListener</c> (baseline) and with a listener recording every Busbar span; the
/// listener is attached only for its own row.
/// </summary>
[MemoryDiagnoser]
public class TracingOverheadBenchmarks
{
    private readonly Ping _ping = new(1);
    private IEventBus _bus = null!;
    private ActivityListener? _listener;
    private long _sink;

    [GlobalSetup(Target = nameof(NoListener))]
    public void SetupQuiet() => _bus = CreateBus();

    [GlobalSetup(Target = nameof(WithListener))]
    public void SetupListening()
    {
        _bus = CreateBus();
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Busbar",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _listener?.Dispose();
        _listener = null;
        await _bus.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "SendAsync, no listener")]
    public ValueTask NoListener() => _bus.SendAsync(_ping);

    [Benchmark(Description = "SendAsync, ActivityListener attached")]
    public ValueTask WithListener() => _bus.SendAsync(_ping);

    private IEventBus CreateBus()
    {
        var bus = EventBus.Create();
        bus.Subscribe<Ping>((p, _, _) =>
        {
            _sink += p.Value;
            return ValueTask.CompletedTask;
        });
        return bus;
    }
}
