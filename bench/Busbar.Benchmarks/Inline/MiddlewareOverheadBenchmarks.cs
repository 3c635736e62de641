using BenchmarkDotNet.Attributes;
using Busbar.Benchmarks.Events;

namespace Busbar.Benchmarks.Inline;

/// <summary>
/// Issue 13: middleware costs nothing when none is registered. Inline publish to one handler on a bus without
/// middleware (baseline: the synchronous fast path), with one pass-through middleware, and with one typed
/// middleware for another event type (the general path still runs, the middleware is passed over).
/// </summary>
[MemoryDiagnoser]
public class MiddlewareOverheadBenchmarks
{
    private readonly Ping _ping = new(1);
    private IEventBus _bus = null!;
    private long _sink;

    [GlobalSetup(Target = nameof(NoMiddleware))]
    public void SetupNone() => _bus = CreateBus(new EventBusBuilder());

    [GlobalSetup(Target = nameof(PassThrough))]
    public void SetupPassThrough() => _bus = CreateBus(new EventBusBuilder().Use(static (invocation, next) => next(invocation)));

    [GlobalSetup(Target = nameof(TypedForOtherEvents))]
    public void SetupTyped() => _bus = CreateBus(new EventBusBuilder().Use<string>(static (_, invocation, next) => next(invocation)));

    [GlobalCleanup]
    public async Task Cleanup() => await _bus.DisposeAsync();

    [Benchmark(Baseline = true, Description = "SendAsync, no middleware")]
    public ValueTask NoMiddleware() => _bus.SendAsync(_ping);

    [Benchmark(Description = "SendAsync, 1 pass-through middleware")]
    public ValueTask PassThrough() => _bus.SendAsync(_ping);

    [Benchmark(Description = "SendAsync, 1 typed middleware for other events")]
    public ValueTask TypedForOtherEvents() => _bus.SendAsync(_ping);

    private IEventBus CreateBus(EventBusBuilder builder)
    {
        var bus = builder.Build();
        bus.Subscribe<Ping>((p, _, _) =>
        {
            _sink += p.Value;
            return ValueTask.CompletedTask;
        });
        return bus;
    }
}
